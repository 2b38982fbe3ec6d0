//! [`Hub`]: the state one hub process shares between its accept loop, its connection
//! tasks and its console. Cheap to clone: a handle to the shared state.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use pipehub_protocol::{ClientId, HubInstance, Seq};
use tokio::sync::mpsc;

use crate::{
    Config, ConsoleEvent,
    console::CONSOLE_QUEUE,
    log::BroadcastLog,
    registry::{ClientInfo, Registry},
};

/// A handle to one hub's shared state.
#[derive(Clone)]
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) instance: HubInstance,
    pub(crate) log: BroadcastLog,
    pub(crate) registry: Registry,
    next_id: AtomicU64,
    pub(crate) console: mpsc::Sender<ConsoleEvent>,
    /// Console events not shown because the console was behind.
    not_shown: AtomicU64,
}

impl Hub {
    /// A hub with `config`, and the receiving end of its console events (what clients
    /// say and do). Drop the receiver to ignore them.
    pub fn new(config: Config) -> (Hub, mpsc::Receiver<ConsoleEvent>) {
        let (console, events) = mpsc::channel(CONSOLE_QUEUE);
        let shared = Shared {
            log: BroadcastLog::new(config.queue_frames, config.queue_bytes),
            config,
            instance: HubInstance(random_instance()),
            registry: Registry::default(),
            next_id: AtomicU64::new(1),
            console,
            not_shown: AtomicU64::new(0),
        };
        (
            Hub {
                shared: Arc::new(shared),
            },
            events,
        )
    }

    /// Broadcasts `body` from the operator console. Returns its sequence number.
    pub fn publish(&self, body: &[u8]) -> Seq {
        self.shared.log.publish(ClientId::OPERATOR, body)
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
    pub fn clients(&self) -> Vec<(ClientId, ClientInfo)> {
        self.shared.registry.snapshot()
    }

    /// The limits this hub runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

impl Shared {
    /// The next client ID; IDs are never reused during the hub's life.
    pub(crate) fn next_client_id(&self) -> ClientId {
        ClientId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Shows an event on the console if the console keeps up; never waits, so neither
    /// broadcasts nor connections are held back by a slow terminal. What is dropped is
    /// counted and reported as [`ConsoleEvent::NotShown`].
    pub(crate) fn show_event(&self, event: ConsoleEvent) {
        let pending = self.not_shown.load(Ordering::Relaxed);
        if pending > 0
            && self
                .console
                .try_send(ConsoleEvent::NotShown(pending))
                .is_ok()
        {
            self.not_shown.fetch_sub(pending, Ordering::Relaxed);
        }
        if self.console.try_send(event).is_err() {
            self.not_shown.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends an event to the console, waiting for room: used for messages that exist
    /// only to be shown, so a client that floods the operator is slowed down, not
    /// buffered without bound.
    pub(crate) async fn tell_operator(&self, event: ConsoleEvent) {
        // A closed console (nobody prints) is not the client's problem.
        let _ = self.console.send(event).await;
    }
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
