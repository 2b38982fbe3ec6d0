//! Who is connected: one [`ClientHandle`] per client that finished its handshake (or
//! became a text listener), keyed by its never-reused [`ClientId`].
//!
//! The handle is shared between the client's connection task and the rest of the hub:
//! the task publishes its progress in it (cursor, messages missed), and the console
//! reaches the client through it (a direct message, a kick) without touching its socket.

use std::{
    collections::VecDeque,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use dashmap::DashMap;
use pipehub_protocol::{ClientId, Frame, Role};
use tokio::sync::Notify;

use crate::{access::Peer, transport::UnreadProbe};

/// How a client is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// A framed client that said `HELLO` with this role.
    Framed(Role),
    /// A plain tool that sent no handshake: it receives bodies as lines.
    Text,
}

impl ClientKind {
    /// Whether this client receives broadcasts.
    pub fn listens(self) -> bool {
        matches!(self, ClientKind::Framed(Role::Listener) | ClientKind::Text)
    }

    /// Whether this client's messages are broadcast (rather than only shown to the
    /// operator).
    pub fn broadcasts(self) -> bool {
        matches!(self, ClientKind::Framed(Role::Publisher))
    }

    /// A lowercase name: `listener`, `publisher` or `text`.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Framed(role) => role.name(),
            ClientKind::Text => "text",
        }
    }
}

/// What the hub knows of one connected client, as the console shows it.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub id: ClientId,
    pub kind: ClientKind,
    /// The display name from `HELLO` (empty if none).
    pub name: String,
    /// Credentials, where the platform gives them.
    pub peer: Option<Peer>,
    pub connected_at: SystemTime,
    /// Broadcasts published but not yet taken by this client's writer.
    pub queued: u64,
    /// Broadcasts this client missed because it fell behind: those it was told of, and
    /// those already gone from the log that it has not reached yet.
    pub missed: u64,
    /// A listener that took nothing for the stall timeout while publishers waited for it:
    /// they no longer wait for it, until it reads again.
    pub stalled: bool,
    /// A publisher whose messages the hub is not taking now: the listeners are behind.
    pub paused: bool,
}

/// Most direct messages that may wait for one client.
pub(crate) const MAILBOX_LIMIT: usize = 256;

/// One connected client, shared by its connection task and the hub.
pub(crate) struct ClientHandle {
    pub(crate) id: ClientId,
    pub(crate) kind: ClientKind,
    pub(crate) name: String,
    pub(crate) peer: Option<Peer>,
    pub(crate) connected_at: SystemTime,
    /// The next sequence number the writer will take (listeners).
    pub(crate) cursor: AtomicU64,
    pub(crate) missed: AtomicU64,
    /// How its connection can be asked about from elsewhere: what the client has not read
    /// yet (pacing), whether a half-closed client is gone (hang-ups).
    pub(crate) probe: UnreadProbe,
    /// Whether a listener reads, as pacing follows it.
    pub(crate) watch: Watch,
    /// When this publisher was paused, in microseconds of the hub's clock; 0 while the
    /// hub takes its messages.
    pub(crate) paused_since_us: AtomicU64,
    /// When the client last sent anything, in milliseconds of the hub's clock;
    /// [`NO_KEEPALIVE`] for clients that cannot answer a keepalive `PING`.
    last_heard_ms: AtomicU64,
    /// Whether a keepalive `PING` is outstanding.
    pinged: AtomicBool,
    /// The client shut down its sending side: nothing it does will wake its connection
    /// when it goes, so the hub asks ([`Registry::check_connections`]).
    pub(crate) half_closed: AtomicBool,
    /// Since when (milliseconds of the hub's clock) the client has had a frame begun and
    /// not finished while the hub was reading it; 0 while it has none.
    unfinished_since_ms: AtomicU64,
    mailbox: Mutex<Mailbox>,
    /// Woken when the mailbox has something.
    pub(crate) wake: Notify,
}

/// Whether a listener reads, as pacing follows it (see `pacing`). Only its connection
/// task writes `writes`; only the pacer's passes write the rest, except that the
/// connection clears `stalled` when the listener takes bytes again.
pub(crate) struct Watch {
    /// Writes to the client that took bytes, ever.
    pub(crate) writes: AtomicU64,
    /// `writes` as the last pass saw it.
    pub(crate) seen_writes: AtomicU64,
    /// When a pass last saw it take bytes, in microseconds of [`clock_us`].
    pub(crate) last_progress_us: AtomicU64,
    /// Since when it has held publishers back without taking any.
    pub(crate) behind_since_us: AtomicU64,
    /// What the kernel last said it had not read yet, while it held publishers back
    /// ([`NOT_PROBED`] before the first probe of each wait).
    pub(crate) last_unread: AtomicU64,
    /// Publishers no longer wait for it: it read nothing for the stall timeout.
    pub(crate) stalled: AtomicBool,
}

impl Watch {
    fn new() -> Watch {
        let now = clock_us();
        Watch {
            writes: AtomicU64::new(0),
            seen_writes: AtomicU64::new(0),
            last_progress_us: AtomicU64::new(now),
            behind_since_us: AtomicU64::new(now),
            last_unread: AtomicU64::new(NOT_PROBED),
            stalled: AtomicBool::new(false),
        }
    }
}

#[derive(Default)]
pub(crate) struct Mailbox {
    /// Encoded frames for this client alone.
    pub(crate) frames: VecDeque<Bytes>,
    /// Set when the operator removes the client: the reason it is told.
    pub(crate) kick: Option<String>,
    /// Set when the hub shuts down.
    pub(crate) shutdown: bool,
    /// Set when the client answered nothing, not even a keepalive `PING`, for this long.
    pub(crate) silent: Option<Duration>,
    /// Set when a client that had shut down its sending side turned out to be gone.
    pub(crate) hung_up: bool,
    /// Set when the client began a frame and did not finish it within the frame timeout.
    pub(crate) unfinished: Option<Duration>,
}

/// [`Watch::last_unread`] before pacing first probed the client in its current wait.
pub(crate) const NOT_PROBED: u64 = u64::MAX;

/// `last_heard_ms` of a client that keepalive leaves alone.
const NO_KEEPALIVE: u64 = u64::MAX;

/// Milliseconds since this process first asked: the keepalive clock.
fn clock_ms() -> u64 {
    clock_us() / 1000
}

/// Microseconds since this process first asked: the hub's clock for keepalive and pacing,
/// cheap to keep in an atomic.
pub(crate) fn clock_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl ClientHandle {
    pub(crate) fn new(
        id: ClientId,
        kind: ClientKind,
        name: String,
        peer: Option<Peer>,
        probe: UnreadProbe,
    ) -> ClientHandle {
        ClientHandle {
            id,
            kind,
            name,
            peer,
            connected_at: SystemTime::now(),
            cursor: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            probe,
            watch: Watch::new(),
            paused_since_us: AtomicU64::new(0),
            last_heard_ms: AtomicU64::new(if kind == ClientKind::Text {
                NO_KEEPALIVE
            } else {
                clock_ms()
            }),
            pinged: AtomicBool::new(false),
            half_closed: AtomicBool::new(false),
            unfinished_since_ms: AtomicU64::new(0),
            mailbox: Mutex::new(Mailbox::default()),
            wake: Notify::new(),
        }
    }

    /// Queues a frame for this client alone. Fails if too many are waiting.
    pub(crate) fn post(&self, frame: Bytes) -> bool {
        let mut mailbox = self.mailbox.lock().unwrap_or_else(|e| e.into_inner());
        if mailbox.frames.len() >= MAILBOX_LIMIT {
            return false;
        }
        mailbox.frames.push_back(frame);
        drop(mailbox);
        self.wake.notify_one();
        true
    }

    /// Asks the connection to say `BYE` (kicked) and close.
    pub(crate) fn kick(&self, reason: String) {
        self.mail(|mailbox| mailbox.kick = Some(reason));
    }

    /// Asks the connection to finish: send what is queued, then `BYE` (shutdown).
    pub(crate) fn shut_down(&self) {
        self.mail(|mailbox| mailbox.shutdown = true);
    }

    /// Notes that the client sent something: it is alive.
    pub(crate) fn heard_from(&self) {
        if self.last_heard_ms.load(Ordering::Relaxed) != NO_KEEPALIVE {
            self.last_heard_ms.store(clock_ms(), Ordering::Relaxed);
            self.pinged.store(false, Ordering::Relaxed);
        }
    }

    /// Exempts the client from keepalive (it closed its sending side, so it cannot
    /// answer; failed writes will tell when it is gone).
    pub(crate) fn stop_keepalive(&self) {
        self.last_heard_ms.store(NO_KEEPALIVE, Ordering::Relaxed);
    }

    /// One keepalive check: a client silent for `interval` is sent a `PING`; one still
    /// silent at twice the interval is closed.
    pub(crate) fn check_keepalive(&self, interval: Duration) {
        let heard = self.last_heard_ms.load(Ordering::Relaxed);
        // A paused publisher is silent because the hub is not reading it.
        if heard == NO_KEEPALIVE || self.paused_since_us.load(Ordering::Relaxed) != 0 {
            return;
        }
        let silent = Duration::from_millis(clock_ms().saturating_sub(heard));
        if silent >= interval * 2 && self.pinged.load(Ordering::Relaxed) {
            self.mail(|mailbox| mailbox.silent = Some(silent));
        } else if silent >= interval && !self.pinged.swap(true, Ordering::Relaxed) {
            let nonce = u64::try_from(silent.as_millis()).unwrap_or(u64::MAX);
            self.post(Frame::Ping(nonce).to_bytes());
        }
    }

    /// Notes whether the client has a frame begun and not finished now, while the hub
    /// reads it: the frame timeout runs from when one was first begun.
    pub(crate) fn note_unfinished_frame(&self, unfinished: bool) {
        if !unfinished {
            self.unfinished_since_ms.store(0, Ordering::Relaxed);
        } else if self.unfinished_since_ms.load(Ordering::Relaxed) == 0 {
            self.unfinished_since_ms
                .store(clock_ms().max(1), Ordering::Relaxed);
        }
    }

    /// Changes the mailbox with `change`, and wakes the connection to read it.
    fn mail(&self, change: impl FnOnce(&mut Mailbox)) {
        change(&mut self.mailbox.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_one();
    }

    /// Takes everything waiting in the mailbox.
    pub(crate) fn take_mail(&self) -> Mailbox {
        std::mem::take(&mut *self.mailbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What the console shows of this client, with `tail` the newest broadcast and
    /// `first` the oldest the log still holds.
    pub(crate) fn info(&self, tail: u64, first: u64) -> ClientInfo {
        let (queued, gone) = if self.kind.listens() {
            let cursor = self.cursor.load(Ordering::Relaxed);
            (
                (tail + 1).saturating_sub(cursor),
                first.saturating_sub(cursor),
            )
        } else {
            (0, 0)
        };
        ClientInfo {
            id: self.id,
            kind: self.kind,
            name: self.name.clone(),
            peer: self.peer,
            connected_at: self.connected_at,
            queued,
            missed: self.missed.load(Ordering::Relaxed) + gone,
            stalled: self.watch.stalled.load(Ordering::Relaxed),
            paused: self.paused_since_us.load(Ordering::Relaxed) != 0,
        }
    }
}

/// The connected clients.
#[derive(Default)]
pub(crate) struct Registry {
    clients: DashMap<ClientId, std::sync::Arc<ClientHandle>>,
}

impl Registry {
    /// Adds a client; the returned guard removes it again when the connection ends.
    pub(crate) fn register(&self, handle: std::sync::Arc<ClientHandle>) -> Registration<'_> {
        let id = handle.id;
        self.clients.insert(id, handle);
        Registration { registry: self, id }
    }

    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    pub(crate) fn get(&self, id: ClientId) -> Option<std::sync::Arc<ClientHandle>> {
        self.clients.get(&id).map(|entry| entry.value().clone())
    }

    /// Tells every registered client that the hub is shutting down.
    pub(crate) fn shut_down_all(&self) {
        for entry in self.clients.iter() {
            entry.value().shut_down();
        }
    }

    /// What no event of their own connections tells: tells the connection of every
    /// half-closed client that has since gone entirely that it is gone (without a write
    /// to fail, nothing else would), and that of every client that began a frame more
    /// than `frame_timeout` ago and has not finished it that its time is up.
    pub(crate) fn check_connections(&self, frame_timeout: Duration) {
        let now = clock_ms();
        for entry in self.clients.iter() {
            let client = entry.value();
            if client.half_closed.load(Ordering::Relaxed) && client.probe.hung_up() {
                client.half_closed.store(false, Ordering::Relaxed);
                client.mail(|mailbox| mailbox.hung_up = true);
            }
            let since = client.unfinished_since_ms.load(Ordering::Relaxed);
            let unfinished = Duration::from_millis(now.saturating_sub(since));
            if since != 0 && unfinished >= frame_timeout {
                client.unfinished_since_ms.store(0, Ordering::Relaxed);
                client.mail(|mailbox| mailbox.unfinished = Some(unfinished));
            }
        }
    }

    /// Runs one keepalive check over every client.
    pub(crate) fn check_keepalive(&self, interval: Duration) {
        for entry in self.clients.iter() {
            entry.value().check_keepalive(interval);
        }
    }

    /// Runs `f` on every client that receives broadcasts.
    pub(crate) fn for_each_listener(&self, mut f: impl FnMut(&ClientHandle)) {
        for entry in self.clients.iter() {
            if entry.value().kind.listens() {
                f(entry.value());
            }
        }
    }

    /// Every client's current state, sorted by client ID (see [`ClientHandle::info`]).
    pub(crate) fn snapshot(&self, tail: u64, first: u64) -> Vec<ClientInfo> {
        let mut all: Vec<_> = self
            .clients
            .iter()
            .map(|entry| entry.value().info(tail, first))
            .collect();
        all.sort_by_key(|info| info.id);
        all
    }
}

/// Keeps a client in the registry for as long as it lives.
pub(crate) struct Registration<'a> {
    registry: &'a Registry,
    id: ClientId,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.clients.remove(&self.id);
    }
}
