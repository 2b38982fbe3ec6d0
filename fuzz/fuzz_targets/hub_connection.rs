//! Fuzz target: the hub's per-connection state machine (handshake, text detection,
//! session, protocol errors, closing), driven over real Unix socket connections.
//!
//! One hub is started in-process, once per fuzz process: a tokio runtime, a
//! `pipehub::Hub` and `server::serve` on a socket in a private temporary directory. Each
//! input (see `ConnectionInput`) is sent over a fresh connection, in writes of the size
//! the input picks, and the connection then ends the way the input picks: half-closed,
//! dropped at once, or kept open. Once the client is done writing, whatever registered
//! as a client is removed (kicked), so every connection ends however the input left the
//! session. Then the hub must still be healthy:
//! - the connection ended: the hub answered, closed it, or noticed it was gone, within
//!   [`PATIENCE`] (no hang, whatever the input);
//! - a fresh listener completes the handshake and receives a new broadcast, with sequence
//!   numbers gap-free or an exact `LAGGED`;
//! - the hub forgets every client once its connection is gone;
//! - the process holds no more file descriptors than a few connections need.
//!
//! A panic on any hub task aborts the process (libFuzzer's panic hook), and the input is
//! saved as a crash.
#![no_main]

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pipehub::{Config, ConsoleEvent, Hub, server, transport::Listener};
use pipehub_fuzz::{ConnectionInput, Ending, seeds::FUZZ_HUB_MAX_FRAME};
use pipehub_protocol::{Frame, FrameCodec, Hello, Role};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{UnixStream, unix::OwnedReadHalf},
    runtime::Runtime,
    sync::Notify,
};
use tokio_util::codec::Decoder;

/// How long anything the hub should do promptly may take before it counts as a hang.
const PATIENCE: Duration = Duration::from_secs(5);

/// Pauses between the pieces of a chunked input, so that the hub reads them apart; past
/// this many pieces the rest goes in one write.
const PAUSED_PIECES: usize = 8;
const PIECE_PAUSE: Duration = Duration::from_micros(20);

/// How many times [`all_gone`] looks again after a short pause before it sleeps on the
/// runtime's timer (a millisecond at least). The pause blocks this thread only, and leaves
/// the cores to the hub's workers.
const SPINS: u32 = 200;
const SPIN_PAUSE: Duration = Duration::from_micros(20);

/// File descriptors the process may hold between inputs: the runtime, the listener,
/// libFuzzer's own, and a few connections the hub is still closing.
const MAX_OPEN_FDS: usize = 128;

/// The hub every input talks to.
struct Harness {
    runtime: Runtime,
    hub: Hub,
    /// Notified whenever a client finishes its handshake (from the console's events).
    joined: Arc<Notify>,
    endpoint: String,
    dir: PathBuf,
    runs: AtomicU64,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Limits small enough for short inputs to reach them: a 4 KiB frame limit, a short
/// queue and history, and a short handshake timeout so that stalled inputs end quickly.
/// The text grace stays long enough that the health check's `HELLO`, written right after
/// it connects, is never late for it, even on a busy machine (at 5 ms it was: the check
/// was served as a text listener and waited for a `WELCOME` in vain). No keepalive:
/// every connection ends within milliseconds.
fn config() -> Config {
    Config {
        max_frame: FUZZ_HUB_MAX_FRAME,
        queue_frames: 64,
        queue_bytes: 64 * 1024,
        history_frames: 16,
        history_bytes: 8 * 1024,
        keepalive: None,
        text_grace: Duration::from_millis(200),
        handshake_timeout: Duration::from_millis(10),
        shutdown_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        // libFuzzer's main starts this process, not Rust's, so SIGPIPE is not ignored:
        // the hub writing to a connection an input dropped would kill the process.
        // SAFETY: setting a signal disposition before any other thread writes sockets.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let dir = tempfile::Builder::new()
            .prefix("pipehub-fuzz-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let endpoint = dir.join("hub.sock").display().to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (hub, events) = Hub::new(config());
        let listener = runtime
            .block_on(async { Listener::bind(&endpoint) })
            .expect("bind the fuzz hub's endpoint");
        // The operator's console, reading every event (and showing none): client
        // messages still go through the console channel and wait for room in it.
        let joined = Arc::new(Notify::new());
        let mut events = events;
        let joins = joined.clone();
        runtime.spawn(async move {
            while let Some(event) = events.recv().await {
                if matches!(event, ConsoleEvent::Joined { .. }) {
                    joins.notify_one();
                }
                std::hint::black_box(format!("{event:?}"));
            }
        });
        let served = hub.clone();
        runtime.spawn(async move {
            server::serve(&served, listener, std::future::pending::<()>()).await;
        });
        // SAFETY: registers a plain function; it only removes a directory.
        unsafe { libc::atexit(remove_endpoint_dir) };
        Harness {
            runtime,
            hub,
            joined,
            endpoint,
            dir,
            runs: AtomicU64::new(0),
        }
    })
}

extern "C" fn remove_endpoint_dir() {
    if let Some(harness) = HARNESS.get() {
        let _ = std::fs::remove_dir_all(&harness.dir);
    }
}

fuzz_target!(|input: &[u8]| {
    let harness = harness();
    let input = ConnectionInput::parse(input);
    harness.runtime.block_on(async {
        within(harness, "the connection to end", send(harness, &input)).await;
        check_health(harness).await;
        within(harness, "the hub to forget every client", all_gone(harness)).await;
    });
    if harness
        .runs
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(1024)
    {
        let open = open_fds();
        assert!(open <= MAX_OPEN_FDS, "{open} file descriptors open: a leak");
    }
});

/// Awaits `future`, panicking (a crash libFuzzer records) if it takes over [`PATIENCE`],
/// with what the hub holds at that moment.
async fn within<T>(harness: &Harness, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!(
            "the hub hung: waited {PATIENCE:?} for {what}; it holds {}",
            held(harness)
        ),
    }
}

/// The clients the hub holds, and its counters, for a report.
fn held(harness: &Harness) -> String {
    let clients: Vec<String> = harness
        .hub
        .clients()
        .iter()
        .map(|c| format!("client {} ({}, {:?})", c.id, c.kind.name(), c.name))
        .collect();
    format!("{clients:?}; {:?}", harness.hub.stats())
}

/// Sends the input over a fresh connection and ends it as the input says.
async fn send(harness: &Harness, input: &ConnectionInput<'_>) {
    let stream = UnixStream::connect(&harness.endpoint)
        .await
        .expect("connect to the fuzz hub");
    let (read, mut write) = stream.into_split();
    let written = Notify::new();
    let writing = async {
        for (i, piece) in input.data.chunks(input.chunk).enumerate() {
            if i > 0 && i < PAUSED_PIECES {
                std::thread::sleep(PIECE_PAUSE);
            }
            // The hub may close first (after an ERROR, say): then the rest is not sent.
            if write.write_all(piece).await.is_err() {
                break;
            }
        }
        if input.ending == Ending::HalfClose {
            let _ = write.shutdown().await;
        }
        written.notify_one();
    };
    match input.ending {
        Ending::Drop => {
            // Read nothing; the hub's answers pile up until the connection is gone.
            writing.await;
            drop((read, write));
        }
        Ending::HalfClose | Ending::Stay => {
            // Read while writing: a client that never reads its PONGs would block the
            // hub's writes and, in turn, this client's.
            tokio::join!(writing, read_until_closed(harness, read, &written));
        }
    }
}

/// Reads everything the hub sends until it closes the connection. Once the input is
/// written, kicks every registered client (only this connection can be one), then again
/// whenever a client joins, so that a listener or a text client is closed too.
async fn read_until_closed(harness: &Harness, read: OwnedReadHalf, written: &Notify) {
    let mut buf = vec![0; 64 * 1024];
    let mut done = false;
    loop {
        if done {
            for client in harness.hub.clients() {
                harness.hub.kick(client.id, "the fuzz input is done");
            }
        }
        tokio::select! {
            ready = read.readable() => {
                if ready.is_err() {
                    return;
                }
                match read.try_read(&mut buf) {
                    Ok(0) => return,
                    Err(err) if err.kind() != std::io::ErrorKind::WouldBlock => return,
                    Ok(_) | Err(_) => {}
                }
            }
            () = written.notified(), if !done => done = true,
            () = harness.joined.notified(), if done => {}
            // A join the console did not show (it was behind) is caught here.
            () = tokio::time::sleep(Duration::from_millis(1)), if done => {}
        }
    }
}

/// A fresh listener is welcomed and receives a new broadcast, each within [`PATIENCE`];
/// every broadcast before it arrives in order, with an exact `LAGGED` for any it missed.
async fn check_health(harness: &Harness) {
    let mut stream = UnixStream::connect(&harness.endpoint)
        .await
        .expect("connect to the fuzz hub");
    let hello = Frame::Hello(Hello::new(Role::Listener).with_name("health"));
    stream
        .write_all(&hello.to_bytes())
        .await
        .expect("send HELLO");
    let mut reader = FrameReader::default();
    let welcome = match within(harness, "WELCOME", reader.next(&mut stream)).await {
        Frame::Welcome(welcome) => welcome,
        other => panic!("a healthy hub welcomes a listener; it sent {other:?}"),
    };
    assert_eq!(welcome.max_frame, FUZZ_HUB_MAX_FRAME);
    let published = harness
        .hub
        .publish(b"health check")
        .expect("publish a broadcast");
    // A publisher the input dropped may still have broadcasts being taken.
    let mut expected = welcome.current_seq.0 + 1;
    loop {
        match within(harness, "a broadcast", reader.next(&mut stream)).await {
            Frame::Broadcast(broadcast) => {
                assert_eq!(broadcast.seq.0, expected, "a gap without LAGGED");
                if broadcast.seq == published {
                    assert_eq!(&broadcast.body[..], b"health check");
                    return;
                }
                expected += 1;
            }
            Frame::Lagged { missed, next_seq } => {
                assert!(missed >= 1, "LAGGED of nothing");
                assert_eq!(next_seq.0, expected + missed, "LAGGED with a wrong count");
                expected = next_seq.0;
            }
            other => panic!("a listener received {other:?} before its broadcast"),
        }
    }
}

/// Waits until the hub has no registered client.
async fn all_gone(harness: &Harness) {
    let mut idle = 0;
    while harness.hub.client_count() > 0 {
        idle += 1;
        if idle < SPINS {
            std::thread::sleep(SPIN_PAUSE);
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Reads whole frames from a connection.
#[derive(Default)]
struct FrameReader {
    buf: BytesMut,
    codec: FrameCodec,
}

impl FrameReader {
    async fn next(&mut self, stream: &mut UnixStream) -> Frame {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).expect("a valid frame") {
                return frame;
            }
            let n = stream.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the hub closed a healthy listener's connection");
        }
    }
}

/// How many file descriptors this process holds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}
