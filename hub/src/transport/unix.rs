//! Unix domain socket endpoint.
//!
//! Binding never steals a live hub's endpoint and never exposes the socket to other
//! users, even for an instant:
//! 1. The directory must not be writable by other users unless it is sticky (like
//!    /tmp): otherwise anyone could swap the socket for their own.
//! 2. If a file is at the path, connect to it. A hub answers: refuse (`InUse`). Nobody
//!    answers and it is a socket: it is stale, remove it. Not a socket: refuse.
//! 3. Bind in a fresh 0700 directory beside the path, set the socket's mode (0600 by
//!    default), then hard-link it into place. `link` fails if the path exists, so two hubs
//!    starting at once cannot both win; the loser reports `InUse`.
//! 4. On drop, remove the socket file, but only if it is still ours (same inode).
//!
//! A socket inherited from systemd ([`Listener::from_inherited`]) skips all of this: the
//! service manager created it, with the owner and mode of its unit, and removes it; the
//! hub only serves it and leaves the file alone on exit.

use std::{
    fs, io,
    os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

use tokio::net::UnixListener;

use super::{BindError, Exposure};

/// A connected client.
pub type Stream = tokio::net::UnixStream;

/// The longest socket path the platform accepts (sun_path minus its NUL).
const MAX_PATH: usize = 107;

/// A bound, listening endpoint. Removes its socket file when dropped (unless it was
/// inherited).
pub struct Listener {
    inner: UnixListener,
    path: PathBuf,
    /// Device and inode of our socket file, so drop removes only ours; `None` for an
    /// inherited socket, whose file belongs to whoever created it.
    identity: Option<(u64, u64)>,
}

impl Listener {
    /// Binds `endpoint` (a socket path) with the default mode, 0600.
    pub fn bind(endpoint: &str) -> Result<Listener, BindError> {
        Listener::bind_with_mode(endpoint, 0o600)
    }

    /// Binds `endpoint` (a socket path) with the mode `exposure` asks for (`--mode`).
    pub fn bind_for(endpoint: &str, exposure: Exposure) -> Result<Listener, BindError> {
        Listener::bind_with_mode(endpoint, exposure.socket_mode)
    }

    /// Binds `endpoint` (a socket path) with permissions `mode`, following the rules in
    /// the module docs.
    pub fn bind_with_mode(endpoint: &str, mode: u32) -> Result<Listener, BindError> {
        let path = PathBuf::from(endpoint);
        let io_err = |source| BindError::Io {
            endpoint: endpoint.to_owned(),
            source,
        };
        if endpoint.len() > MAX_PATH {
            return Err(BindError::PathTooLong {
                endpoint: endpoint.to_owned(),
                max: MAX_PATH,
            });
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if dir == pipehub_protocol::endpoint::private_temp_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&dir)
                .map_err(io_err)?;
        }
        let dir_meta = match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => meta,
            _ => {
                return Err(BindError::NoDirectory {
                    endpoint: endpoint.to_owned(),
                    dir: dir.display().to_string(),
                });
            }
        };
        let dir_mode = dir_meta.permissions().mode();
        if dir_mode & 0o022 != 0 && dir_mode & 0o1000 == 0 {
            return Err(BindError::UnsafeDirectory {
                endpoint: endpoint.to_owned(),
                dir: dir.display().to_string(),
                mode: dir_mode & 0o7777,
            });
        }
        remove_if_stale(endpoint, &path)?;

        // Bind where nobody else can reach the socket, then claim the path atomically.
        let staging = staging_dir(&dir).map_err(io_err)?;
        let staged = staging.path.join("s");
        let result = (|| {
            let std_listener = std::os::unix::net::UnixListener::bind(&staged)?;
            fs::set_permissions(&staged, fs::Permissions::from_mode(mode & 0o777))?;
            std_listener.set_nonblocking(true)?;
            Ok::<_, io::Error>(std_listener)
        })();
        let std_listener = result.map_err(io_err)?;
        match fs::hard_link(&staged, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(BindError::InUse {
                    endpoint: endpoint.to_owned(),
                });
            }
            Err(e) => return Err(io_err(e)),
        }
        drop(staging);
        let meta = fs::symlink_metadata(&path).map_err(io_err)?;
        let inner = UnixListener::from_std(std_listener).map_err(io_err)?;
        Ok(Listener {
            inner,
            path,
            identity: Some((meta.dev(), meta.ino())),
        })
    }

    /// Serves a listening Unix stream socket this process inherited as descriptor `fd`
    /// (systemd socket activation). The hub takes the descriptor over; the socket file
    /// is not removed when the listener is dropped.
    pub fn from_inherited(fd: std::os::fd::OwnedFd) -> Result<Listener, BindError> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let described = format!("the inherited socket (descriptor {raw})");
        let invalid = |reason: &str| BindError::Io {
            endpoint: described.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason.to_owned()),
        };
        if !is_listening_stream(raw) {
            return Err(invalid(
                "it is not a listening stream socket; use ListenStream= with Accept=no",
            ));
        }
        let std_listener = std::os::unix::net::UnixListener::from(fd);
        // Fails for anything but a Unix domain socket.
        let address = std_listener
            .local_addr()
            .map_err(|_| invalid("it is not a Unix domain socket"))?;
        let path = address
            .as_pathname()
            .map_or_else(|| PathBuf::from(&described), Path::to_path_buf);
        let io_err = |source| BindError::Io {
            endpoint: path.display().to_string(),
            source,
        };
        std_listener.set_nonblocking(true).map_err(io_err)?;
        let inner = UnixListener::from_std(std_listener).map_err(io_err)?;
        Ok(Listener {
            inner,
            path,
            identity: None,
        })
    }

    /// Waits for the next client.
    pub async fn accept(&mut self) -> io::Result<Stream> {
        self.inner.accept().await.map(|(stream, _)| stream)
    }

    /// The endpoint as the user gave it.
    pub fn endpoint(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && Some((meta.dev(), meta.ino())) == self.identity
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether `fd` is a stream socket that listens (not, say, a connection systemd
/// accepted for an `Accept=yes` unit).
fn is_listening_stream(fd: std::os::fd::RawFd) -> bool {
    let option = |name| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`, an int it owns.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        (rc == 0).then_some(value)
    };
    let stream = option(libc::SO_TYPE) == Some(libc::SOCK_STREAM);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let listening = option(libc::SO_ACCEPTCONN) == Some(1);
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let listening = true;
    stream && listening
}

/// Step 2 of binding: refuse if a live hub answers, remove a stale socket file.
fn remove_if_stale(endpoint: &str, path: &Path) -> Result<(), BindError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BindError::Io {
                endpoint: endpoint.to_owned(),
                source,
            });
        }
    };
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket {
            endpoint: endpoint.to_owned(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(BindError::InUse {
            endpoint: endpoint.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(
                endpoint,
                "removing stale socket file (no hub answers on it)"
            );
            match fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(BindError::Io {
                    endpoint: endpoint.to_owned(),
                    source,
                }),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BindError::Io {
            endpoint: endpoint.to_owned(),
            source,
        }),
    }
}

/// A private directory next to the endpoint, removed (with its contents) on drop.
struct StagingDir {
    path: PathBuf,
}

fn staging_dir(dir: &Path) -> io::Result<StagingDir> {
    for attempt in 0..100u32 {
        let path = dir.join(format!(".ph{}.{attempt}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(StagingDir { path }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a private staging directory beside the endpoint",
    ))
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The peer's credentials, if the kernel gives them.
pub fn peer(stream: &Stream) -> Option<crate::access::Peer> {
    let cred = stream.peer_cred().ok()?;
    Some(crate::access::Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

/// Whether the peer has closed its end entirely, asked after reading end of stream: a
/// peer that only shut down its sending side (a read-only tool such as
/// `nc -U path < /dev/null`, or a .NET `PipeDirection.In` client) leaves our writing side
/// open. Asked of the kernel (`poll` for `POLLHUP`), not of the runtime's readiness,
/// which may not have seen the hang-up event yet when the end of stream is read.
pub fn peer_closed(stream: &Stream) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout: poll only fills in `revents`.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready < 0 || fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

/// Asks the kernel, from elsewhere and later, about one connection: how much of what the
/// hub wrote its peer has not read yet (how pacing sees a slow listener read, even while
/// the hub has nothing to write to it), and whether a peer that shut down its sending
/// side has since gone entirely.
///
/// It holds the connection's descriptor number, not the descriptor: it is valid only
/// while the connection is open, and the registry keeps it only that long (a client
/// leaves the registry before its socket is closed).
#[derive(Clone, Copy, Debug)]
pub struct UnreadProbe(std::os::fd::RawFd);

impl UnreadProbe {
    pub fn of(stream: &Stream) -> UnreadProbe {
        use std::os::fd::AsRawFd;
        UnreadProbe(stream.as_raw_fd())
    }

    /// Whether the peer is gone entirely (it had shut down only its sending side
    /// before); the same question as [`peer_closed`], asked from elsewhere.
    pub fn hung_up(self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.0,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd for an open descriptor (see the type's docs), a zero
        // timeout: poll only fills in `revents`.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        ready < 0 || fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
    }

    /// Bytes written to the connection and not yet read by the peer; `None` where the
    /// platform cannot say.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn unread_bytes(self) -> Option<u64> {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) on a socket writes one int, the bytes in its send
        // queue, into `queued`; the descriptor is open (see the type's docs).
        let rc = unsafe { libc::ioctl(self.0, libc::TIOCOUTQ, &mut queued) };
        (rc == 0).then(|| u64::try_from(queued).unwrap_or(0))
    }

    /// Bytes written to the connection and not yet read by the peer; `None` where the
    /// platform cannot say.
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    pub fn unread_bytes(self) -> Option<u64> {
        let mut queued: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: SO_NWRITE writes one int, the bytes not yet sent from the socket's
        // buffer, into `queued`, and its size into `len`; the descriptor is open.
        let rc = unsafe {
            libc::getsockopt(
                self.0,
                libc::SOL_SOCKET,
                libc::SO_NWRITE,
                (&raw mut queued).cast(),
                &mut len,
            )
        };
        (rc == 0).then(|| u64::try_from(queued).unwrap_or(0))
    }

    /// Bytes written to the connection and not yet read by the peer; `None` where the
    /// platform cannot say.
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    )))]
    pub fn unread_bytes(self) -> Option<u64> {
        None
    }
}
