//! [`Hub`]: the state one hub process shares between its accept loop, its connection
//! tasks and its console. Cheap to clone: a handle to the shared state.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use bytes::Bytes;
use pipehub_protocol::{
    BROADCAST_BODY_OFFSET, ByeReason, ClientId, Frame, HubInstance, RefuseCode, Seq,
};
use tokio::sync::mpsc;

use crate::{
    config::Config,
    event::{CONSOLE_QUEUE, ConsoleEvent},
    link::{BridgeReport, LinkState},
    log::{BroadcastLog, Full, now_us},
    pacing::Pacer,
    partial::PartialFrames,
    registry::{ClientInfo, ClientKind, Registry},
};

/// A handle to one hub's shared state.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

/// What every task of one hub shares; reached only through [`Hub`]'s methods.
struct Shared {
    config: Config,
    instance: HubInstance,
    log: BroadcastLog,
    pacer: Pacer,
    /// What frames still arriving may hold, across every client.
    partial: PartialFrames,
    registry: Registry,
    next_id: AtomicU64,
    console: mpsc::Sender<ConsoleEvent>,
    /// Console events not shown because the console was behind.
    not_shown: AtomicU64,
    /// Publishers' broadcasts shown in the current second, and which second that is:
    /// the console shows them at a rate a person can read, and counts the rest.
    shown_second: AtomicU64,
    shown_in_second: AtomicU64,
    /// Connections turned away (not permitted, hub full, bad version), ever.
    refused: AtomicU64,
    /// The same, by reason: one counter for each of `REFUSE_REASONS`.
    refused_by_reason: [AtomicU64; REFUSE_REASONS.len()],
    /// When the hub started, and samples of its counters for the status report's rates.
    meter: crate::meter::Meter,
    /// The bridge's report, once a bridge to other hubs is attached.
    bridge: OnceLock<Arc<dyn BridgeReport>>,
}

/// Why a message could not be sent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The body does not fit in one frame of the hub's maximum size.
    #[error(
        "the message is {len} bytes; the most one message may carry is {max} bytes (--max-frame)"
    )]
    TooLarge { len: usize, max: usize },
    /// No client with that ID is connected.
    #[error("no client {0} is connected (see /list)")]
    NoSuchClient(ClientId),
    /// The client has too many direct messages waiting.
    #[error("client {0} has too many direct messages waiting; it is not reading")]
    MailboxFull(ClientId),
}

/// Counters for the operator and for status requests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub listeners: usize,
    pub publishers: usize,
    pub text_listeners: usize,
    /// Broadcasts so far (the latest sequence number).
    pub broadcasts: u64,
    /// Bytes of broadcast bodies so far.
    pub bytes_broadcast: u64,
    /// Broadcasts taken by client writers so far, summed over clients.
    pub deliveries: u64,
    /// Connected clients that missed at least one broadcast.
    pub lagged_clients: usize,
    /// Broadcasts missed, summed over connected clients.
    pub missed: u64,
    /// Broadcasts retained for clients that are behind and for replay.
    pub retained: usize,
    /// Listeners publishers no longer wait for: they took nothing for the stall timeout.
    pub stalled_listeners: usize,
    /// Publishers whose messages the hub is not taking now, because listeners are behind.
    pub paused_publishers: usize,
    /// Seconds publishers (and piped operator input) spent paused, summed.
    pub paused_seconds: f64,
    /// Connections turned away.
    pub refused: u64,
    /// Connections turned away, by reason: every reason the hub gives, 0 included.
    pub refused_by_reason: Vec<(RefuseCode, u64)>,
}

/// The reasons the hub turns a connection away for, in the order
/// [`Stats::refused_by_reason`] lists them.
pub(crate) const REFUSE_REASONS: [RefuseCode; 4] = [
    RefuseCode::NOT_PERMITTED,
    RefuseCode::HUB_FULL,
    RefuseCode::UNSUPPORTED_VERSION,
    RefuseCode::SHUTTING_DOWN,
];

impl Hub {
    /// A hub with `config`, and the receiving end of its console events (what clients
    /// say and do). Drop the receiver to ignore them.
    pub fn new(config: Config) -> (Hub, mpsc::Receiver<ConsoleEvent>) {
        let (console, events) = mpsc::channel(CONSOLE_QUEUE);
        let shared = Shared {
            bridge: OnceLock::new(),
            log: BroadcastLog::new(
                config.queue_frames.max(config.history_frames),
                config.queue_bytes.max(config.history_bytes),
            ),
            pacer: Pacer::new(config.when_behind, config.stall_timeout),
            partial: PartialFrames::new(
                config.partial_frames_bytes,
                pipehub_protocol::LENGTH_LEN + config.max_frame as usize,
            ),
            config,
            instance: HubInstance(random_instance()),
            registry: Registry::default(),
            next_id: AtomicU64::new(1),
            console,
            not_shown: AtomicU64::new(0),
            shown_second: AtomicU64::new(0),
            shown_in_second: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refused_by_reason: Default::default(),
            meter: crate::meter::Meter::new(),
        };
        (
            Hub {
                shared: Arc::new(shared),
            },
            events,
        )
    }

    /// Broadcasts `body` from the operator console at once, even when listeners are a
    /// window behind: a typed line is never held back. While publishers are paced, the
    /// log stretches to hold it rather than push out what a listener still needs (up to
    /// twice its bounds). Returns its sequence number.
    pub fn publish(&self, body: &[u8]) -> Result<Seq, SendError> {
        self.check_broadcast_size(body.len())?;
        let log = &self.shared.log;
        Ok(match self.shared.pacer.gate() {
            Some(gate) => log.publish_stretching(ClientId::OPERATOR, body, gate),
            None => log.publish(ClientId::OPERATOR, body),
        })
    }

    /// Broadcasts `body` from the operator once the listeners have room for it: paced
    /// like a publisher (see [`crate::config::WhenBehind`]), for input piped into the hub.
    /// Returns its sequence number.
    pub async fn publish_paced(&self, body: &[u8]) -> Result<Seq, SendError> {
        self.check_broadcast_size(body.len())?;
        let pacer = &self.shared.pacer;
        let mut paused_at: Option<std::time::Instant> = None;
        loop {
            let room = pacer.room().notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.append_from(ClientId::OPERATOR, body) {
                Ok(seq) => {
                    self.wake_listeners();
                    if let Some(at) = paused_at {
                        pacer.add_paused(at.elapsed());
                    }
                    return Ok(seq);
                }
                Err(full) => {
                    paused_at.get_or_insert_with(std::time::Instant::now);
                    pacer.ask(full.needed);
                    room.await;
                }
            }
        }
    }

    /// Sends `body` from the operator to client `to` alone, as a `DIRECT` frame (text
    /// listeners get it as a line).
    pub fn send_direct(&self, to: ClientId, body: &[u8]) -> Result<(), SendError> {
        self.check_broadcast_size(body.len())?;
        let client = self
            .shared
            .registry
            .get(to)
            .ok_or(SendError::NoSuchClient(to))?;
        let frame = Frame::Direct {
            sender: ClientId::OPERATOR,
            timestamp_us: now_us(),
            body: Bytes::copy_from_slice(body),
        };
        let frame = if client.kind == ClientKind::Text {
            crate::text::text_line_for(body)
        } else {
            frame.to_bytes()
        };
        if client.post(frame) {
            Ok(())
        } else {
            Err(SendError::MailboxFull(to))
        }
    }

    /// Removes client `id`: it gets `BYE` (kicked) with `reason`, then the connection
    /// closes. Returns whether such a client was connected.
    pub fn kick(&self, id: ClientId, reason: &str) -> bool {
        match self.shared.registry.get(id) {
            Some(client) => {
                client.kick(reason.to_owned());
                true
            }
            None => false,
        }
    }

    /// This hub's random instance ID.
    pub fn instance(&self) -> HubInstance {
        self.shared.instance
    }

    /// The sequence number of the latest broadcast (0 if none yet).
    pub fn current_seq(&self) -> Seq {
        Seq(self.shared.log.tail())
    }

    /// How many broadcasts the hub retains for clients that are behind.
    pub fn retained(&self) -> usize {
        self.shared.log.len()
    }

    /// How many clients are connected (handshake done, or served as text).
    pub fn client_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Every connected client, by ID.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let log = &self.shared.log;
        // The tail first: a broadcast appended in between only makes `first` newer.
        let tail = log.tail();
        self.shared.registry.snapshot(tail, log.first())
    }

    /// The hub's counters now.
    pub fn stats(&self) -> Stats {
        let clients = self.clients();
        let count = |kind: ClientKind| clients.iter().filter(|c| c.kind == kind).count();
        Stats {
            listeners: count(ClientKind::Framed(pipehub_protocol::Role::Listener)),
            publishers: count(ClientKind::Framed(pipehub_protocol::Role::Publisher)),
            text_listeners: count(ClientKind::Text),
            broadcasts: self.shared.log.tail(),
            bytes_broadcast: self.shared.log.body_bytes(),
            deliveries: self.shared.log.deliveries(),
            lagged_clients: clients.iter().filter(|c| c.missed > 0).count(),
            missed: clients.iter().map(|c| c.missed).sum(),
            retained: self.shared.log.len(),
            stalled_listeners: clients.iter().filter(|c| c.stalled).count(),
            paused_publishers: clients.iter().filter(|c| c.paused).count(),
            paused_seconds: self.shared.pacer.paused_seconds(),
            refused: self.shared.refused.load(Ordering::Relaxed),
            refused_by_reason: REFUSE_REASONS
                .iter()
                .zip(&self.shared.refused_by_reason)
                .map(|(&code, count)| (code, count.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// The bridge's state and counters; `None` when the hub is not bridged.
    pub fn bridge(&self) -> Option<pipehub_protocol::status::BridgeStatus> {
        self.shared.bridge.get().map(|bridge| bridge.status())
    }

    /// Where the bridge's connection stands; `None` when the hub is not bridged.
    pub fn bridge_link(&self) -> Option<LinkState> {
        self.shared.bridge.get().map(|bridge| bridge.link())
    }

    /// Attaches the bridge that reports to this hub; a hub has at most one (a second is
    /// not attached).
    // Only a bridge attaches itself (the `bridge` feature).
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    pub(crate) fn attach_bridge(&self, bridge: Arc<dyn BridgeReport>) {
        let _ = self.shared.bridge.set(bridge);
    }

    /// The limits this hub runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The broadcast log.
    pub(crate) fn log(&self) -> &BroadcastLog {
        &self.shared.log
    }

    /// The pacer of publishers.
    pub(crate) fn pacer(&self) -> &Pacer {
        &self.shared.pacer
    }

    /// The budget for large frames still arriving.
    pub(crate) fn partial(&self) -> &PartialFrames {
        &self.shared.partial
    }

    /// Who is connected.
    pub(crate) fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// When the hub started, and the last seconds of its counters.
    pub(crate) fn meter(&self) -> &crate::meter::Meter {
        &self.shared.meter
    }

    /// Appends a broadcast from `sender` if the listeners have room for it (always, in
    /// `skip` mode); otherwise says how far they must get first. Wakes nobody: the caller
    /// wakes the listeners ([`Hub::wake_listeners`]) once it has appended what it has.
    pub(crate) fn append_from(&self, sender: ClientId, body: &[u8]) -> Result<Seq, Full> {
        self.shared
            .log
            .try_publish(sender, body, self.shared.pacer.gate())
    }

    /// Wakes the listeners waiting for what was appended ([`Hub::append_from`]).
    pub(crate) fn wake_listeners(&self) {
        self.shared.log.wake_listeners();
    }

    /// Counts a connection turned away with `code`.
    pub(crate) fn count_refusal(&self, code: RefuseCode) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = REFUSE_REASONS.iter().position(|&reason| reason == code) {
            self.shared.refused_by_reason[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The next client ID; IDs are never reused during the hub's life.
    pub(crate) fn next_client_id(&self) -> ClientId {
        ClientId(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The largest body a broadcast may carry: its frame must fit the announced limit.
    pub(crate) fn max_body(&self) -> usize {
        (self.shared.config.max_frame as usize)
            .saturating_sub(BROADCAST_BODY_OFFSET - pipehub_protocol::LENGTH_LEN)
    }

    fn check_broadcast_size(&self, len: usize) -> Result<(), SendError> {
        let max = self.max_body();
        if len > max {
            Err(SendError::TooLarge { len, max })
        } else {
            Ok(())
        }
    }

    /// Shows an event on the console if the console keeps up; never waits, so neither
    /// broadcasts nor connections are held back by a slow terminal. What is dropped is
    /// counted and reported as [`ConsoleEvent::NotShown`].
    pub(crate) fn show_event(&self, event: ConsoleEvent) {
        let pending = self.shared.not_shown.load(Ordering::Relaxed);
        if pending > 0
            && self
                .shared
                .console
                .try_send(ConsoleEvent::NotShown(pending))
                .is_ok()
        {
            self.shared.not_shown.fetch_sub(pending, Ordering::Relaxed);
        }
        if self.shared.console.try_send(event).is_err() {
            self.shared.not_shown.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the console should show one more publisher broadcast now: at most
    /// [`SHOWN_BROADCASTS_PER_SECOND`]; the rest are counted and reported as
    /// [`ConsoleEvent::NotShown`]. Asked before the event is even built, so a flood of
    /// broadcasts costs the hub nothing for the console.
    pub(crate) fn console_takes_broadcast(&self) -> bool {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.shared.shown_second.swap(second, Ordering::Relaxed) != second {
            self.shared.shown_in_second.store(0, Ordering::Relaxed);
        }
        if self.shared.shown_in_second.fetch_add(1, Ordering::Relaxed) < SHOWN_BROADCASTS_PER_SECOND
        {
            true
        } else {
            self.shared.not_shown.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Sends an event to the console, waiting for room: used for messages that exist
    /// only to be shown, so a client that floods the operator is slowed down, not
    /// buffered without bound.
    pub(crate) async fn tell_operator(&self, event: ConsoleEvent) {
        // A closed console (nobody prints) is not the client's problem.
        let _ = self.shared.console.send(event).await;
    }
}

/// Most publisher broadcasts the console shows per second.
const SHOWN_BROADCASTS_PER_SECOND: u64 = 50;

/// The `BYE` a kicked client receives.
pub(crate) fn kicked_bye(reason: String) -> Bytes {
    Frame::Bye {
        reason: ByeReason::KICKED,
        text: reason,
    }
    .to_bytes()
}

/// A random 64-bit hub instance ID. Not security-relevant; it only has to differ between
/// hub processes.
fn random_instance() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    })
}
