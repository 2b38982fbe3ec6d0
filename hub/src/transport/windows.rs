//! Windows named pipe endpoint (`\\.\pipe\NAME`).
//!
//! The first instance is created with `first_pipe_instance(true)`, so a second hub on the
//! same name fails instead of sharing it. The next instance is always created before a
//! connected one is handed off, so a client never finds the name missing between two
//! connections. Remote clients are rejected.

use std::io;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::BindError;

/// A connected client.
pub type Stream = NamedPipeServer;

/// `ERROR_ACCESS_DENIED`: what creating a first instance returns when the name is taken.
const ERROR_ACCESS_DENIED: i32 = 5;

/// A listening pipe name, with the instance the next client will connect to.
pub struct Listener {
    name: String,
    next: NamedPipeServer,
}

impl Listener {
    /// Creates the first instance of the pipe `endpoint`; `_mode` is for Unix sockets.
    pub fn bind_with_mode(endpoint: &str, _mode: u32) -> Result<Listener, BindError> {
        Listener::bind(endpoint)
    }

    /// Creates the first instance of the pipe `endpoint` (a bare name or `\\.\pipe\NAME`).
    pub fn bind(endpoint: &str) -> Result<Listener, BindError> {
        let name = pipehub_protocol::endpoint::pipe_path(endpoint);
        let next = ServerOptions::new()
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .create(&name)
            .map_err(|source| {
                if source.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                    BindError::InUse {
                        endpoint: name.clone(),
                    }
                } else {
                    BindError::Io {
                        endpoint: name.clone(),
                        source,
                    }
                }
            })?;
        Ok(Listener { name, next })
    }

    /// Waits for the next client.
    pub async fn accept(&mut self) -> io::Result<Stream> {
        self.next.connect().await?;
        let fresh = ServerOptions::new()
            .reject_remote_clients(true)
            .create(&self.name)?;
        Ok(std::mem::replace(&mut self.next, fresh))
    }

    /// The full pipe path.
    pub fn endpoint(&self) -> String {
        self.name.clone()
    }
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
