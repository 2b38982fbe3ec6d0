//! Windows named pipe endpoint (`\\.\pipe\NAME`).
//!
//! A pipe name is served by *instances*: each one takes one client. The listener always
//! has one instance waiting; when a client takes it, the next one is created before the
//! connected one is handed off (or dropped), so the name never disappears while the hub
//! runs. A client that opens the name while the waiting instance is being taken gets
//! `ERROR_PIPE_BUSY` and retries (see the client's `transport::connect`).
//!
//! Binding never shares or steals a live hub's name:
//! 1. If the name answers `WaitNamedPipeW` (an instance is waiting, or all are busy), a
//!    hub serves it: refuse (`InUse`) without connecting to it.
//! 2. The first instance is created with `FILE_FLAG_FIRST_PIPE_INSTANCE`: if the name
//!    exists by then (two hubs starting at once), creating fails and the hub reports
//!    `InUse`. Step 1 is what catches a second hub under Wine, which ignores the flag.
//!
//! Every instance is created with the security descriptor of [`PipeSecurity`] (only the
//! hub's user, unless `--allow-everyone`) and rejects remote clients.

use std::io;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::{
    Foundation::{ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT},
    System::Pipes::WaitNamedPipeW,
};

use super::{
    BindError, Exposure,
    pipe_security::{PipeAccess, PipeSecurity},
};

/// A connected client.
pub type Stream = NamedPipeServer;

/// A listening pipe name, with the instance the next client will connect to.
pub struct Listener {
    name: String,
    security: PipeSecurity,
    next: NamedPipeServer,
}

impl Listener {
    /// Creates the first instance of the pipe `endpoint` (a bare name or `\\.\pipe\NAME`),
    /// open to the hub's own user only.
    pub fn bind(endpoint: &str) -> Result<Listener, BindError> {
        Listener::bind_with_access(endpoint, PipeAccess::CurrentUser)
    }

    /// Like [`Listener::bind`]; `_mode` is for Unix sockets.
    pub fn bind_with_mode(endpoint: &str, _mode: u32) -> Result<Listener, BindError> {
        Listener::bind(endpoint)
    }

    /// Creates the first instance of the pipe `endpoint` with the access `config` asks
    /// for (`--allow-everyone`).
    pub fn bind_for(endpoint: &str, exposure: Exposure) -> Result<Listener, BindError> {
        let access = if exposure.allow_everyone {
            PipeAccess::Everyone
        } else {
            PipeAccess::CurrentUser
        };
        Listener::bind_with_access(endpoint, access)
    }

    /// Creates the first instance of the pipe `endpoint`, which `access` may open.
    pub fn bind_with_access(endpoint: &str, access: PipeAccess) -> Result<Listener, BindError> {
        let name = pipehub_protocol::endpoint::pipe_path(endpoint);
        let io_err = |source| BindError::Io {
            endpoint: name.clone(),
            source,
        };
        if is_served(&name) {
            return Err(BindError::InUse { endpoint: name });
        }
        let security = PipeSecurity::new(access).map_err(io_err)?;
        let next = create(&name, &security, true).map_err(|source| {
            if source.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) {
                BindError::InUse {
                    endpoint: name.clone(),
                }
            } else {
                io_err(source)
            }
        })?;
        Ok(Listener {
            name,
            security,
            next,
        })
    }

    /// Waits for the next client.
    pub async fn accept(&mut self) -> io::Result<Stream> {
        let connected = self.next.connect().await;
        // Whatever happened to this instance, one must be waiting before it goes. If
        // creating fails, `next` stays: a connected instance is handed off next time.
        let fresh = create(&self.name, &self.security, false)?;
        let taken = std::mem::replace(&mut self.next, fresh);
        connected?;
        Ok(taken)
    }

    /// The full pipe path.
    pub fn endpoint(&self) -> String {
        self.name.clone()
    }
}

/// Creates one instance of the pipe `name`.
fn create(name: &str, security: &PipeSecurity, first: bool) -> io::Result<NamedPipeServer> {
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    // SAFETY: `security.attributes()` points at a SECURITY_ATTRIBUTES whose descriptor
    // lives as long as `security`, which outlives this call.
    unsafe { options.create_with_security_attributes_raw(name, security.attributes()) }
}

/// Whether some server has instances of the pipe `name`: one is waiting for a client, or
/// all are busy. Asks without connecting, so a live hub sees nothing.
fn is_served(name: &str) -> bool {
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: `wide` is a NUL-terminated UTF-16 string; the call only reads it.
    if unsafe { WaitNamedPipeW(wide.as_ptr(), 1) } != 0 {
        return true;
    }
    // All instances busy: ERROR_SEM_TIMEOUT (ERROR_PIPE_BUSY on some systems). No such
    // pipe: ERROR_FILE_NOT_FOUND; any other error is left for creating to report.
    let err = io::Error::last_os_error().raw_os_error();
    err == Some(ERROR_SEM_TIMEOUT as i32) || err == Some(ERROR_PIPE_BUSY as i32)
}

/// Named pipes give no Unix credentials; the pipe's security decides who can open it.
pub fn peer(_stream: &Stream) -> Option<crate::access::Peer> {
    None
}

/// A named pipe has no half-close: the end of a client's input is the client closing
/// its handle.
pub fn peer_closed(_stream: &Stream) -> bool {
    true
}

/// How pacing would ask how much of what the hub wrote a client has not read yet, and
/// whether a half-closed client is gone. A named pipe says neither, so pacing watches
/// the hub's own writes alone.
#[derive(Clone, Copy, Debug)]
pub struct UnreadProbe;

impl UnreadProbe {
    pub fn of(_stream: &Stream) -> UnreadProbe {
        UnreadProbe
    }

    /// Always `None`: a named pipe does not say.
    pub fn unread_bytes(self) -> Option<u64> {
        None
    }

    /// Always `false`: a pipe client cannot shut down only its sending side, so there is
    /// no half-closed client to watch.
    pub fn hung_up(self) -> bool {
        false
    }
}
