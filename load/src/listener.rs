//! One load-test listener: a [`Connection`] read with [`Connection::next_event`], exactly
//! as `pipehub-client listen` reads it, so the numbers are what users get.
//!
//! For every broadcast of this run it notes what kind it is: the first warm-up marker
//! counts the listener as warm, each measured message is counted and its latency
//! recorded, and the end marker ends the session. Sequence numbers go through
//! [`SeqTracker`], so `LAGGED` notices and unexplained gaps are counted, never hidden.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pipehub_protocol::{Hello, Role};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use super::payload::{self, Kind};
use super::stats::{Latency, ListenerOutcome};
use pipehub_client::{ClientError, Connection, Event, SeqTracker};

/// The name load listeners give the hub's operator.
pub const LISTENER_NAME: &str = "load";

/// Pause before retrying a connection the endpoint's backlog had no room for.
const BACKLOG_RETRY: Duration = Duration::from_millis(2);

/// Connects one listener. A full accept backlog (the hub is busy accepting others) is
/// retried until `deadline`; anything else fails at once.
pub async fn connect(endpoint: &str, deadline: Instant) -> Result<Connection, ClientError> {
    let mut hello = Hello::new(Role::Listener);
    hello.name = LISTENER_NAME.to_owned();
    loop {
        match Connection::connect(endpoint, hello.clone()).await {
            Err(ClientError::Io(err)) if backlog_full(&err) && Instant::now() < deadline => {
                tokio::time::sleep(BACKLOG_RETRY).await;
            }
            other => return other,
        }
    }
}

/// A non-blocking `connect` to a Unix socket whose accept backlog is full fails with
/// `EAGAIN` instead of waiting.
fn backlog_full(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// Reads `connection` until the end marker of run `run`, an error, or `stop`.
///
/// `slot` is this listener's place in `counters`, where its count of measured messages is
/// published for the publishers' flow control.
pub async fn listen(
    mut connection: Connection,
    run: u32,
    counters: Arc<Counters>,
    slot: usize,
    latency: Arc<Mutex<Latency>>,
    stop: CancellationToken,
) -> ListenerOutcome {
    let mut reader = Reader {
        run,
        counters: &counters,
        slot,
        latency: &latency,
        tracker: SeqTracker::starting_after(connection.welcome().current_seq),
        outcome: ListenerOutcome {
            connected: true,
            ..ListenerOutcome::default()
        },
        warm: false,
    };
    // One `cancelled` future for the whole session, raced against the whole read loop:
    // a fresh one per event would register and unregister a waiter every time.
    tokio::select! {
        biased;
        () = stop.cancelled() => {}
        () = reader.read_all(&mut connection) => {}
    }
    let mut outcome = reader.outcome;
    outcome.lagged = reader.tracker.missed();
    outcome.unexplained_gaps = reader.tracker.unexplained_gaps();
    counters.listener_ended(slot, outcome.finished);
    outcome
}

/// One listener's state while it reads.
struct Reader<'a> {
    run: u32,
    counters: &'a Counters,
    slot: usize,
    latency: &'a Mutex<Latency>,
    tracker: SeqTracker,
    outcome: ListenerOutcome,
    warm: bool,
}

impl Reader<'_> {
    /// Reads events until the end marker or the end of the session.
    async fn read_all(&mut self, connection: &mut Connection) {
        // Frames decoded from one read arrived together: they share one receive time, so
        // the clock is read once per read, not once per frame.
        let mut received_ns = 0;
        loop {
            let buffered = connection.event_ready();
            let event = connection.next_event().await;
            if !buffered {
                received_ns = payload::now_ns();
            }
            match event {
                Ok(Some(Event::Broadcast { broadcast, .. })) => {
                    self.tracker.observe_broadcast(broadcast.seq);
                    if self.on_message(&broadcast.body, received_ns) {
                        return;
                    }
                }
                Ok(Some(Event::Lagged { missed, next_seq })) => {
                    self.tracker.observe_lagged(missed, next_seq);
                }
                Ok(Some(Event::Bye { reason, text })) => {
                    self.outcome.error = Some(ClientError::Bye { reason, text }.to_string());
                    return;
                }
                // Answers to pings, messages for this client alone: not part of the load.
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.outcome.error = Some(ClientError::Closed.to_string());
                    return;
                }
                Err(err) => {
                    self.outcome.error = Some(err.to_string());
                    return;
                }
            }
        }
    }

    /// Handles one broadcast body; returns whether it was this run's end marker.
    fn on_message(&mut self, body: &[u8], received_ns: u64) -> bool {
        let Some(header) = payload::decode(body) else {
            return false;
        };
        if header.run != self.run {
            return false;
        }
        match header.kind {
            Kind::Marker => {
                if !self.warm {
                    self.warm = true;
                    self.counters.listener_warm();
                }
            }
            Kind::Measured => {
                self.latency
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(received_ns.saturating_sub(header.sent_ns) / 1000);
                let outcome = &mut self.outcome;
                outcome.received += 1;
                outcome.first_receive_ns.get_or_insert(received_ns);
                outcome.last_receive_ns = Some(received_ns);
                self.counters.listener_received(self.slot, outcome.received);
            }
            Kind::End => {
                self.outcome.finished = true;
                return true;
            }
        }
        false
    }
}
