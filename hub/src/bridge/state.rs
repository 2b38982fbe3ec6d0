//! What the bridge knows of itself: the link state and the counters, shared by its tasks,
//! the status report and the metrics; the NATS client's connection events, turned into
//! the hub's own log lines (an outage once when it starts and once when it ends).

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use pipehub_protocol::status::BridgeStatus;
use tracing::{info, warn};

use super::BridgeConfig;
use crate::link::{BridgeReport, LinkState};

/// What the bridge has done, shared by its tasks, the status report and the metrics.
#[derive(Debug)]
pub(crate) struct BridgeState {
    pub(crate) config: BridgeConfig,
    state: AtomicU8,
    since_us: AtomicU64,
    pub(crate) outages: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) not_bridged: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// The last error the NATS server gave, so a repeated one is logged once.
    last_server_error: Mutex<String>,
}

impl BridgeState {
    pub(crate) fn new(config: BridgeConfig) -> BridgeState {
        BridgeState {
            config,
            state: AtomicU8::new(LinkState::Connecting as u8),
            since_us: AtomicU64::new(now_us()),
            outages: AtomicU64::new(0),
            published: AtomicU64::new(0),
            not_bridged: AtomicU64::new(0),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_server_error: Mutex::new(String::new()),
        }
    }

    /// Moves to `state`; returns the state it left.
    pub(super) fn set_link(&self, state: LinkState) -> LinkState {
        let old = self.state.swap(state as u8, Ordering::AcqRel);
        if old != state as u8 {
            self.since_us.store(now_us(), Ordering::Relaxed);
        }
        match old {
            1 => LinkState::Connected,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    /// Follows the NATS client's connection events: the outage is logged once when it
    /// starts and once when it ends, however many reconnect attempts it takes.
    pub(super) fn on_event(&self, event: async_nats::Event) {
        let url = self.config.shown_url();
        match event {
            async_nats::Event::Disconnected => {
                if self.set_link(LinkState::Down) == LinkState::Connected {
                    self.outages.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        bridge = %url,
                        "bridge: lost the NATS server; local clients are still served, \
                         broadcasts are not bridged until it is back; reconnecting"
                    );
                }
            }
            async_nats::Event::Connected => {
                // Before the first subscription is confirmed, `run` decides.
                if self.link() == LinkState::Down {
                    self.set_link(LinkState::Connected);
                    self.server_error_seen("");
                    info!(
                        bridge = %url,
                        not_bridged = self.not_bridged.load(Ordering::Relaxed),
                        "bridge: reconnected to the NATS server"
                    );
                }
            }
            async_nats::Event::ServerError(err) => {
                let err = err.to_string();
                if self.server_error_seen(&err) {
                    warn!(bridge = %url, "bridge: the NATS server says: {err}{}", fix_for(&err));
                }
            }
            async_nats::Event::SlowConsumer(_) => {
                warn!(
                    bridge = %url,
                    "bridge: this hub could not keep up with the bridge; NATS dropped messages for it"
                );
            }
            other => tracing::debug!(bridge = %url, "bridge: {other}"),
        }
    }

    /// Remembers `err` as the server's last error; returns whether it is new.
    pub(super) fn server_error_seen(&self, err: &str) -> bool {
        let mut last = self
            .last_server_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *last == err {
            false
        } else {
            err.clone_into(&mut last);
            true
        }
    }
}

/// A warning that may repeat fast (garbage on the subject, a bridge that keeps falling
/// behind): the first is logged at once, then at most one line a minute with the number
/// of others meanwhile, so it cannot flood the log.
#[derive(Default)]
pub(super) struct Complaint {
    last: Option<Instant>,
    quiet: u64,
}

impl Complaint {
    pub(super) fn warn(&mut self, what: &str) {
        if self
            .last
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
        {
            self.quiet += 1;
            return;
        }
        let also = match std::mem::take(&mut self.quiet) {
            0 => String::new(),
            n => format!(" ({n} more like it since the last report)"),
        };
        warn!("{what}{also}");
        self.last = Some(Instant::now());
    }
}

/// What to do about a NATS error, if the error says: `""` if it does not.
pub(super) fn fix_for(err: &str) -> &'static str {
    if err.to_lowercase().contains("authori") {
        " (check --bridge-token, --bridge-user and --bridge-password, or --bridge-creds)"
    } else {
        ""
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl BridgeReport for BridgeState {
    fn link(&self) -> LinkState {
        match self.state.load(Ordering::Acquire) {
            1 => LinkState::Connected,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    /// The bridge part of the status report.
    fn status(&self) -> BridgeStatus {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BridgeStatus {
            url: self.config.shown_url(),
            subject: self.config.subject.clone(),
            hub_name: self.config.hub_name.clone(),
            state: self.link().name().to_owned(),
            since_us: load(&self.since_us),
            outages: load(&self.outages),
            published: load(&self.published),
            not_bridged: load(&self.not_bridged),
            received: load(&self.received),
            duplicates: load(&self.duplicates),
            rejected: load(&self.rejected),
        }
    }
}
