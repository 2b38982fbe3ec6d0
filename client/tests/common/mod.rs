//! A fake hub for the client's tests: a Unix socket in a temporary directory, and the hub
//! side of each connection as raw frames through the protocol's own `FrameCodec`.
//!
//! The real hub is tested elsewhere; here each test scripts exactly what "the hub" says,
//! including things a correct hub never says, and checks how the client reacts.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use pipehub_client::protocol::{
    Broadcast, ClientId, DEFAULT_MAX_FRAME, Frame, FrameCodec, Hello, HubInstance, Origin, Seq,
    VERSION, Welcome,
};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::Framed;

/// A listening fake hub. The socket file lives as long as this value.
pub struct FakeHub {
    dir: TempDir,
    listener: UnixListener,
    endpoint: String,
}

impl FakeHub {
    /// Binds a fresh socket in a new temporary directory.
    pub fn bind() -> FakeHub {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("hub.sock");
        FakeHub::bind_at(dir, &path)
    }

    /// Binds the socket `path` in `dir` (as [`missing_endpoint`] gave them), for a hub
    /// that comes up after its clients.
    pub fn bind_at(dir: TempDir, path: &Path) -> FakeHub {
        let listener = UnixListener::bind(path).expect("bind the fake hub's socket");
        FakeHub {
            dir,
            listener,
            endpoint: path.to_string_lossy().into_owned(),
        }
    }

    /// A fake hub that answers one client's `HELLO` with `frame`, then closes. Returns
    /// its endpoint; the hub lives in a task until it has answered.
    pub fn answering_hello_with(frame: Frame) -> String {
        let hub = FakeHub::bind();
        let endpoint = hub.endpoint();
        tokio::spawn(async move {
            let mut side = hub.accept().await;
            side.expect_hello().await;
            side.send(frame).await;
        });
        endpoint
    }

    /// A fake hub that welcomes one client with `current_seq`, sends it `frames`, and
    /// stays until the client goes. Returns its endpoint.
    pub fn welcoming_and_sending(current_seq: u64, frames: Vec<Frame>) -> String {
        let hub = FakeHub::bind();
        let endpoint = hub.endpoint();
        tokio::spawn(async move {
            let (mut side, _) = hub.accept_welcomed(current_seq).await;
            side.send_all(frames).await;
            side.recv().await;
        });
        endpoint
    }

    /// The endpoint clients connect to.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> HubSide {
        let (stream, _) = self.listener.accept().await.expect("accept a client");
        HubSide {
            framed: Framed::new(stream, FrameCodec::default()),
        }
    }

    /// Accepts a client, checks its `HELLO` and welcomes it with `current_seq`.
    pub async fn accept_welcomed(&self, current_seq: u64) -> (HubSide, Hello) {
        self.accept_with(welcome(current_seq)).await
    }

    /// Accepts a client, checks its `HELLO` and answers with `welcome`.
    pub async fn accept_with(&self, welcome: Welcome) -> (HubSide, Hello) {
        let mut side = self.accept().await;
        let hello = side.expect_hello().await;
        side.send(Frame::Welcome(welcome)).await;
        (side, hello)
    }
}

/// A socket path in a fresh temporary directory where nothing listens (yet).
pub fn missing_endpoint() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("nobody.sock");
    (dir, path)
}

/// The hub's end of one connection.
pub struct HubSide {
    framed: Framed<UnixStream, FrameCodec>,
}

impl HubSide {
    /// Reads the client's first frame and checks it is a `HELLO`.
    pub async fn expect_hello(&mut self) -> Hello {
        match self.recv().await {
            Some(Frame::Hello(hello)) => hello,
            other => panic!("expected HELLO, got {other:?}"),
        }
    }

    /// Writes one frame.
    pub async fn send(&mut self, frame: Frame) {
        self.framed
            .send(frame)
            .await
            .expect("write a frame to the client");
    }

    /// Writes several frames with one write.
    pub async fn send_all(&mut self, frames: impl IntoIterator<Item = Frame>) {
        for frame in frames {
            self.framed.feed(frame).await.expect("queue a frame");
        }
        SinkExt::<Frame>::flush(&mut self.framed)
            .await
            .expect("write frames to the client");
    }

    /// Writes raw bytes, framed or not.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        SinkExt::<Frame>::flush(&mut self.framed)
            .await
            .expect("flush");
        self.framed
            .get_mut()
            .write_all(bytes)
            .await
            .expect("write raw bytes");
    }

    /// Reads the client's next frame; `None` at the end of the connection.
    pub async fn recv(&mut self) -> Option<Frame> {
        match self.framed.next().await {
            Some(Ok(frame)) => Some(frame),
            Some(Err(err)) => panic!("client sent something unreadable: {err}"),
            None => None,
        }
    }

    /// Reads frames until a `PING` and returns its nonce with the `SEND` bodies before it.
    pub async fn recv_until_ping(&mut self) -> (Vec<Bytes>, u64) {
        let mut bodies = Vec::new();
        loop {
            match self.recv().await {
                Some(Frame::Send(body)) => bodies.push(body),
                Some(Frame::Ping(nonce)) => return (bodies, nonce),
                other => panic!("expected SEND or PING, got {other:?}"),
            }
        }
    }
}

/// The hub instance of [`welcome`].
pub const INSTANCE: HubInstance = HubInstance(0x1234);

/// A `WELCOME` for client 7 with default limits, from hub instance [`INSTANCE`].
pub fn welcome(current_seq: u64) -> Welcome {
    Welcome {
        version: VERSION,
        client_id: ClientId(7),
        hub_instance: INSTANCE,
        current_seq: Seq(current_seq),
        max_frame: DEFAULT_MAX_FRAME,
        queue_frames: 1024,
    }
}

/// A direct message from the operator.
pub fn direct(body: &str) -> Frame {
    Frame::Direct {
        sender: ClientId::OPERATOR,
        timestamp_us: 1_700_000_000_000_000,
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// A broadcast from client 3.
pub fn broadcast(seq: u64, body: &str) -> Frame {
    Frame::Broadcast(Broadcast {
        seq: Seq(seq),
        sender: ClientId(3),
        timestamp_us: 1_700_000_000_000_000,
        body: Bytes::copy_from_slice(body.as_bytes()),
    })
}

/// The instance of the other hub that [`origin`] names.
pub const ORIGIN_INSTANCE: HubInstance = HubInstance(0x0123_4567_89ab_cdef);

/// What an `ORIGIN` from a bridged hub says: message `seq` of hub "hub-a" (instance
/// [`ORIGIN_INSTANCE`]), sent there by client 9.
pub fn origin(seq: u64) -> Origin {
    Origin {
        hub_instance: ORIGIN_INSTANCE,
        seq: Seq(seq),
        sender: ClientId(9),
        hub_name: "hub-a".into(),
    }
}

/// A broadcast that came from another hub, as this hub numbers it: sender
/// [`ClientId::REMOTE`]. A bridged hub sends an `ORIGIN` ([`origin`]) right before it.
pub fn remote_broadcast(seq: u64, body: &str) -> Frame {
    Frame::Broadcast(Broadcast {
        seq: Seq(seq),
        sender: ClientId::REMOTE,
        timestamp_us: 1_700_000_000_000_000,
        body: Bytes::copy_from_slice(body.as_bytes()),
    })
}
