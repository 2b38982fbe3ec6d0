//! Opening a hub's endpoint: a Unix domain socket on Linux/macOS, a named pipe on Windows.
//!
//! Everything above this module sees one [`Stream`] type and one [`connect`] function, so
//! platform differences stay in this file. Both platforms are built and run in CI (the
//! Windows build under Wine, `.ci/windows`), because a `#[cfg]` branch nobody runs rots
//! silently.

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
///
/// While the hub's connection queue (its listen backlog) is full, as in a burst of
/// clients arriving faster than it accepts, connecting fails with `EAGAIN`: that is a
/// busy hub, not a missing one, so this retries every [`BUSY_RETRY`] for at most
/// [`BUSY_WAIT`], like a busy named pipe on Windows.
#[cfg(unix)]
pub async fn connect(endpoint: &str) -> io::Result<Stream> {
    use tokio::time::Instant;

    let path = endpoint::resolve(endpoint);
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match tokio::net::UnixStream::connect(&path).await {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                tracing::debug!(endpoint = %path, "the hub's connection queue is full; retrying");
            }
            result => return result,
        }
        tokio::time::sleep(BUSY_RETRY).await;
    }
}

/// Connects to the named pipe `endpoint` (a bare name `NAME` or `pipe:NAME` means
/// `\\.\pipe\NAME`).
///
/// A pipe server has a fixed number of instances waiting for clients; while all of them
/// are taken, opening fails with `ERROR_PIPE_BUSY` until the hub creates the next one. That
/// is a matter of microseconds for a healthy hub, so this retries every
/// [`BUSY_RETRY`] for at most [`BUSY_WAIT`] before giving up. A pipe that does
/// not exist is `NotFound` at once: no hub (yet), see [`is_no_hub`].
#[cfg(windows)]
pub async fn connect(endpoint: &str) -> io::Result<Stream> {
    use tokio::time::Instant;

    let path = endpoint::resolve(endpoint);
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match open_pipe(&path) {
            Ok(client) => return Ok(client),
            Err(err)
                if err.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline =>
            {
                tracing::debug!(endpoint = %path, "pipe busy; retrying");
            }
            Err(err) => return Err(err),
        }
        tokio::time::sleep(BUSY_RETRY).await;
    }
}

/// Opens the pipe at `path` for reading and writing messages, asking for no more rights
/// than that: `GENERIC_READ | FILE_WRITE_DATA`. `GENERIC_WRITE` would also ask for
/// `FILE_CREATE_PIPE_INSTANCE`, which a hub started with `--allow-everyone` grants only
/// its own user, so other users could not connect.
#[cfg(windows)]
fn open_pipe(path: &str) -> io::Result<Stream> {
    use std::os::windows::{fs::OpenOptionsExt, io::IntoRawHandle};
    use windows_sys::Win32::{
        Foundation::GENERIC_READ,
        Storage::FileSystem::{FILE_FLAG_OVERLAPPED, FILE_WRITE_DATA, SECURITY_IDENTIFICATION},
    };

    let file = std::fs::OpenOptions::new()
        .access_mode(GENERIC_READ | FILE_WRITE_DATA)
        .custom_flags(FILE_FLAG_OVERLAPPED)
        // The hub may learn who the client is, but not act as it.
        .security_qos_flags(SECURITY_IDENTIFICATION)
        .open(path)?;
    // SAFETY: the handle was just opened, for overlapped I/O as tokio requires, and
    // nothing else owns it.
    unsafe {
        tokio::net::windows::named_pipe::NamedPipeClient::from_raw_handle(file.into_raw_handle())
    }
}

/// Win32 `ERROR_PIPE_BUSY`: every instance of the pipe is connected to some client.
#[cfg(windows)]
const ERROR_PIPE_BUSY: i32 = 231;

/// How long to wait between two attempts to reach a busy hub (a full connection queue,
/// or every pipe instance taken).
pub const BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// How long to keep retrying a busy hub before reporting the error.
pub const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a [`connect`] error means "no hub is serving this endpoint": the socket file or
/// the pipe does not exist, or a socket file is left over from a hub that has exited.
pub fn is_no_hub(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}
