//! Opening a hub's endpoint: a Unix domain socket on Linux/macOS, a named pipe on Windows.
//!
//! Everything above this module sees one [`Stream`] type and one [`connect`] function, so
//! platform differences stay in this file. Both platforms are compiled in CI
//! (`cargo check --target x86_64-pc-windows-gnu`), because a `#[cfg]` branch nobody builds
//! rots silently.

use std::io;

use pipehub_protocol::endpoint;

/// A connected byte stream to a hub.
#[cfg(unix)]
pub type Stream = tokio::net::UnixStream;

/// A connected byte stream to a hub.
#[cfg(windows)]
pub type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// Connects to the Unix socket at the path `endpoint`, or where .NET would look for the
/// pipe of a `pipe:NAME` endpoint (see [`endpoint::resolve`]).
#[cfg(unix)]
pub async fn connect(endpoint: &str) -> io::Result<Stream> {
    tokio::net::UnixStream::connect(endpoint::resolve(endpoint)).await
}

/// Connects to the named pipe `endpoint` (a bare name `NAME` or `pipe:NAME` means
/// `\\.\pipe\NAME`).
///
/// A pipe server has a fixed number of instances waiting for clients; while all of them
/// are taken, opening fails with `ERROR_PIPE_BUSY` until the hub creates the next one. That
/// is a matter of microseconds for a healthy hub, so this retries every
/// [`PIPE_BUSY_RETRY`] for at most [`PIPE_BUSY_WAIT`] before giving up.
#[cfg(windows)]
pub async fn connect(endpoint: &str) -> io::Result<Stream> {
    use tokio::net::windows::named_pipe::ClientOptions;
    use tokio::time::Instant;

    let path = endpoint::resolve(endpoint);
    let deadline = Instant::now() + PIPE_BUSY_WAIT;
    loop {
        match ClientOptions::new().open(&path) {
            Ok(client) => return Ok(client),
            Err(err)
                if err.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline =>
            {
                tracing::debug!(endpoint = %path, "pipe busy; retrying");
            }
            Err(err) => return Err(err),
        }
        tokio::time::sleep(PIPE_BUSY_RETRY).await;
    }
}

/// Win32 `ERROR_PIPE_BUSY`: every instance of the pipe is connected to some client.
#[cfg(windows)]
const ERROR_PIPE_BUSY: i32 = 231;

/// How long to wait between two attempts to open a busy pipe.
#[cfg(windows)]
pub const PIPE_BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// How long to keep retrying a busy pipe before reporting the error.
#[cfg(windows)]
pub const PIPE_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a [`connect`] error means "no hub is serving this endpoint": the socket file or
/// the pipe does not exist, or a socket file is left over from a hub that has exited.
pub fn is_no_hub(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}
