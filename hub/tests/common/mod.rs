//! Shared helpers for the hub's in-process tests: start a real hub on a fresh endpoint of
//! its own (a socket in a temporary directory on Unix, a pipe with a unique name on
//! Windows), and talk to it with raw protocol frames over the platform's stream.
//!
//! The tests that use only these helpers run on both platforms; what is about Unix
//! sockets alone (peer credentials, file modes, socket files, half-close) stays
//! `#[cfg(unix)]`, what is about named pipes alone is in `pipe.rs`.
#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pipehub::{Config, ConsoleEvent, Hub, server, transport::Listener};
use pipehub_protocol::{Frame, FrameCodec, Hello, Role, Welcome};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::codec::Decoder;

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A client's end of a connection to the hub.
#[cfg(unix)]
pub type Stream = tokio::net::UnixStream;

/// A client's end of a connection to the hub.
#[cfg(windows)]
pub type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// A fresh endpoint no other test uses: a socket path in a new temporary directory
/// (returned too, so it lives as long as the endpoint).
#[cfg(unix)]
pub fn fresh_endpoint() -> (String, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = dir.path().join("hub.sock").display().to_string();
    (endpoint, Some(dir))
}

/// A fresh endpoint no other test uses: a pipe name unique to this process and call.
#[cfg(windows)]
pub fn fresh_endpoint() -> (String, Option<tempfile::TempDir>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let endpoint = format!(r"\\.\pipe\pipehub-test-{}-{n}", std::process::id());
    (endpoint, None)
}

/// Connects to the hub at `endpoint`, as a plain client that has sent nothing yet.
#[cfg(unix)]
pub async fn connect(endpoint: &str) -> Stream {
    within(tokio::net::UnixStream::connect(endpoint))
        .await
        .expect("connect")
}

/// Connects to the hub at `endpoint`, as a plain client that has sent nothing yet.
/// Retries while every instance of the pipe is busy, as every pipe client must.
#[cfg(windows)]
pub async fn connect(endpoint: &str) -> Stream {
    use tokio::net::windows::named_pipe::ClientOptions;
    within(open_pipe(endpoint, ClientOptions::new())).await
}

/// Opens the pipe `endpoint` with `options`, retrying while all instances are busy.
#[cfg(windows)]
pub async fn open_pipe(
    endpoint: &str,
    options: tokio::net::windows::named_pipe::ClientOptions,
) -> Stream {
    /// Win32 `ERROR_PIPE_BUSY`.
    const PIPE_BUSY: i32 = 231;
    loop {
        match options.open(endpoint) {
            Ok(stream) => return stream,
            Err(e) if e.raw_os_error() == Some(PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("open {endpoint}: {e}"),
        }
    }
}

/// A hub served in this process on an endpoint of its own.
pub struct TestHub {
    pub hub: Hub,
    pub endpoint: String,
    pub events: mpsc::Receiver<ConsoleEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestHub {
    pub async fn start() -> TestHub {
        TestHub::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> TestHub {
        let (endpoint, dir) = fresh_endpoint();
        let listener = Listener::bind(&endpoint).expect("bind");
        let (hub, events) = Hub::new(config);
        let (stop, stopped) = oneshot::channel::<()>();
        let served = hub.clone();
        let task = tokio::spawn(async move {
            server::serve(&served, listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        TestHub {
            hub,
            endpoint,
            events,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// The socket file.
    #[cfg(unix)]
    pub fn path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.endpoint)
    }

    /// Starts a graceful shutdown and waits until the hub has finished it.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("hub shut down in time")
                .expect("hub task");
        }
    }

    /// Waits until the hub has `n` registered clients.
    pub async fn wait_for_clients(&self, n: usize) {
        within(async {
            while self.hub.client_count() != n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    /// The next console event that is a client message.
    pub async fn next_message(&mut self) -> (u64, Bytes, bool) {
        within(async {
            loop {
                match self.events.recv().await.expect("console open") {
                    ConsoleEvent::Message {
                        from,
                        body,
                        broadcast,
                        ..
                    } => return (from.0, body, broadcast),
                    _ => continue,
                }
            }
        })
        .await
    }
}

/// A configuration with a short text grace so tests run fast.
pub fn test_config() -> Config {
    Config {
        text_grace: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(3),
        ..Config::default()
    }
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out waiting")
}

/// A client speaking raw frames.
pub struct RawClient {
    pub stream: Stream,
    buf: BytesMut,
    codec: FrameCodec,
}

impl RawClient {
    pub async fn connect(endpoint: &str) -> RawClient {
        RawClient {
            stream: connect(endpoint).await,
            buf: BytesMut::new(),
            codec: FrameCodec::default(),
        }
    }

    /// Connects and completes the handshake with `role`.
    pub async fn join(endpoint: &str, role: Role) -> (RawClient, Welcome) {
        let mut client = RawClient::connect(endpoint).await;
        client.send(&Frame::Hello(Hello::new(role))).await;
        match client.recv().await {
            Some(Frame::Welcome(welcome)) => (client, welcome),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.send_raw(&frame.to_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next frame; `None` at a clean end of stream (or a reset after the hub
    /// closed a connection that still had unread input).
    pub async fn recv(&mut self) -> Option<Frame> {
        within(self.recv_unbounded()).await
    }

    async fn recv_unbounded(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self
                .codec
                .decode(&mut self.buf)
                .expect("hub sent a valid frame")
            {
                return Some(frame);
            }
            self.buf.reserve(64 * 1024);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "hub closed the connection mid-frame");
                    return None;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next frame, which must be a broadcast; returns (seq, body).
    pub async fn recv_broadcast(&mut self) -> (u64, Bytes) {
        match self.recv().await {
            Some(Frame::Broadcast(b)) => (b.seq.0, b.body),
            other => panic!("expected BROADCAST, got {other:?}"),
        }
    }

    /// Everything until the hub closes the connection.
    pub async fn recv_until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.recv().await {
            frames.push(frame);
        }
        frames
    }
}
