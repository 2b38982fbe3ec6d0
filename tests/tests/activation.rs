//! Running under systemd: the real hub started with a listening socket it inherits
//! (`LISTEN_FDS`, `LISTEN_PID`) serves that socket instead of binding its own, tells the
//! service manager `READY=1` on `NOTIFY_SOCKET`, and leaves the socket file alone when it
//! stops. Operator messages come from `pipehub-client send`, not stdin.
//!
//! Two ways in: the test passing descriptor 3 itself, exactly as systemd's protocol says;
//! and Debian's `systemd-socket-activate`, as an operator would try it by hand.
#![cfg(target_os = "linux")]

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipehub_tests::{
    Lines, PATIENCE, Scratch, binary, client, output_within, signal, wait_timeout,
};

/// The service manager's side of `NOTIFY_SOCKET`: a datagram socket the hub writes its
/// state to.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { socket, path }
    }

    /// Waits for a message that contains `line` (such as `READY=1`); returns it whole.
    fn expect(&self, line: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = vec![0; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line} on NOTIFY_SOCKET within {PATIENCE:?}"
            );
            self.socket
                .set_read_timeout(Some(left))
                .expect("read timeout");
            if let Ok(n) = self.socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                if message.lines().any(|l| l == line) {
                    return message;
                }
            }
        }
    }
}

/// A hub process started the way a service manager starts it.
struct ActivatedHub {
    child: Child,
    stdout: Lines,
    _stderr: Lines,
}

impl ActivatedHub {
    fn spawn(mut command: Command) -> ActivatedHub {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the hub");
        let stdout = Lines::spawn(child.stdout.take().expect("stdout"));
        let stderr = Lines::spawn(child.stderr.take().expect("stderr"));
        ActivatedHub {
            child,
            stdout,
            _stderr: stderr,
        }
    }

    /// Stops the hub with SIGTERM, as systemd does, and checks it exits cleanly.
    fn stop(mut self) {
        signal(&self.child, libc::SIGTERM);
        let status = wait_timeout(&mut self.child);
        assert!(status.success(), "the hub exited with {status}");
    }
}

impl Drop for ActivatedHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener that prints message bodies; and the lines it printed.
fn listener(endpoint: &str) -> (Child, Lines) {
    let mut child = client(endpoint, &["listen", "--format", "plain"])
        .spawn()
        .expect("start a listener");
    let lines = Lines::spawn(child.stdout.take().expect("stdout"));
    (child, lines)
}

/// `pipehub-client send TEXT`, which must succeed.
fn send(endpoint: &str, text: &str) {
    let sent = output_within(client(endpoint, &["send", text]).spawn().expect("send"));
    assert!(sent.status.success(), "send failed: {sent:?}");
}

/// Starts `pipehub` (with `--exit-on-eof`, which must not matter: stdin is not read)
/// with `listening` as descriptor 3 and the environment of systemd's protocol. `sh`
/// sets `LISTEN_PID` to its own PID and `exec`s the hub, which keeps that PID.
fn start_with_inherited_socket(listening: RawFd, notify: &Path) -> ActivatedHub {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
        .arg(binary("pipehub"))
        .arg("--exit-on-eof")
        .env("NOTIFY_SOCKET", notify);
    // SAFETY: between fork and exec the closure only calls dup2 and fcntl, which are
    // async-signal-safe, on a descriptor this process owns.
    unsafe {
        command.pre_exec(move || {
            if listening == 3 {
                // Already in place: only let it survive exec.
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(listening, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ActivatedHub::spawn(command)
}

#[test]
fn an_inherited_socket_is_served_and_ready_is_notified() {
    let scratch = Scratch::new();
    let dir = scratch.dir.path();
    let path = dir.join("hub.sock");
    let endpoint = path.display().to_string();
    let notify = NotifySocket::bind(dir);
    // The service manager's socket, created before the hub exists.
    let socket = UnixListener::bind(&path).expect("bind the unit's socket");

    let hub = start_with_inherited_socket(socket.as_raw_fd(), &notify.path);
    let ready = notify.expect("READY=1");
    assert!(
        ready.contains(&format!("STATUS=serving {endpoint}")),
        "{ready}"
    );

    // stdin (/dev/null) has ended long ago, --exit-on-eof notwithstanding: still serving.
    std::thread::sleep(Duration::from_millis(200));
    let (mut listening, lines) = listener(&endpoint);
    hub.stdout.until(|line| line.contains(" joined as "));
    send(&endpoint, "through the inherited socket");
    assert_eq!(
        lines.next().as_deref(),
        Some("through the inherited socket")
    );

    hub.stop();
    notify.expect("STOPPING=1");
    // The socket file belongs to the service manager: the hub leaves it in place.
    assert!(path.exists(), "the hub removed the inherited socket file");
    let _ = listening.kill();
    let _ = listening.wait();
    drop(socket);
}

#[test]
fn systemd_socket_activate_starts_the_hub_on_the_first_connection() {
    let tool = Path::new("/usr/bin/systemd-socket-activate");
    assert!(
        tool.exists(),
        "this test runs the hub under systemd-socket-activate, which is not installed; \
         install it with `apt-get update && apt-get install -y systemd`"
    );
    let scratch = Scratch::new();
    let dir = scratch.dir.path();
    let path = dir.join("hub.sock");
    let endpoint = path.display().to_string();
    let notify = NotifySocket::bind(dir);

    let mut command = Command::new(tool);
    command
        .arg("--listen")
        .arg(&path)
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify.path.display()))
        .arg(binary("pipehub"));
    let hub = ActivatedHub::spawn(command);
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // The first connection starts the hub; it waits in the backlog meanwhile.
    let (mut listening, lines) = listener(&endpoint);
    notify.expect("READY=1");
    hub.stdout.until(|line| line.contains(" joined as "));
    send(&endpoint, "hello from a socket unit");
    assert_eq!(lines.next().as_deref(), Some("hello from a socket unit"));

    hub.stop();
    assert!(
        path.exists(),
        "the hub removed the socket file it did not create"
    );
    let _ = listening.kill();
    let _ = listening.wait();
}
