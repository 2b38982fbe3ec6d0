//! The bridge's flags (`--bridge` and its company), in a help section of their own; only
//! in a hub built with the `bridge` feature (the default).

use clap::Args;
use pipehub::bridge::{BridgeAuth, BridgeConfig};

/// How this hub joins others through a NATS server.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Bridge this hub to others through the NATS server at URL (nats://HOST:PORT, or
    /// several separated by commas): broadcasts that start here go to every bridged
    /// hub's listeners, and theirs come here. If NATS is down, the hub serves its local
    /// clients and reconnects [default: off]
    #[arg(long, value_name = "URL", env = "PIPEHUB_BRIDGE", value_parser = parse_nats_url,
          help_heading = "Bridge")]
    pub bridge: Option<String>,

    /// The NATS subject the bridged hubs share; hubs on other subjects are separate
    /// bridges.
    #[arg(long, value_name = "SUBJECT", default_value = pipehub::bridge::DEFAULT_SUBJECT,
          env = "PIPEHUB_BRIDGE_SUBJECT", value_parser = parse_subject, requires = "bridge",
          help_heading = "Bridge")]
    pub bridge_subject: String,

    /// This hub's name, shown with the broadcasts that start here to other hubs'
    /// listeners (at most 64 bytes) [default: the host name]
    #[arg(long, value_name = "NAME", env = "PIPEHUB_HUB_NAME", value_parser = parse_hub_name,
          requires = "bridge", help_heading = "Bridge")]
    pub hub_name: Option<String>,

    /// A token the NATS server expects. Prefer the environment variable: arguments are
    /// visible to other users in the process list.
    #[arg(long, value_name = "TOKEN", env = "PIPEHUB_BRIDGE_TOKEN", hide_env_values = true,
          requires = "bridge", conflicts_with_all = ["bridge_user", "bridge_creds"],
          help_heading = "Bridge")]
    pub bridge_token: Option<String>,

    /// A user name for NATS; the password comes from --bridge-password.
    #[arg(long, value_name = "USER", env = "PIPEHUB_BRIDGE_USER", requires_all = ["bridge", "bridge_password"],
          conflicts_with = "bridge_creds", help_heading = "Bridge")]
    pub bridge_user: Option<String>,

    /// The password of --bridge-user. Prefer the environment variable.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "PIPEHUB_BRIDGE_PASSWORD",
        hide_env_values = true,
        requires = "bridge_user",
        help_heading = "Bridge"
    )]
    pub bridge_password: Option<String>,

    /// A NATS credentials file (.creds, with a JWT and an NKey seed, as nsc writes it).
    #[arg(
        long,
        value_name = "FILE",
        env = "PIPEHUB_BRIDGE_CREDS",
        requires = "bridge",
        help_heading = "Bridge"
    )]
    pub bridge_creds: Option<std::path::PathBuf>,
}

impl BridgeArgs {
    /// The bridge these flags describe, if `--bridge` asks for one.
    pub fn config(&self) -> Option<BridgeConfig> {
        let auth = if let Some(token) = &self.bridge_token {
            BridgeAuth::Token(token.clone())
        } else if let (Some(user), Some(password)) = (&self.bridge_user, &self.bridge_password) {
            BridgeAuth::UserPassword {
                user: user.clone(),
                password: password.clone(),
            }
        } else if let Some(path) = &self.bridge_creds {
            BridgeAuth::CredsFile(path.clone())
        } else {
            BridgeAuth::None
        };
        Some(BridgeConfig {
            url: self.bridge.clone()?,
            subject: self.bridge_subject.clone(),
            hub_name: self
                .hub_name
                .clone()
                .unwrap_or_else(pipehub::platform::host_name),
            auth,
        })
    }
}

/// One or more NATS server URLs, separated by commas.
fn parse_nats_url(value: &str) -> Result<String, String> {
    for one in pipehub::bridge::servers(value) {
        let address = one.parse::<async_nats::ServerAddr>().map_err(|err| {
            format!("`{one}` is not a NATS server address ({err}); give nats://HOST:PORT")
        })?;
        if address.host().is_empty() {
            return Err(format!(
                "`{one}` names no host; give nats://HOST:PORT, such as nats://127.0.0.1:4222"
            ));
        }
    }
    Ok(value.to_owned())
}

/// A NATS subject to publish to: dot-separated tokens, no wildcards or spaces.
fn parse_subject(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| !c.is_whitespace() && c != '*' && c != '>')
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "`{value}` is not a NATS subject to publish to: give dot-separated words \
             without spaces or wildcards, such as pipehub.broadcast"
        ))
    }
}

fn parse_hub_name(value: &str) -> Result<String, String> {
    if value.len() > pipehub_protocol::MAX_NAME_LEN {
        Err(format!(
            "the hub name is {} bytes; at most {} fit",
            value.len(),
            pipehub_protocol::MAX_NAME_LEN
        ))
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_subjects_are_plain_dotted_words() {
        assert!(parse_subject("pipehub.broadcast").is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "has space", "."] {
            assert!(parse_subject(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bridge_urls_are_checked_when_given() {
        assert!(parse_nats_url("nats://127.0.0.1:4222").is_ok());
        assert!(parse_nats_url("nats://a:1,nats://b:2").is_ok());
        assert!(parse_nats_url("http://[::1").is_err());
        for empty in ["", "nats://", "nats://a:1,"] {
            assert!(parse_nats_url(empty).is_err(), "{empty:?} accepted");
        }
    }
}
