//! [`LocalGroup`]: many listeners in this process, one tokio task each.
//!
//! Connecting is throttled to a fixed number of handshakes in flight, so that a hub
//! accepting thousands of clients sees a steady stream rather than a burst that overflows
//! its accept backlog. Each task connects, then runs [`listener::listen`]; all share one
//! latency histogram (the runtime of a load process is single-threaded, so its lock is
//! never contended) and one [`Counters`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use super::listener;
use super::spread::Hubs;
use super::stats::{GroupStats, Latency, ListenerOutcome};

/// How long one listener may take to connect, retries on a full backlog included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The listeners of this process.
pub struct LocalGroup {
    counters: Arc<Counters>,
    tasks: JoinSet<ListenerOutcome>,
    latency: Arc<Mutex<Latency>>,
    stop: CancellationToken,
}

impl LocalGroup {
    /// Starts `listeners` listener tasks for run `run`, round-robin over `hubs`, at most
    /// `concurrency` of them connecting at once. Returns at once: watch `counters`
    /// (`connected + connect_failed`) to see them arrive.
    pub fn start(
        hubs: &Hubs,
        listeners: usize,
        run: u32,
        concurrency: usize,
        counters: Arc<Counters>,
    ) -> LocalGroup {
        let latency = Arc::new(Mutex::new(Latency::new()));
        let stop = CancellationToken::new();
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut tasks = JoinSet::new();
        for slot in 0..listeners {
            let endpoint = hubs.for_slot(slot).to_owned();
            let counters = Arc::clone(&counters);
            let latency = Arc::clone(&latency);
            let stop = stop.clone();
            let gate = Arc::clone(&gate);
            tasks.spawn(async move {
                let connected = {
                    let _permit = gate.acquire().await;
                    tokio::select! {
                        () = stop.cancelled() => None,
                        result = listener::connect(&endpoint, deadline) => Some(result),
                    }
                };
                match connected {
                    Some(Ok(connection)) => {
                        counters.listener_connected();
                        listener::listen(connection, run, counters, slot, latency, stop).await
                    }
                    Some(Err(err)) => {
                        let error = format!("a listener could not connect: {err}");
                        counters.listener_failed(slot, &error);
                        ListenerOutcome {
                            error: Some(error),
                            ..ListenerOutcome::default()
                        }
                    }
                    None => {
                        let error = "stopped before it connected".to_owned();
                        counters.listener_failed(slot, &error);
                        ListenerOutcome {
                            error: Some(error),
                            ..ListenerOutcome::default()
                        }
                    }
                }
            });
        }
        LocalGroup {
            counters,
            tasks,
            latency,
            stop,
        }
    }

    /// The live counts of this group.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stops every listener still running and returns what they measured.
    pub async fn finish(mut self) -> GroupStats {
        self.stop.cancel();
        let mut stats = GroupStats::default();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(outcome) => stats.add_listener(outcome),
                Err(err) => {
                    stats.failed += 1;
                    stats.note_error(format!("a listener task failed: {err}"));
                }
            }
        }
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        stats.latency = std::mem::take(&mut *latency);
        stats
    }
}
