//! Where a hub serves and where clients look for it: the endpoint forms, and the default
//! when nobody says otherwise.
//!
//! The order is the same for the hub and every client: an explicit `--endpoint`, then the
//! `PIPEHUB_ENDPOINT` environment variable, then the platform default:
//! - Linux/macOS: `$XDG_RUNTIME_DIR/pipehub.sock`; without `XDG_RUNTIME_DIR`,
//!   `<temp dir>/pipehub-<uid>/pipehub.sock` (the hub creates that directory mode 0700).
//! - Windows: `\\.\pipe\pipehub`. A bare name `NAME` means `\\.\pipe\NAME`.
//!
//! An endpoint is either a platform address (a socket path, a pipe name) or the form
//! `pipe:NAME`, which names the endpoint exactly where .NET's `NamedPipeClientStream(".",
//! NAME)` looks for it, so unchanged .NET programs can connect:
//! - Linux/macOS: the Unix socket `$TMPDIR/CoreFxPipe_NAME`, or `/tmp/CoreFxPipe_NAME`
//!   when `TMPDIR` is unset or empty (.NET's `Path.GetTempPath()` plus `CoreFxPipe_`).
//! - Windows: the named pipe `\\.\pipe\NAME`.
//!
//! [`resolve`] turns any endpoint into the address to bind or connect to; the hub and the
//! clients both call it, so they cannot disagree about where `pipe:NAME` is.

use std::ffi::OsStr;
#[cfg(unix)]
use std::path::PathBuf;

/// The environment variable that overrides the default endpoint.
pub const ENV_VAR: &str = "PIPEHUB_ENDPOINT";

/// The file name of the default socket, and the default pipe name.
pub const DEFAULT_NAME: &str = "pipehub";

/// The endpoint to use when `--endpoint` is not given: `PIPEHUB_ENDPOINT` if set and not
/// empty, else [`platform_default`].
pub fn from_env_or_default() -> String {
    match std::env::var(ENV_VAR) {
        Ok(value) if !value.is_empty() => value,
        _ => platform_default(),
    }
}

/// The rule [`platform_default`] follows, in words, for text read by anyone (a manual
/// page), where the path computed for the user who generated it would be wrong.
pub const DEFAULT_DESCRIPTION: &str = "$XDG_RUNTIME_DIR/pipehub.sock; without \
     XDG_RUNTIME_DIR, <temp dir>/pipehub-<uid>/pipehub.sock; on Windows, \\\\.\\pipe\\pipehub";

/// The platform's default endpoint (see the module documentation).
#[cfg(unix)]
pub fn platform_default() -> String {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => private_temp_dir(),
    };
    dir.join(format!("{DEFAULT_NAME}.sock"))
        .to_string_lossy()
        .into_owned()
}

/// The per-user fallback directory for the default socket: `<temp>/pipehub-<uid>`.
#[cfg(unix)]
pub fn private_temp_dir() -> PathBuf {
    let uid = crate::os::current_uid();
    std::env::temp_dir().join(format!("{DEFAULT_NAME}-{uid}"))
}

/// The platform's default endpoint (see the module documentation).
#[cfg(windows)]
pub fn platform_default() -> String {
    pipe_path(DEFAULT_NAME)
}

/// A full pipe path for `name`: a bare name becomes `\\.\pipe\NAME`, a full path is kept.
pub fn pipe_path(name: &str) -> String {
    if name.starts_with(r"\\") {
        name.to_owned()
    } else {
        format!(r"\\.\pipe\{name}")
    }
}

/// The endpoint form that names a pipe the way .NET does: `pipe:NAME`.
pub const PIPE_PREFIX: &str = "pipe:";

/// What .NET on Unix puts before a pipe name to make the socket's file name.
pub const DOTNET_SOCKET_PREFIX: &str = "CoreFxPipe_";

/// .NET's temporary directory when `TMPDIR` is unset or empty.
const DOTNET_DEFAULT_TEMP: &str = "/tmp/";

/// Why an endpoint given on the command line or in `PIPEHUB_ENDPOINT` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// An empty endpoint (`--endpoint ""`, or `PIPEHUB_ENDPOINT` set to nothing).
    #[error(
        "the endpoint is empty; give a socket path or {PIPE_PREFIX}NAME, or leave --endpoint (and PIPEHUB_ENDPOINT) out for the default"
    )]
    Empty,
    /// `pipe:` with nothing after it.
    #[error("`{PIPE_PREFIX}` needs a pipe name, as in `{PIPE_PREFIX}testpipe`")]
    EmptyPipeName,
    /// `pipe:NAME` where NAME has a path separator in it.
    #[error(
        "the pipe name in `{endpoint}` contains `{separator}`; `{PIPE_PREFIX}NAME` takes a bare name (to serve a socket at a path of your choice, pass the path itself)"
    )]
    PipeNameWithSeparator { endpoint: String, separator: char },
}

/// Checks an endpoint as the user wrote it: it must not be empty, a `pipe:NAME` must have a NAME without `/` or
/// `\` (a Windows pipe name cannot contain `\`, and on Unix NAME is part of one file
/// name). Any other endpoint is a platform address and is checked when it is used.
pub fn validate(endpoint: &str) -> Result<(), EndpointError> {
    if endpoint.is_empty() {
        return Err(EndpointError::Empty);
    }
    let Some(name) = pipe_name(endpoint) else {
        return Ok(());
    };
    if name.is_empty() {
        return Err(EndpointError::EmptyPipeName);
    }
    match name.chars().find(|&c| c == '/' || c == '\\') {
        Some(separator) => Err(EndpointError::PipeNameWithSeparator {
            endpoint: endpoint.to_owned(),
            separator,
        }),
        None => Ok(()),
    }
}

/// [`validate`] for a command-line parser: the endpoint, owned, if it is usable.
pub fn parse(endpoint: &str) -> Result<String, EndpointError> {
    validate(endpoint).map(|()| endpoint.to_owned())
}

/// The NAME of a `pipe:NAME` endpoint; `None` for any other endpoint.
pub fn pipe_name(endpoint: &str) -> Option<&str> {
    endpoint.strip_prefix(PIPE_PREFIX)
}

/// The address to bind or connect to for `endpoint`: a `pipe:NAME` becomes the socket
/// path or pipe path .NET uses for NAME on this platform (reading `TMPDIR` now, on Unix);
/// on Windows a bare name becomes `\\.\pipe\NAME`; anything else is returned as it is.
pub fn resolve(endpoint: &str) -> String {
    match pipe_name(endpoint) {
        #[cfg(unix)]
        Some(name) => dotnet_socket_path(name, std::env::var_os("TMPDIR").as_deref()),
        #[cfg(windows)]
        Some(name) => pipe_path(name),
        #[cfg(windows)]
        None => pipe_path(endpoint),
        #[cfg(not(windows))]
        None => endpoint.to_owned(),
    }
}

/// `endpoint` for messages: a `pipe:NAME` with the address it resolved to
/// (`pipe:NAME at PATH`), anything else as the address itself.
pub fn describe(endpoint: &str, resolved: &str) -> String {
    if pipe_name(endpoint).is_some() {
        format!("{endpoint} at {resolved}")
    } else {
        resolved.to_owned()
    }
}

/// The Unix socket path .NET uses for the pipe `name`: `Path.GetTempPath()` (the value of
/// `tmpdir` with a `/` appended unless it ends with one; `/tmp/` when it is unset or empty)
/// followed by `CoreFxPipe_` and the name.
///
/// This is .NET's rule. Mono differs at the edges: it falls back to `TMP` and `TEMP`
/// before `/tmp`, and an empty `TMPDIR` makes its path relative to the working directory.
/// With `TMPDIR` set, or with none of the three set, the two agree.
pub fn dotnet_socket_path(name: &str, tmpdir: Option<&OsStr>) -> String {
    let mut path = match tmpdir {
        Some(dir) if !dir.is_empty() => dir.to_string_lossy().into_owned(),
        _ => DOTNET_DEFAULT_TEMP.to_owned(),
    };
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str(DOTNET_SOCKET_PREFIX);
    path.push_str(name);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_socket_path_is_in_tmpdir() {
        let tmpdir = OsStr::new("/run/user/1000/tmp");
        assert_eq!(
            dotnet_socket_path("testpipe", Some(tmpdir)),
            "/run/user/1000/tmp/CoreFxPipe_testpipe"
        );
    }

    #[test]
    fn dotnet_socket_path_keeps_a_trailing_slash_of_tmpdir() {
        let tmpdir = OsStr::new("/var/folders/xy/T/");
        assert_eq!(
            dotnet_socket_path("testpipe", Some(tmpdir)),
            "/var/folders/xy/T/CoreFxPipe_testpipe"
        );
    }

    #[test]
    fn dotnet_socket_path_is_in_tmp_without_tmpdir() {
        assert_eq!(
            dotnet_socket_path("testpipe", None),
            "/tmp/CoreFxPipe_testpipe"
        );
    }

    #[test]
    fn dotnet_socket_path_is_in_tmp_when_tmpdir_is_empty() {
        assert_eq!(
            dotnet_socket_path("testpipe", Some(OsStr::new(""))),
            "/tmp/CoreFxPipe_testpipe"
        );
    }

    #[test]
    fn windows_pipe_path_of_a_name() {
        assert_eq!(pipe_path("testpipe"), r"\\.\pipe\testpipe");
        assert_eq!(pipe_path(r"\\.\pipe\other"), r"\\.\pipe\other");
    }

    #[cfg(windows)]
    #[test]
    fn pipe_form_resolves_to_the_windows_pipe() {
        assert_eq!(resolve("pipe:testpipe"), r"\\.\pipe\testpipe");
        assert_eq!(resolve("testpipe"), r"\\.\pipe\testpipe");
    }

    #[cfg(unix)]
    #[test]
    fn pipe_form_resolves_to_the_dotnet_socket_in_tmpdir() {
        let tmpdir = std::env::var_os("TMPDIR");
        assert_eq!(
            resolve("pipe:testpipe"),
            dotnet_socket_path("testpipe", tmpdir.as_deref())
        );
    }

    #[cfg(unix)]
    #[test]
    fn other_endpoints_resolve_to_themselves() {
        assert_eq!(
            resolve("/run/user/1000/pipehub.sock"),
            "/run/user/1000/pipehub.sock"
        );
        assert_eq!(resolve("relative.sock"), "relative.sock");
    }

    #[test]
    fn pipe_form_names_the_pipe() {
        assert_eq!(pipe_name("pipe:testpipe"), Some("testpipe"));
        assert_eq!(pipe_name("/tmp/pipe:x"), None);
        assert_eq!(pipe_name("testpipe"), None);
    }

    #[test]
    fn an_empty_endpoint_names_nothing() {
        assert_eq!(validate(""), Err(EndpointError::Empty));
        assert!(parse("").is_err());
    }

    #[test]
    fn pipe_form_needs_a_bare_name() {
        assert_eq!(validate("pipe:testpipe"), Ok(()));
        assert_eq!(validate("pipe:"), Err(EndpointError::EmptyPipeName));
        assert!(matches!(
            validate("pipe:a/b"),
            Err(EndpointError::PipeNameWithSeparator { separator: '/', .. })
        ));
        assert!(matches!(
            validate(r"pipe:a\b"),
            Err(EndpointError::PipeNameWithSeparator {
                separator: '\\',
                ..
            })
        ));
        assert_eq!(validate("/tmp/x.sock"), Ok(()));
        assert_eq!(validate(r"\\.\pipe\x"), Ok(()));
    }

    #[test]
    fn describe_shows_the_form_and_the_address() {
        assert_eq!(
            describe("pipe:testpipe", "/tmp/CoreFxPipe_testpipe"),
            "pipe:testpipe at /tmp/CoreFxPipe_testpipe"
        );
        assert_eq!(describe("/tmp/x.sock", "/tmp/x.sock"), "/tmp/x.sock");
    }
}
