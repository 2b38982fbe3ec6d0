//! The endpoint: binding it safely and accepting connections. The one place that knows
//! Unix domain sockets from Windows named pipes.
//!
//! Both platforms expose the same two names: [`Listener`] (`bind`, `bind_for` an
//! [`Exposure`], `accept`, `endpoint`) and [`Stream`], a connected client with tokio's readiness API
//! (`readable`, `try_read_buf`, `writable`, `try_write_vectored`, `ready`), which the
//! connection code drives without knowing which platform it runs on.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{Listener, Stream, UnreadProbe, peer, peer_closed};

#[cfg(windows)]
mod pipe_security;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use pipe_security::{PipeAccess, current_user_sid};
#[cfg(windows)]
pub use windows::{Listener, Stream, UnreadProbe, peer, peer_closed};

/// Who may open the endpoint, as the hub's flags say: the socket file's permissions
/// (Unix, `--mode`), and whether every local user may open the pipe (Windows,
/// `--allow-everyone`). Each platform reads its own part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub socket_mode: u32,
    pub allow_everyone: bool,
}

/// Why the endpoint could not be served. Each message names the cause and the fix.
#[derive(Debug)]
pub enum BindError {
    /// A live hub answers on the endpoint.
    InUse { endpoint: String },
    /// Something that is not a hub's socket is in the way.
    NotASocket { endpoint: String },
    /// The endpoint path is longer than a Unix socket address can hold.
    PathTooLong { endpoint: String, max: usize },
    /// The endpoint's directory does not exist.
    NoDirectory { endpoint: String, dir: String },
    /// Other users may write to the endpoint's directory (and it is not sticky), so
    /// they could replace the socket with their own.
    UnsafeDirectory {
        endpoint: String,
        dir: String,
        mode: u32,
    },
    /// Any other I/O failure while binding.
    Io {
        endpoint: String,
        source: std::io::Error,
    },
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::InUse { endpoint } => write!(
                f,
                "another hub is already serving {endpoint}; stop it or pass --endpoint"
            ),
            BindError::NotASocket { endpoint } => write!(
                f,
                "{endpoint} exists and is not a socket; remove it or pass another --endpoint"
            ),
            BindError::PathTooLong { endpoint, max } => write!(
                f,
                "endpoint path {endpoint} is longer than the {max} bytes a Unix socket address holds; pass a shorter --endpoint"
            ),
            BindError::NoDirectory { endpoint, dir } => write!(
                f,
                "cannot serve {endpoint}: directory {dir} does not exist; create it or pass another --endpoint"
            ),
            BindError::UnsafeDirectory {
                endpoint,
                dir,
                mode,
            } => write!(
                f,
                "refusing to serve {endpoint}: directory {dir} (mode {mode:04o}) is writable by other users and not sticky, so they could replace the socket; use a private directory or pass another --endpoint"
            ),
            BindError::Io { endpoint, source } => write!(f, "cannot serve {endpoint}: {source}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
