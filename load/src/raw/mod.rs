//! The raw baseline (`--baseline raw`): the same workload through the most direct
//! fan-out this machine can do, with no hub in between.
//!
//! It speaks just enough of the pipehub protocol for the very same receivers and
//! publishers to use it: `HELLO` is answered with `WELCOME`, `SEND`s become `BROADCAST`
//! frames (each encoded once), `PING` gets its `PONG`. Nothing else: no console, no
//! registry, no history, no text listeners, no `LAGGED` (a listener that falls far
//! behind holds everyone up instead of losing messages).
//!
//! The fan-out is one writer thread (`writer.rs`) and one log: publishers append encoded
//! frames to the log, and the writer, pass after pass, writes each listener everything
//! it has not had yet with one vectored `write` straight from the log, however many
//! messages that is, and a listener is nothing but its socket and its place in the log.
//! There is no queue per listener, no task per listener, no copy per listener: the cost
//! of a pass is one system call per listener, the practical limit that a hub's
//! deliveries per second are compared with.
//!
//! It runs as its own process (`pipehub-load --endpoint PATH raw-fanout`), so the load
//! command measures it from outside exactly as it measures a hub, with the same
//! receivers: the raw run is the load tool's own ceiling on this machine. That it is a
//! real upper bound is checked, not assumed: `bench/fanout.sh` runs an independent
//! batched fan-out in C (`bench/fanout-check.c`) beside it, and docs/performance.md
//! gives both.

mod writer;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use pipehub_protocol::{
    BROADCAST_BODY_OFFSET, ClientId, DEFAULT_MAX_FRAME, Frame, FrameCodec, HubInstance, Role, Seq,
    VERSION, Welcome, put_broadcast_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_util::codec::Decoder;

/// What `WELCOME` announces as `queue_frames`: the same as a hub's default, so the load
/// command's flow-control window is the same for both.
pub const QUEUE_FRAMES: u32 = 4096;

/// Bytes the slowest listener may be behind the newest frame before publishers wait.
const MAX_BEHIND: u64 = 64 * 1024 * 1024;

/// How long a connection may take to send its `HELLO`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the raw baseline on the Unix socket `endpoint` until the process is killed.
pub async fn serve(endpoint: &str) -> anyhow::Result<()> {
    // Bound under another name and moved into place, so the endpoint appears only once
    // it accepts connections.
    let staging = format!("{endpoint}.staging");
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging)
        .with_context(|| format!("the raw baseline cannot listen on {staging}"))?;
    std::fs::rename(&staging, endpoint)
        .with_context(|| format!("the raw baseline cannot move its socket to {endpoint}"))?;
    let shared = Arc::new(Shared::new());
    let writer_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("raw-writer".to_owned())
        .spawn(move || writer::run(&writer_shared))
        .context("the raw baseline cannot start its writer")?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(Arc::clone(&shared), stream));
            }
            Err(err) => {
                // Out of descriptors, typically: wait for some to be released.
                tracing::warn!(%err, "raw baseline: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the publishers, the writer and the listeners joining share.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer when it has nothing to write: frames were appended, or a
    /// listener joined.
    published: Condvar,
    /// Wakes publishers waiting for the slowest listener to catch up.
    room: Notify,
    /// The log offset of the slowest listener, as of the writer's last pass.
    oldest: AtomicU64,
    instance: HubInstance,
    next_id: AtomicU64,
}

/// What has not reached the writer yet.
struct Pending {
    /// The sequence number of the latest broadcast.
    seq: u64,
    /// The log offset just past the newest frame: every byte ever published.
    head: u64,
    /// Frames published since the writer last took them; they end at `head`.
    frames: BytesMut,
    /// Listeners that joined since the writer's last pass.
    joined: Vec<Joining>,
}

/// A listener on its way to the writer.
struct Joining {
    stream: std::os::unix::net::UnixStream,
    /// Its `WELCOME`, which the writer sends before anything else.
    welcome: Bytes,
    /// The log offset where its broadcasts start: `head` when it joined.
    start: u64,
}

impl Shared {
    fn new() -> Shared {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Shared {
            pending: Mutex::new(Pending {
                seq: 0,
                head: 0,
                frames: BytesMut::new(),
                joined: Vec::new(),
            }),
            published: Condvar::new(),
            room: Notify::new(),
            oldest: AtomicU64::new(0),
            instance: HubInstance(nanos ^ u64::from(std::process::id())),
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new client's ID and its `WELCOME`.
    fn welcome(&self, current_seq: u64) -> (ClientId, Bytes) {
        let client_id = ClientId(self.next_id.fetch_add(1, Relaxed));
        let welcome = Frame::Welcome(Welcome {
            version: VERSION,
            client_id,
            hub_instance: self.instance,
            current_seq: Seq(current_seq),
            max_frame: DEFAULT_MAX_FRAME,
            queue_frames: QUEUE_FRAMES,
        });
        (client_id, welcome.to_bytes())
    }
}

/// Reads the `HELLO`, then serves the connection as a listener or a publisher.
async fn serve_connection(shared: Arc<Shared>, mut stream: UnixStream) {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::with_capacity(256);
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Hello(hello))) => return Some(hello),
                Ok(Some(_)) | Err(_) => return None,
                Ok(None) => {}
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await;
    let Ok(Some(hello)) = hello else {
        return; // silent, slow or not speaking the protocol: not for the baseline
    };
    match hello.role {
        Role::Listener => {
            if let Err(err) = join_listener(&shared, stream) {
                tracing::debug!(%err, "raw baseline: a listener could not join");
            }
        }
        Role::Publisher => {
            if let Err(err) = serve_publisher(&shared, stream, codec, buf).await {
                tracing::debug!(%err, "raw baseline: publisher left");
            }
        }
    }
}

/// Hands a new listener to the writer: from now on its socket is the writer's, and its
/// broadcasts start with the next one published.
fn join_listener(shared: &Shared, stream: UnixStream) -> std::io::Result<()> {
    // Still non-blocking, as the writer wants it.
    let stream = stream.into_std()?;
    let mut pending = shared.lock();
    let (_, welcome) = shared.welcome(pending.seq);
    let start = pending.head;
    pending.joined.push(Joining {
        stream,
        welcome,
        start,
    });
    drop(pending);
    shared.published.notify_one();
    Ok(())
}

/// Turns a publisher's `SEND`s into broadcasts and answers its `PING`s.
async fn serve_publisher(
    shared: &Shared,
    mut stream: UnixStream,
    mut codec: FrameCodec,
    mut buf: BytesMut,
) -> anyhow::Result<()> {
    let current_seq = shared.lock().seq;
    let (id, welcome) = shared.welcome(current_seq);
    stream.write_all(&welcome).await?;
    let mut pongs = BytesMut::new();
    loop {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let (grew, head) = {
            let mut pending = shared.lock();
            let before = pending.head;
            while let Some(frame) = codec.decode(&mut buf)? {
                match frame {
                    Frame::Send(body) => {
                        pending.seq += 1;
                        let seq = Seq(pending.seq);
                        put_broadcast_frame(&mut pending.frames, seq, id, now_us, &body);
                        pending.head += (BROADCAST_BODY_OFFSET + body.len()) as u64;
                    }
                    // Everything before the PING is in the log: it has been taken.
                    Frame::Ping(nonce) => Frame::Pong(nonce).encode(&mut pongs),
                    other => anyhow::bail!("unexpected {} frame", other.frame_type().name()),
                }
            }
            (pending.head > before, pending.head)
        };
        if grew {
            shared.published.notify_one();
        }
        if !pongs.is_empty() {
            stream.write_all(&pongs).await?;
            pongs.clear();
        }
        // Backpressure: the publisher waits while the slowest listener is far behind.
        loop {
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if head.saturating_sub(shared.oldest.load(Relaxed)) <= MAX_BEHIND {
                break;
            }
            room.await;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
