//! Running as a systemd service: socket activation and readiness notification.
//!
//! With a `pipehub.socket` unit, systemd creates the socket (its path, owner and mode come
//! from the unit), starts the hub on the first connection or at boot, and passes the
//! listening socket as descriptor 3 with `LISTEN_FDS=1` and `LISTEN_PID=<the hub's pid>`.
//! The hub then serves that socket instead of binding its own
//! ([`Listener::from_inherited`]) and leaves the file to systemd on exit. Connections
//! that arrive while the hub starts wait in the socket's backlog; none is lost, and a
//! restarted hub keeps the same socket.
//!
//! With `Type=notify`, the hub tells systemd `READY=1` once it serves ([`notify_ready`]),
//! and `STOPPING=1` when it begins to shut down; without `NOTIFY_SOCKET` in the
//! environment both do nothing. `systemd-socket-activate -l PATH pipehub` (Debian's
//! `systemd` package) does the same as a socket unit, for trying it by hand.
//!
//! Unix only; on Windows there is never an inherited socket and nobody to notify.
//!
//! [`Listener::from_inherited`]: crate::transport::Listener

use crate::transport::{BindError, Listener};

/// The listening socket the service manager passed, if the hub was started with one
/// (`LISTEN_FDS`, for this process's `LISTEN_PID`). Exactly one socket is served: a unit
/// that passes several is an error, as is a passed descriptor that is not a listening
/// Unix stream socket.
#[cfg(unix)]
pub fn inherited_listener() -> Result<Option<Listener>, BindError> {
    use std::os::fd::{FromRawFd, OwnedFd};

    let activation_error = |reason: String| BindError::Io {
        endpoint: "the socket systemd passed".to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
    };
    let fds: Vec<_> = sd_notify::listen_fds()
        .map_err(|err| activation_error(format!("LISTEN_FDS or LISTEN_PID is invalid: {err}")))?
        .collect();
    match fds.as_slice() {
        [] => Ok(None),
        &[fd] => {
            // SAFETY: systemd's protocol hands descriptors 3.. to this process (LISTEN_PID
            // matched); nothing else in the hub owns them, and they are taken once.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            let listener = Listener::from_inherited(owned)?;
            tracing::info!(
                endpoint = %listener.endpoint(),
                "serving the socket passed by the service manager (socket activation)"
            );
            Ok(Some(listener))
        }
        many => Err(activation_error(format!(
            "systemd passed {} sockets; pipehub serves one (give the socket unit one \
             ListenStream= line)",
            many.len()
        ))),
    }
}

/// Without Unix sockets there is no socket activation.
#[cfg(not(unix))]
pub fn inherited_listener() -> Result<Option<Listener>, BindError> {
    Ok(None)
}

/// Tells the service manager the hub serves `endpoint` (`READY=1`), if it asked
/// (`NOTIFY_SOCKET`). A failure is logged, not fatal: the hub serves either way.
pub fn notify_ready(endpoint: &str) {
    #[cfg(unix)]
    {
        let status = format!("serving {endpoint}");
        let state = [
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&status),
        ];
        if let Err(err) = sd_notify::notify(&state) {
            tracing::warn!(%err, "could not tell the service manager the hub is ready");
        }
    }
    #[cfg(not(unix))]
    let _ = endpoint;
}

/// Tells the service manager the hub is shutting down (`STOPPING=1`), if it asked.
pub fn notify_stopping() {
    #[cfg(unix)]
    if let Err(err) = sd_notify::notify(&[sd_notify::NotifyState::Stopping]) {
        tracing::debug!(%err, "could not tell the service manager the hub is stopping");
    }
}
