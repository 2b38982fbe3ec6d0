//! Shared helpers for the hub's in-process tests: start a real hub on a fresh socket in
//! a temporary directory, and talk to it with raw protocol frames.
#![allow(dead_code)] // each test file uses a different part

use std::{path::PathBuf, time::Duration};

use bytes::{Bytes, BytesMut};
use pipehub::{Config, ConsoleEvent, Hub, server, transport::Listener};
use pipehub_protocol::{Frame, FrameCodec, Hello, Role, Welcome};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixStream,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::codec::Decoder;

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A hub served in this process on a socket in its own temporary directory.
pub struct TestHub {
    pub hub: Hub,
    pub endpoint: String,
    pub events: mpsc::Receiver<ConsoleEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestHub {
    pub async fn start() -> TestHub {
        TestHub::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> TestHub {
        let dir = tempfile::tempdir().expect("tempdir");
        let endpoint = dir.path().join("hub.sock").display().to_string();
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

    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.endpoint)
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
    pub stream: UnixStream,
    buf: BytesMut,
    codec: FrameCodec,
}

impl RawClient {
    pub async fn connect(endpoint: &str) -> RawClient {
        RawClient {
            stream: UnixStream::connect(endpoint).await.expect("connect"),
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
