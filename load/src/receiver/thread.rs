//! One receiver thread: a single-threaded runtime whose [`BusyClock`] says how much of
//! the time the thread had data to read, and one task per listener of the thread, all
//! sharing one read buffer and one latency histogram.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::LocalSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::scan::Effects;
use super::session::{self, Shared, ThreadState};
use crate::busy::BusyClock;
use crate::counters::{Counters, Slowest};
use crate::stats::{GroupStats, ListenerOutcome};

/// What one receiver thread is to do.
pub struct ThreadSpec {
    /// Its place in the group's counters.
    pub thread: usize,
    /// The endpoint of each of its listeners.
    pub endpoints: Vec<String>,
    pub run: u32,
    pub counters: Arc<Counters>,
    /// Handshakes in flight at once, over all threads.
    pub gate: Arc<Semaphore>,
    /// Connecting gives up after this.
    pub deadline: Instant,
    pub stop: CancellationToken,
    pub clock: Arc<BusyClock>,
}

/// Runs the thread's listeners until each has ended or `stop` is cancelled; what they
/// measured.
pub fn run(spec: ThreadSpec) -> GroupStats {
    let runtime = match spec.clock.runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            let mut stats = GroupStats::default();
            let error = format!("a receiver thread could not start: {err}");
            spec.counters.note_error(&error);
            for _ in &spec.endpoints {
                spec.counters.thread(spec.thread).connect_failed();
                stats.add_listener(ListenerOutcome {
                    error: Some(error.clone()),
                    ..ListenerOutcome::default()
                });
            }
            return stats;
        }
    };
    let listeners = spec.endpoints.len();
    let shared = Rc::new(Shared {
        thread: spec.thread,
        counters: Arc::clone(&spec.counters),
        run: spec.run,
        state: RefCell::new(ThreadState {
            buf: Vec::new(),
            effects: Effects::default(),
            slowest: Slowest::new(listeners),
        }),
    });
    let local = LocalSet::new();
    local.block_on(&runtime, async move {
        let tasks: Vec<_> = spec
            .endpoints
            .into_iter()
            .enumerate()
            .map(|(index, endpoint)| {
                tokio::task::spawn_local(listener(
                    Rc::clone(&shared),
                    index,
                    endpoint,
                    Arc::clone(&spec.gate),
                    spec.deadline,
                    spec.stop.clone(),
                ))
            })
            .collect();
        let mut stats = GroupStats::default();
        for task in tasks {
            match task.await {
                Ok(outcome) => stats.add_listener(outcome),
                Err(err) => {
                    stats.failed += 1;
                    stats.note_error(format!("a listener task failed: {err}"));
                }
            }
        }
        let mut state = shared.state.borrow_mut();
        stats.latency = std::mem::take(&mut state.effects.latency);
        stats
    })
}

/// One listener's task: connect (at most `gate` handshakes at once), then read.
async fn listener(
    shared: Rc<Shared>,
    index: usize,
    endpoint: String,
    gate: Arc<Semaphore>,
    deadline: Instant,
    stop: CancellationToken,
) -> ListenerOutcome {
    let counts = shared.counters.thread(shared.thread);
    let connected = {
        let _permit = gate.acquire().await;
        tokio::select! {
            () = stop.cancelled() => None,
            result = session::connect(&endpoint, deadline) => Some(result),
        }
    };
    let connection = match connected {
        Some(Ok(connection)) => connection,
        Some(Err(err)) => {
            return failed(
                &shared,
                index,
                format!("a listener could not connect: {err}"),
            );
        }
        None => return failed(&shared, index, "stopped before it connected".to_owned()),
    };
    counts.connected();
    let outcome = RefCell::new(ListenerOutcome {
        connected: true,
        ..ListenerOutcome::default()
    });
    // One `cancelled` future for the whole session, raced against the whole read loop:
    // a fresh one per read would register and unregister a waiter every time.
    tokio::select! {
        biased;
        () = stop.cancelled() => {}
        () = session::listen(&shared, index, connection, &outcome) => {}
    }
    let outcome = outcome.into_inner();
    counts.ended(outcome.finished);
    session::retire(&shared, index);
    outcome
}

/// The outcome of a listener that never connected.
fn failed(shared: &Shared, index: usize, error: String) -> ListenerOutcome {
    shared.counters.note_error(&error);
    shared.counters.thread(shared.thread).connect_failed();
    session::retire(shared, index);
    ListenerOutcome {
        error: Some(error),
        ..ListenerOutcome::default()
    }
}
