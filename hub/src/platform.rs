//! What the hub does differently on each platform, besides its endpoint (`transport`):
//! signals, the open-file limit, the host's name, the terminal's mode, a private place
//! for an endpoint, process groups. The rest of the hub calls these and needs no `#[cfg]`
//! of its own (but `activation`, which is systemd's socket passing, Unix by nature).

/// Raises the limit on open files as far as it goes, so the hub can hold as many clients
/// as the system allows, and says what that capacity is when it is below `max_clients`.
pub fn raise_open_file_limit(max_clients: usize) {
    let Some((soft, _)) = pipehub_protocol::os::raise_open_file_limit() else {
        if cfg!(unix) {
            tracing::warn!("could not raise the open-file limit; the hub may hold fewer clients");
        }
        return;
    };
    // A few descriptors go to stdio, the listener and the runtime.
    let capacity = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(32);
    if capacity < max_clients {
        tracing::info!(
            "the open-file limit allows about {capacity} clients (raise it with `ulimit -Hn` to hold more)"
        );
    } else {
        tracing::debug!(capacity, "open-file limit raised");
    }
}

/// Catches Ctrl-C (SIGINT), and SIGTERM where there is one, from this call on; the
/// future completes on the first of them.
///
/// The handlers are installed here, not when the future is first polled: the console's
/// line editor saves the signal dispositions it finds when it starts and puts them back
/// after each line, so a handler installed after it would be undone, and Ctrl-C after
/// the end of the console's input (the terminal back in cooked mode) would kill the hub
/// without `BYE`. Call it before the console starts.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                    only.recv().await;
                }
                (Err(err), Err(_)) => {
                    tracing::warn!(%err, "cannot catch Ctrl-C or SIGTERM; stop the hub with /quit");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let ctrl_c = tokio::signal::windows::ctrl_c();
        async move {
            match ctrl_c {
                Ok(mut ctrl_c) => {
                    ctrl_c.recv().await;
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot catch Ctrl-C; stop the hub with /quit");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// This machine's name, cut to fit a hub name: the default `--hub-name`.
pub fn host_name() -> String {
    #[cfg(unix)]
    let name = {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if ok {
            String::from_utf8_lossy(&buf[..len]).into_owned()
        } else {
            String::new()
        }
    };
    #[cfg(not(unix))]
    let name = std::env::var("COMPUTERNAME").unwrap_or_default();
    pipehub_protocol::truncate_utf8(&name, pipehub_protocol::MAX_NAME_LEN).to_owned()
}

/// The terminal's mode (termios) before the console's line editor changed it, to put
/// back if the hub stops while the editor has it.
#[cfg(unix)]
pub struct TerminalMode(libc::termios);

#[cfg(unix)]
impl TerminalMode {
    /// The mode of the terminal on stdin now, if there is one to save.
    pub fn capture() -> Option<TerminalMode> {
        // SAFETY: tcgetattr writes a termios for fd 0 into the struct it is given; it is
        // used only if the call succeeds.
        unsafe {
            let mut mode: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(libc::STDIN_FILENO, &mut mode) == 0).then_some(TerminalMode(mode))
        }
    }

    /// Puts the saved mode back.
    pub fn restore(&self) {
        // SAFETY: tcsetattr only reads the termios it is given.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}

/// On Windows the editor puts the console mode back whenever a line is read; a hub
/// stopped while the editor waits leaves the mode to the shell, which sets its own.
#[cfg(not(unix))]
pub struct TerminalMode;

#[cfg(not(unix))]
impl TerminalMode {
    /// The mode of the terminal on stdin now, if there is one to save.
    pub fn capture() -> Option<TerminalMode> {
        None
    }

    /// Puts the saved mode back.
    pub fn restore(&self) {}
}

/// Starts `command` in a process group of its own (Unix), so that a Ctrl-C meant for the
/// hub's terminal reaches the hub alone, which then stops its children in order.
pub fn own_process_group(command: &mut std::process::Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// A private place to serve an endpoint for a while, such as the demo's: on Unix a fresh
/// directory only this user may enter (`prefix`, the process ID and 64 random bits; give
/// it back with [`std::fs::remove_dir_all`]) and the socket path in it; on Windows a pipe
/// name of this process's own, and no directory.
pub fn private_endpoint(prefix: &str) -> std::io::Result<(String, Option<std::path::PathBuf>)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{:016x}",
            std::process::id(),
            getrandom::u64().unwrap_or_default()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok((dir.join("hub.sock").display().to_string(), Some(dir)))
    }
    #[cfg(not(unix))]
    {
        let name = format!("{prefix}-{}", std::process::id());
        Ok((pipehub_protocol::endpoint::resolve(&name), None))
    }
}
