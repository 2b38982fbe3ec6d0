//! What `--bridge` and its flags configure: where the NATS server is, the subject, this
//! hub's name, and the credentials, which are never printed.

use std::{fmt, path::PathBuf};

/// The subject hubs publish to when `--bridge-subject` does not name one.
pub const DEFAULT_SUBJECT: &str = "pipehub.broadcast";

/// Where and how to reach the NATS server.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The NATS server: `nats://HOST:PORT`, or several separated by commas.
    pub url: String,
    /// The subject every hub of the bridge publishes to and subscribes to.
    pub subject: String,
    /// This hub's name, shown to other hubs' listeners (at most 64 bytes).
    pub hub_name: String,
    pub auth: BridgeAuth,
}

/// How the hub proves who it is to NATS. Secrets are never printed: `Debug` leaves them
/// out.
#[derive(Clone, Default)]
pub enum BridgeAuth {
    #[default]
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
    /// A `.creds` file (JWT and NKey seed), as `nsc` writes it.
    CredsFile(PathBuf),
}

impl fmt::Debug for BridgeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeAuth::None => f.write_str("None"),
            BridgeAuth::Token(_) => f.write_str("Token(<hidden>)"),
            BridgeAuth::UserPassword { user, .. } => {
                write!(f, "UserPassword {{ user: {user:?}, password: <hidden> }}")
            }
            BridgeAuth::CredsFile(path) => write!(f, "CredsFile({path:?})"),
        }
    }
}

impl BridgeConfig {
    /// The server address(es) as they may be shown: any `user:password@` left out.
    pub fn shown_url(&self) -> String {
        redact(&self.url)
    }

    /// The NATS servers to try, in the order given.
    pub fn servers(&self) -> Vec<&str> {
        servers(&self.url)
    }
}

/// The servers of a `--bridge` value: one URL, or several separated by commas.
pub fn servers(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).collect()
}

/// `url` (one or several, comma-separated) without the user information of any.
fn redact(url: &str) -> String {
    servers(url)
        .into_iter()
        .map(|one| {
            let rest = one.find("://").map_or(0, |i| i + 3);
            match one[rest..].find('@') {
                Some(at) => format!("{}{}", &one[..rest], &one[rest + at + 1..]),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_leave_credentials_out() {
        let config = |url: &str| BridgeConfig {
            url: url.into(),
            subject: DEFAULT_SUBJECT.into(),
            hub_name: "a".into(),
            auth: BridgeAuth::None,
        };
        assert_eq!(config("nats://h:4222").shown_url(), "nats://h:4222");
        assert_eq!(
            config("nats://bob:s3cret@h:4222, tls://tok@k:1").shown_url(),
            "nats://h:4222,tls://k:1"
        );
        assert!(!config("bob:s3cret@h").shown_url().contains("s3cret"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let token = format!("{:?}", BridgeAuth::Token("s3cret".into()));
        let password = format!(
            "{:?}",
            BridgeAuth::UserPassword {
                user: "bob".into(),
                password: "s3cret".into()
            }
        );
        assert!(!token.contains("s3cret") && !password.contains("s3cret"));
        assert!(password.contains("bob"));
    }
}
