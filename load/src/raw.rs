//! The raw baseline (`--baseline raw`): the same workload through the most direct
//! fan-out this machine can do, with no hub in between.
//!
//! It speaks just enough of the pipehub protocol for the very same listener and
//! publisher code to use it: `HELLO` is answered with `WELCOME`, `SEND`s become
//! `BROADCAST` frames (each encoded once, with `broadcast_frame`), `PING` gets its `PONG`.
//! Nothing else: no console, no registry, no history, no text listeners, no `LAGGED`
//! (a listener that falls far behind holds everyone up instead of losing messages).
//!
//! The fan-out is one loop: publishers append encoded frames to one contiguous batch;
//! the fan-out task takes the whole batch (all frames published since its last pass) and
//! writes it to every listener socket with one non-blocking `write` each. Only a listener
//! whose socket is full gets its remainder queued, drained by its own small task when
//! the socket is writable again. So the cost per pass is one system call per listener,
//! however many messages the batch holds: the practical limit that a hub's
//! deliveries per second are compared with.
//!
//! It runs as its own process (`pipehub-load --endpoint PATH raw-fanout`), so the load
//! command measures it from outside exactly as it measures a hub, with the same
//! receivers: the raw run is the load tool's own ceiling on this machine. That it is a
//! real upper bound is checked, not assumed: `bench/fanout.sh` runs an independent
//! batched fan-out in C (`bench/fanout-check.c`) beside it, and docs/performance.md
//! gives both.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::{Buf, Bytes, BytesMut};
use pipehub_protocol::{
    ClientId, DEFAULT_MAX_FRAME, Frame, FrameCodec, HubInstance, Role, Seq, VERSION, Welcome,
    broadcast_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_util::codec::Decoder;

/// What `WELCOME` announces as `queue_frames`: the same as a hub's default, so the load
/// command's flow-control window is the same for both.
pub const QUEUE_FRAMES: u32 = 4096;

/// Queued bytes at which one listener holds up the fan-out until it drains to half.
const MAX_BACKLOG: usize = 64 * 1024 * 1024;

/// Published bytes at which publishers wait for the fan-out to take the batch.
const MAX_BATCH: usize = 4 * 1024 * 1024;

/// Most queued chunks one vectored write of a slow listener takes.
const WRITE_SLICES: usize = 64;

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
    tokio::spawn(fan_out(Arc::clone(&shared)));
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

/// State shared by the publishers, the fan-out task and the listeners joining.
struct Shared {
    state: Mutex<State>,
    /// Woken when the batch grew or a listener joined.
    published: Notify,
    /// Woken when the fan-out took the batch.
    room: Notify,
    instance: HubInstance,
    next_id: AtomicU64,
}

struct State {
    /// The sequence number of the latest broadcast.
    seq: u64,
    /// Encoded frames not yet written to any listener.
    batch: BytesMut,
    /// Listeners that joined since the fan-out's last pass, each with the offset in
    /// `batch` where its broadcasts start.
    joined: Vec<(Arc<Sink>, usize)>,
}

impl Shared {
    fn new() -> Shared {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Shared {
            state: Mutex::new(State {
                seq: 0,
                batch: BytesMut::new(),
                joined: Vec::new(),
            }),
            published: Notify::new(),
            room: Notify::new(),
            instance: HubInstance(nanos ^ u64::from(std::process::id())),
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        Role::Listener => join_listener(&shared, stream),
        Role::Publisher => {
            if let Err(err) = serve_publisher(&shared, stream, codec, buf).await {
                tracing::debug!(%err, "raw baseline: publisher left");
            }
        }
    }
}

/// Hands a new listener to the fan-out, `WELCOME` first in its queue.
fn join_listener(shared: &Shared, stream: UnixStream) {
    let stream = Arc::new(stream);
    let sink = {
        let mut state = shared.lock();
        let (_, welcome) = shared.welcome(state.seq);
        let sink = Arc::new(Sink::new(Arc::clone(&stream), welcome));
        let offset = state.batch.len();
        state.joined.push((Arc::clone(&sink), offset));
        sink
    };
    shared.published.notify_one();
    tokio::spawn(drain(sink));
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
        let grew = {
            let mut state = shared.lock();
            let before = state.batch.len();
            while let Some(frame) = codec.decode(&mut buf)? {
                match frame {
                    Frame::Send(body) => {
                        state.seq += 1;
                        let frame = broadcast_frame(Seq(state.seq), id, now_us, &body);
                        state.batch.extend_from_slice(&frame);
                    }
                    // Everything before the PING is in the batch: it has been taken.
                    Frame::Ping(nonce) => Frame::Pong(nonce).encode(&mut pongs),
                    other => anyhow::bail!("unexpected {} frame", other.frame_type().name()),
                }
            }
            state.batch.len() > before
        };
        if grew {
            shared.published.notify_one();
        }
        if !pongs.is_empty() {
            stream.write_all(&pongs).await?;
            pongs.clear();
        }
        // Backpressure: the publisher waits while the fan-out is a whole batch behind.
        loop {
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if shared.lock().batch.len() <= MAX_BATCH {
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

/// The fan-out loop: takes the batch and writes it to every listener.
async fn fan_out(shared: Arc<Shared>) {
    let mut listeners: Vec<Arc<Sink>> = Vec::new();
    loop {
        let (chunk, joined) = {
            let mut state = shared.lock();
            (
                state.batch.split().freeze(),
                std::mem::take(&mut state.joined),
            )
        };
        if chunk.is_empty() && joined.is_empty() {
            shared.published.notified().await;
            continue;
        }
        shared.room.notify_waiters();
        if !chunk.is_empty() {
            for sink in &listeners {
                sink.send(chunk.clone());
            }
        }
        for (sink, offset) in joined {
            if offset < chunk.len() {
                sink.send(chunk.slice(offset..));
            }
            listeners.push(sink);
        }
        listeners.retain(|sink| !sink.queue().dead);
        for sink in &listeners {
            sink.wait_below_limit().await;
        }
    }
}

/// One listener's socket and whatever did not fit into it yet.
struct Sink {
    stream: Arc<UnixStream>,
    queue: Mutex<Backlog>,
    /// Wakes the drain task: there is a backlog.
    backlog: Notify,
    /// Wakes the fan-out: the backlog shrank below half the limit.
    drained: Notify,
}

#[derive(Default)]
struct Backlog {
    chunks: VecDeque<Bytes>,
    bytes: usize,
    /// Chunks are queued (or being written by the drain task): new ones must queue
    /// behind them.
    slow: bool,
    dead: bool,
}

impl Sink {
    fn new(stream: Arc<UnixStream>, welcome: Bytes) -> Sink {
        let sink = Sink {
            stream,
            queue: Mutex::new(Backlog::default()),
            backlog: Notify::new(),
            drained: Notify::new(),
        };
        sink.enqueue(welcome);
        sink
    }

    fn queue(&self) -> MutexGuard<'_, Backlog> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `chunk` now if the socket takes it and nothing is queued; queues the rest.
    fn send(&self, chunk: Bytes) {
        {
            let queue = self.queue();
            if queue.dead {
                return;
            }
            if queue.slow {
                drop(queue);
                self.enqueue(chunk);
                return;
            }
        }
        // Only the fan-out sets `slow`, so the drain task is idle here.
        match self.stream.try_write(&chunk) {
            Ok(n) if n == chunk.len() => {}
            Ok(n) => self.enqueue(chunk.slice(n..)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.enqueue(chunk),
            Err(_) => self.queue().dead = true,
        }
    }

    fn enqueue(&self, chunk: Bytes) {
        let mut queue = self.queue();
        queue.bytes += chunk.len();
        queue.chunks.push_back(chunk);
        queue.slow = true;
        drop(queue);
        self.backlog.notify_one();
    }

    /// Waits while this listener's backlog is over the limit.
    async fn wait_below_limit(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let queue = self.queue();
                if queue.dead || queue.bytes <= MAX_BACKLOG {
                    return;
                }
            }
            drained.await;
        }
    }
}

/// Writes a listener's backlog whenever it has one, until the listener is gone.
async fn drain(sink: Arc<Sink>) {
    let mut slices: Vec<Bytes> = Vec::with_capacity(WRITE_SLICES);
    loop {
        sink.backlog.notified().await;
        loop {
            slices.clear();
            {
                let mut queue = sink.queue();
                if queue.dead {
                    return;
                }
                if queue.chunks.is_empty() {
                    queue.slow = false;
                    break;
                }
                slices.extend(queue.chunks.iter().take(WRITE_SLICES).cloned());
            }
            if sink.stream.writable().await.is_err() {
                sink.queue().dead = true;
                sink.drained.notify_waiters();
                return;
            }
            let io_slices: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
            match sink.stream.try_write_vectored(&io_slices) {
                Ok(written) => {
                    let mut queue = sink.queue();
                    queue.bytes -= written;
                    let mut left = written;
                    while left > 0 {
                        let Some(front) = queue.chunks.front_mut() else {
                            break;
                        };
                        if front.len() <= left {
                            left -= front.len();
                            queue.chunks.pop_front();
                        } else {
                            front.advance(left);
                            left = 0;
                        }
                    }
                    if queue.bytes <= MAX_BACKLOG / 2 {
                        sink.drained.notify_waiters();
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    sink.queue().dead = true;
                    sink.drained.notify_waiters();
                    return;
                }
            }
        }
    }
}
