//! A real NATS server for the bridge tests: Debian's `nats-server`, started on 127.0.0.1
//! with a port of its own choosing, stopped by PID when the test ends, and restartable on
//! the same port (to test that bridged hubs ride out an outage).

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use crate::{HubProcess, Lines, Scratch};

/// A running `nats-server`.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    /// Extra arguments it was started with (such as `--auth TOKEN`), used again on
    /// [`NatsServer::restart`].
    args: Vec<String>,
}

impl NatsServer {
    /// Starts a NATS server on 127.0.0.1 with a free port.
    pub fn start() -> NatsServer {
        NatsServer::start_with(&[])
    }

    /// Starts a NATS server on 127.0.0.1 with a free port and `args` besides.
    pub fn start_with(args: &[&str]) -> NatsServer {
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let (child, port) = spawn("-1", &args);
        NatsServer {
            child: Some(child),
            port,
            args,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: connections drop at once, as when its host dies).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let (child, port) = spawn(&self.port.to_string(), &self.args);
        assert_eq!(port, self.port, "nats-server came back on another port");
        self.child = Some(child);
    }

    /// Starts a hub named `name` on its own endpoint in `scratch`, bridged through this
    /// server.
    pub fn bridged_hub(&self, scratch: &Scratch, name: &str) -> HubProcess {
        HubProcess::start(
            &scratch.endpoint(&format!("{name}.sock")),
            &["--bridge", &self.url(), "--hub-name", name],
        )
    }

    /// Hubs named `names`, bridged through this server, once each has subscribed (before
    /// that, broadcasts from the others do not reach it).
    pub fn connected_hubs<const N: usize>(
        &self,
        scratch: &Scratch,
        names: [&str; N],
    ) -> [HubProcess; N] {
        let hubs = names.map(|name| self.bridged_hub(scratch, name));
        for hub in &hubs {
            hub.wait_for_bridge("connected");
        }
        hubs
    }

    /// Publishes `payload` on `subject` as a plain NATS client, and waits until the
    /// server has taken it.
    pub fn publish(&self, subject: &str, payload: &[u8]) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to nats");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("INFO from nats");
        assert!(line.starts_with("INFO"), "{line}");
        let mut writer = stream;
        write!(
            writer,
            "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nPUB {subject} {}\r\n",
            payload.len()
        )
        .expect("write");
        writer.write_all(payload).expect("write");
        writer.write_all(b"\r\nPING\r\n").expect("write");
        loop {
            line.clear();
            assert!(
                reader.read_line(&mut line).expect("read") > 0,
                "nats closed"
            );
            if line.starts_with("PONG") {
                return;
            }
            assert!(!line.starts_with("-ERR"), "nats refused: {line}");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `nats-server` on `port` (`-1`: one it picks) and waits until it is ready.
fn spawn(port: &str, args: &[String]) -> (Child, u16) {
    let mut child = Command::new(binary())
        .args(["-a", "127.0.0.1", "-p", port])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start nats-server ({e}); install it: bash .ci/packages")
        });
    let log = Lines::spawn(child.stderr.take().expect("stderr"));
    let marker = "Listening for client connections on ";
    let listening = log.until(|line| line.contains(marker) || line.contains("[FTL]"));
    let Some((_, address)) = listening.split_once(marker) else {
        let _ = child.kill();
        panic!("nats-server did not start: {listening}");
    };
    let port = address
        .rsplit(':')
        .next()
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {listening:?}"));
    log.until(|line| line.contains("Server is ready"));
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || while log.next().is_some() {});
    (child, port)
}

/// Where `nats-server` is: `$PIPEHUB_NATS_SERVER`, else on `PATH`, else where Debian
/// puts it (`/usr/sbin`, not on every user's `PATH`).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PIPEHUB_NATS_SERVER") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.exists());
    on_path.unwrap_or_else(|| "/usr/sbin/nats-server".into())
}
