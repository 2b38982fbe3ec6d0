//! One listener on a receiver thread: connects with the same handshake as
//! `pipehub-client listen` (a [`Connection`]), then takes the stream over and reads it in
//! blocks, scanning the frames in place ([`ListenerScan`]).
//!
//! The receiver thread's buffer and histogram are shared by all its listeners
//! ([`Shared`]); a listener borrows them only between two awaits, for one read and its
//! scan, so the thread's tasks never hold them at the same time.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use pipehub_client::protocol::{Hello, Role};
use pipehub_client::transport::Stream;
use pipehub_client::{ClientError, Connection};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::read::read_now;
use super::scan::{Effects, End, ListenerScan, Scanned};
use crate::counters::{Counters, GONE, Slowest};
use crate::payload;
use crate::stats::ListenerOutcome;

/// The name load listeners give the hub's operator.
pub const LISTENER_NAME: &str = "load";

/// Pause before retrying a connection the endpoint's backlog had no room for.
const BACKLOG_RETRY: Duration = Duration::from_millis(2);

/// What the listeners of one receiver thread share.
pub struct Shared {
    /// This thread's place in `counters`.
    pub thread: usize,
    pub counters: Arc<Counters>,
    pub run: u32,
    pub state: RefCell<ThreadState>,
}

/// What one read and scan borrows.
pub struct ThreadState {
    /// Where every read of this thread goes, behind the carried part of a frame.
    pub buf: Vec<u8>,
    /// Latencies, and `PONG`s to send.
    pub effects: Effects,
    /// The slowest listener of this thread, for the flow control.
    pub slowest: Slowest,
}

/// Connects one listener. A full accept backlog (the hub is busy accepting others) is
/// retried until `deadline`; anything else fails at once.
pub async fn connect(endpoint: &str, deadline: Instant) -> Result<Connection, ClientError> {
    let mut hello = Hello::new(Role::Listener);
    hello.name = LISTENER_NAME.to_owned();
    loop {
        match Connection::connect(endpoint, hello.clone()).await {
            Err(ClientError::Io(err))
                if err.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline =>
            {
                // A non-blocking connect to a Unix socket whose backlog is full fails
                // with `EAGAIN` instead of waiting.
                tokio::time::sleep(BACKLOG_RETRY).await;
            }
            other => return other,
        }
    }
}

/// Reads `connection`, listener number `index` of this thread, until the end marker of
/// the run, an error, or the end of the future (the thread stops it with the others).
/// Returns what it saw through `outcome`, which is complete whenever this stops.
pub async fn listen(
    shared: &Shared,
    index: usize,
    connection: Connection,
    outcome: &RefCell<ListenerOutcome>,
) {
    let parts = connection.into_parts();
    let mut scan = ListenerScan::new(
        shared.run,
        parts.welcome.current_seq,
        parts.welcome.max_frame,
    );
    let mut stream = parts.stream;
    let end = match take(shared, index, &mut scan, outcome, Read::Bytes(&parts.read)) {
        Some(end) => Err(end),
        None => read_all(shared, index, &mut scan, outcome, &mut stream).await,
    };
    let (finished, error) = match end {
        Ok(()) | Err(End::Finished) => (true, None),
        Err(End::Failed(error)) => (false, Some(error)),
    };
    let mut outcome = outcome.borrow_mut();
    outcome.finished = finished;
    if outcome.error.is_none() {
        outcome.error = error;
    }
}

/// Reads blocks until the session ends.
async fn read_all(
    shared: &Shared,
    index: usize,
    scan: &mut ListenerScan,
    outcome: &RefCell<ListenerOutcome>,
    stream: &mut Stream,
) -> Result<(), End> {
    loop {
        if let Err(err) = stream.readable().await {
            return Err(End::Failed(ClientError::Io(err).to_string()));
        }
        if let Some(end) = take(shared, index, scan, outcome, Read::From(stream)) {
            return Err(end);
        }
        let pongs = {
            let mut state = shared.state.borrow_mut();
            (!state.effects.pongs.is_empty()).then(|| state.effects.pongs.split())
        };
        if let Some(pongs) = pongs {
            if let Err(err) = stream.write_all(&pongs).await {
                return Err(End::Failed(ClientError::Io(err).to_string()));
            }
        }
    }
}

/// Where one block comes from.
enum Read<'a> {
    /// Bytes already read (past `WELCOME`).
    Bytes(&'a [u8]),
    /// What the stream holds now.
    From(&'a Stream),
}

/// Reads (or takes) one block and scans it, counting what it held; `Some` when the
/// session ended.
fn take(
    shared: &Shared,
    index: usize,
    scan: &mut ListenerScan,
    outcome: &RefCell<ListenerOutcome>,
    read: Read<'_>,
) -> Option<End> {
    let mut state = shared.state.borrow_mut();
    let ThreadState {
        buf,
        effects,
        slowest,
    } = &mut *state;
    let at = scan.stage(buf);
    let n = match read {
        Read::Bytes(bytes) => {
            if buf.len() < at + bytes.len() {
                buf.resize(at + bytes.len(), 0);
            }
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            bytes.len()
        }
        Read::From(stream) => match read_now(stream, &mut buf[at..]) {
            Ok(0) if scan.carried() > 0 => {
                return Some(End::Failed(
                    ClientError::Protocol(pipehub_client::protocol::ProtocolError::Truncated(
                        scan.carried(),
                    ))
                    .to_string(),
                ));
            }
            Ok(0) => return Some(End::Failed(ClientError::Closed.to_string())),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return None,
            Err(err) => return Some(End::Failed(ClientError::Io(err).to_string())),
        },
    };
    if n == 0 {
        return None;
    }
    let scanned = scan.scan_block(&buf[..at + n], payload::now_ns(), effects);
    count(shared, index, scan, &scanned, slowest, outcome);
    scanned.ended
}

/// Publishes what one block brought: to the thread's counters (once per block, not per
/// message), the flow control, and the listener's outcome.
fn count(
    shared: &Shared,
    index: usize,
    scan: &ListenerScan,
    scanned: &Scanned,
    slowest: &mut Slowest,
    outcome: &RefCell<ListenerOutcome>,
) {
    let counts = shared.counters.thread(shared.thread);
    if scanned.warmed {
        counts.warm();
    }
    if scanned.measured > 0 {
        counts.received(scanned.measured);
        if let Some(min) = slowest.set(index, scan.received) {
            shared.counters.set_thread_min(shared.thread, min);
        }
    }
    let mut outcome = outcome.borrow_mut();
    outcome.received = scan.received;
    outcome.lagged = scan.lagged();
    outcome.unexplained_gaps = scan.unexplained_gaps();
    outcome.first_receive_ns = scan.first_receive_ns;
    outcome.last_receive_ns = scan.last_receive_ns;
}

/// Takes listener `index` out of the thread's flow control: it ended, or never
/// connected.
pub fn retire(shared: &Shared, index: usize) {
    let min = shared.state.borrow_mut().slowest.set(index, GONE);
    if let Some(min) = min {
        shared.counters.set_thread_min(shared.thread, min);
    }
}
