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
/// [`unusable`] tells whether a hub could serve it at all.
pub fn is_no_hub(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused | io::ErrorKind::NotADirectory
    )
}

/// Why no hub can serve an endpoint as it is, so that starting one there would not help:
/// the causes for which the hub refuses to bind it, worded as the hub words them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointProblem {
    /// The socket path is longer than a Unix socket address holds.
    #[error(
        "the path is {len} bytes, longer than the {max} bytes a Unix socket address holds; \
         pass a shorter endpoint"
    )]
    PathTooLong { len: usize, max: usize },
    /// The socket's directory does not exist. Not for good: it may be created, by hand or
    /// by the service that starts the hub.
    #[error(
        "directory {dir} does not exist; check the endpoint (no hub can serve it until the \
         directory exists)"
    )]
    NoDirectory { dir: String },
    /// The socket's directory is a file of another kind.
    #[error("{dir} is not a directory; check the endpoint")]
    NotADirectory { dir: String },
    /// Something other than a socket is at the path; a hub refuses to replace it.
    #[error(
        "{path} exists and is not a socket; check the endpoint (no hub can serve it while \
         that file is there)"
    )]
    NotASocket { path: String },
}

impl EndpointProblem {
    /// Whether waiting may fix it, without anyone changing the endpoint.
    pub fn is_transient(&self) -> bool {
        matches!(self, EndpointProblem::NoDirectory { .. })
    }
}

/// What a failed [`connect`] to `endpoint` says about the endpoint itself: `Some` when
/// no hub could serve it as it is, `None` when a hub started there could (or the error
/// is not about the endpoint). Asks the file system, so the answer is as of now.
#[cfg(unix)]
pub fn unusable(endpoint: &str, err: &io::Error) -> Option<EndpointProblem> {
    use std::os::unix::fs::FileTypeExt;
    use std::path::Path;

    let path = endpoint::resolve(endpoint);
    let max = max_socket_path();
    if path.len() > max {
        return Some(EndpointProblem::PathTooLong {
            len: path.len(),
            max,
        });
    }
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            let dir = match Path::new(&path).parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let shown = dir.display().to_string();
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => None,
                Ok(_) => Some(EndpointProblem::NotADirectory { dir: shown }),
                // The hub creates its own fallback directory; any other must exist.
                Err(_) if dir == endpoint::private_temp_dir() => None,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    Some(EndpointProblem::NoDirectory { dir: shown })
                }
                Err(_) => None,
            }
        }
        io::ErrorKind::ConnectionRefused => match std::fs::metadata(&path) {
            Ok(meta) if !meta.file_type().is_socket() => Some(EndpointProblem::NotASocket { path }),
            // A socket nobody accepts on: left over from a hub that exited; the next hub
            // replaces it.
            _ => None,
        },
        _ => None,
    }
}

/// What a failed [`connect`] to `endpoint` says about the endpoint itself. A pipe name
/// has no directory or file behind it: a hub can serve any name.
#[cfg(windows)]
pub fn unusable(_endpoint: &str, _err: &io::Error) -> Option<EndpointProblem> {
    None
}

/// The longest socket path a Unix socket address holds: its `sun_path`, less the
/// terminating NUL (107 bytes on Linux, 103 on macOS). The standard library refuses
/// longer paths with a message that does not say the limit.
#[cfg(unix)]
pub fn max_socket_path() -> usize {
    fn capacity<const N: usize>(_: fn(&libc::sockaddr_un) -> &[libc::c_char; N]) -> usize {
        N
    }
    capacity(|address| &address.sun_path) - 1
}
