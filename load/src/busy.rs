//! [`BusyClock`]: how much of the time a thread of the load tool had work, so that the
//! report can say when the tool, not the target, was the limit.
//!
//! Every thread that does the tool's measured work (the receiver threads, the
//! publishers' thread) runs a single-threaded tokio runtime built by
//! [`BusyClock::runtime`], whose park hooks note when the thread goes idle (nothing to
//! run: every socket it reads is empty, every write it waits for is blocked) and when it
//! wakes. Busy is the rest of the time, whether the thread was running or waiting for a
//! core: a thread that is never idle is behind, and the rate it kept is its ceiling.
//! A thread that is idle half the time could have taken about twice as much.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The idle time of one thread, kept by its runtime's park hooks.
#[derive(Debug)]
pub struct BusyClock {
    origin: Instant,
    /// When the thread parked, in ns since `origin` plus one; 0 while it runs.
    parked_since: AtomicU64,
    /// Idle time of the parks that ended, in ns.
    parked: AtomicU64,
}

/// A reading of one or more [`BusyClock`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BusyReading {
    /// Threads read.
    pub threads: u64,
    /// Their idle time so far, summed, in ns.
    pub parked_ns: u64,
}

impl BusyReading {
    /// Adds another reading (of other threads).
    pub fn add(&mut self, other: BusyReading) {
        self.threads += other.threads;
        self.parked_ns += other.parked_ns;
    }

    /// The fraction of `elapsed` the threads were busy on average, from `earlier` to this
    /// reading; `None` without threads or time.
    pub fn busy_since(&self, earlier: &BusyReading, elapsed: Duration) -> Option<f64> {
        let wall = elapsed.as_nanos() as f64 * self.threads as f64;
        if self.threads == 0 || self.threads != earlier.threads || wall <= 0.0 {
            return None;
        }
        let idle = self.parked_ns.saturating_sub(earlier.parked_ns) as f64;
        Some((1.0 - idle / wall).clamp(0.0, 1.0))
    }
}

impl BusyClock {
    /// A clock for one thread, which has not parked yet.
    pub fn new() -> Arc<BusyClock> {
        Arc::new(BusyClock {
            origin: Instant::now(),
            parked_since: AtomicU64::new(0),
            parked: AtomicU64::new(0),
        })
    }

    /// A single-threaded runtime (timers and I/O enabled) that keeps this clock; run it
    /// on the thread the clock is for.
    pub fn runtime(self: &Arc<BusyClock>) -> io::Result<tokio::runtime::Runtime> {
        let parking = Arc::clone(self);
        let waking = Arc::clone(self);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(move || parking.park())
            .on_thread_unpark(move || waking.unpark())
            .build()
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn park(&self) {
        self.parked_since.store(self.now_ns() + 1, Relaxed);
    }

    fn unpark(&self) {
        let since = self.parked_since.swap(0, Relaxed);
        if since > 0 {
            let idle = self.now_ns().saturating_sub(since - 1);
            self.parked.fetch_add(idle, Relaxed);
        }
    }

    /// Idle time so far, the park in progress included.
    pub fn reading(&self) -> BusyReading {
        let mut parked_ns = self.parked.load(Relaxed);
        let since = self.parked_since.load(Relaxed);
        if since > 0 {
            parked_ns += self.now_ns().saturating_sub(since - 1);
        }
        BusyReading {
            threads: 1,
            parked_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_waiting_on_a_timer_is_idle_and_a_spinning_one_busy() {
        let clock = BusyClock::new();
        let runtime = clock.runtime().expect("a runtime");
        let start = (Instant::now(), clock.reading());
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
        let idle = clock.reading().busy_since(&start.1, start.0.elapsed());
        assert!(idle.is_some_and(|busy| busy < 0.5), "{idle:?}");

        let start = (Instant::now(), clock.reading());
        runtime.block_on(async {
            let spin_until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < spin_until {
                std::hint::spin_loop();
            }
        });
        let busy = clock.reading().busy_since(&start.1, start.0.elapsed());
        assert!(busy.is_some_and(|busy| busy > 0.9), "{busy:?}");
    }

    #[test]
    fn readings_of_threads_add_up() {
        let mut total = BusyReading::default();
        total.add(BusyReading {
            threads: 1,
            parked_ns: 400,
        });
        total.add(BusyReading {
            threads: 1,
            parked_ns: 600,
        });
        let earlier = BusyReading {
            threads: 2,
            parked_ns: 0,
        };
        assert_eq!(
            total.busy_since(&earlier, Duration::from_nanos(1000)),
            Some(0.5)
        );
        assert_eq!(
            total.busy_since(&BusyReading::default(), Duration::ZERO),
            None
        );
    }
}
