//! [`Receivers`]: the listeners of this process, spread over a few receiver threads, so
//! that the tool can take deliveries faster than any hub it measures can make them.
//!
//! Each listener connects with the same handshake as `pipehub-client listen`; what the
//! hub sends then is read in large blocks ([`scan::READ_SIZE`]) and scanned in place:
//! frame boundaries, sequence numbers, the load header of each message, with no
//! allocation or lock per message, and the counters updated once per block. Listener
//! `slot` goes to thread `slot % threads` (one thread per core by default,
//! `--receiver-threads` to choose), and each thread measures how busy it was
//! ([`crate::busy`]), so the report can tell when the receivers were the limit.
//!
//! Connecting is throttled to a fixed number of handshakes in flight over all threads,
//! so that a hub accepting thousands of clients sees a steady stream rather than a burst
//! that overflows its accept backlog.

pub mod read;
pub mod scan;
pub mod session;
pub mod thread;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::busy::BusyClock;
use crate::counters::Counters;
use crate::spread::Hubs;
use crate::stats::GroupStats;
use thread::ThreadSpec;

/// How long one listener may take to connect, retries on a full backlog included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The receiver threads of this process and their listeners.
pub struct Receivers {
    counters: Arc<Counters>,
    threads: Vec<std::thread::JoinHandle<GroupStats>>,
    stop: CancellationToken,
}

/// How many receiver threads a process with `listeners` listeners uses when asked for
/// `threads` (`None`: one per core, shared by `procs` processes).
pub fn thread_count(threads: Option<usize>, listeners: usize, procs: usize) -> usize {
    let default = || {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / procs.max(1)).max(1)
    };
    threads.unwrap_or_else(default).clamp(1, listeners.max(1))
}

impl Receivers {
    /// Starts `listeners` listeners for run `run` on `threads` threads, round-robin over
    /// `hubs`, at most `concurrency` of them connecting at once. Returns at once: the
    /// counters show them arrive. `advanced` is woken whenever the slowest listener of a
    /// thread moves on.
    pub fn start(
        hubs: &Hubs,
        listeners: usize,
        threads: usize,
        run: u32,
        concurrency: usize,
        advanced: Arc<Notify>,
    ) -> Receivers {
        let threads = threads.clamp(1, listeners.max(1));
        let mut endpoints = vec![Vec::new(); threads];
        for slot in 0..listeners {
            endpoints[slot % threads].push(hubs.for_slot(slot).to_owned());
        }
        let clocks: Vec<Arc<BusyClock>> = (0..threads).map(|_| BusyClock::new()).collect();
        let sizes: Vec<usize> = endpoints.iter().map(Vec::len).collect();
        let counters = Arc::new(Counters::local(clocks.clone(), &sizes, advanced));
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(threads);
        for (thread, (endpoints, clock)) in endpoints.into_iter().zip(clocks).enumerate() {
            let spec = ThreadSpec {
                thread,
                endpoints,
                run,
                counters: Arc::clone(&counters),
                gate: Arc::clone(&gate),
                deadline,
                stop: stop.clone(),
                clock,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("receiver-{thread}"))
                .spawn(move || thread::run(spec));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    // The threads started so far are stopped by `finish`; the phases see
                    // this one's listeners fail.
                    counters.note_error(&format!("could not start a receiver thread: {err}"));
                    counters.thread(thread).connect_failed();
                }
            }
        }
        Receivers {
            counters,
            threads: handles,
            stop,
        }
    }

    /// The live counts of these listeners.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stops every listener still running and returns what they measured.
    pub async fn finish(self) -> GroupStats {
        self.stop.cancel();
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(std::thread::JoinHandle::join)
                .collect::<Vec<_>>()
        })
        .await;
        let mut stats = GroupStats::default();
        match joined {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(thread) => stats.merge(thread),
                        Err(_) => {
                            stats.failed += 1;
                            stats.note_error("a receiver thread panicked".to_owned());
                        }
                    }
                }
            }
            Err(err) => stats.note_error(format!("could not wait for the receivers: {err}")),
        }
        stats
    }
}
