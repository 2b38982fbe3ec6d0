//! [`Counters`]: what a group of listeners has done so far, readable while it runs.
//!
//! Two readers need live numbers rather than the final [`GroupStats`]: the progress
//! display (how many connected, warm, received) and the publishers' flow control, which
//! keeps the publishers at most a window of messages ahead of the *slowest* listener.
//!
//! In this process every receiver thread has its own [`ThreadCounts`] (on a cache line
//! of its own, written by that thread alone, once per block read rather than once per
//! message) and keeps the count of its slowest listener up to date with [`Slowest`];
//! the group's numbers are the sums over its threads, and the minimum of their minimums.
//! For a `--procs` worker the parent keeps a mirror, one `ThreadCounts` whose numbers are
//! the worker's latest report. A thread whose slowest listener moves on wakes the
//! publishers through the shared [`Notify`].
//!
//! The counters also carry the receiver threads' [`BusyClock`]s, so the phases can tell
//! how busy the receivers were wherever they run.
//!
//! [`GroupStats`]: crate::stats::GroupStats

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::busy::{BusyClock, BusyReading};

/// A count for a listener that no longer counts for flow control (it ended), and the
/// minimum of a thread without running listeners.
pub const GONE: u64 = u64::MAX;

/// Live counts for one group of listeners.
#[derive(Debug)]
pub struct Counters {
    /// One per receiver thread; one for a mirror.
    threads: Box<[ThreadCounts]>,
    /// The receiver threads' clocks; none for a mirror, which has `mirror_busy`.
    clocks: Box<[Arc<BusyClock>]>,
    /// A mirror's receiver threads, and their idle time, as the worker reported them.
    mirror_busy: Mutex<BusyReading>,
    /// Woken when a thread's slowest listener moves on, or when a worker's report
    /// arrives.
    advanced: Arc<Notify>,
    /// The first reason a listener could not connect.
    first_error: Mutex<Option<String>>,
}

/// The counts of one receiver thread's listeners. Written by that thread only.
#[derive(Debug)]
#[repr(align(128))]
pub struct ThreadCounts {
    connected: AtomicU64,
    connect_failed: AtomicU64,
    warm: AtomicU64,
    received: AtomicU64,
    finished: AtomicU64,
    ended: AtomicU64,
    /// The fewest measured messages any running listener of the thread has received.
    min_received: AtomicU64,
}

/// A copy of the counts at one moment; also what a worker reports to its parent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Listeners whose session is open (they got `WELCOME`).
    pub connected: u64,
    /// Listeners that could not connect.
    pub connect_failed: u64,
    /// Listeners that received a warm-up marker.
    pub warm: u64,
    /// Measured messages received, summed over listeners.
    pub received: u64,
    /// Listeners that received the end marker.
    pub finished: u64,
    /// Listener sessions that ended, for any reason.
    pub ended: u64,
    /// The fewest measured messages any listener still running has received.
    pub min_received: u64,
    /// The receiver threads and their idle time so far.
    pub busy: BusyReading,
}

impl Snapshot {
    /// Adds another group's counts; the minimum is the smaller one.
    pub fn add(&mut self, other: &Snapshot) {
        self.connected += other.connected;
        self.connect_failed += other.connect_failed;
        self.warm += other.warm;
        self.received += other.received;
        self.finished += other.finished;
        self.ended += other.ended;
        self.min_received = self.min_received.min(other.min_received);
        self.busy.add(other.busy);
    }
}

impl ThreadCounts {
    fn new(min_received: u64) -> ThreadCounts {
        ThreadCounts {
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            warm: AtomicU64::new(0),
            received: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            min_received: AtomicU64::new(min_received),
        }
    }

    /// A listener's session opened.
    pub fn connected(&self) {
        self.connected.fetch_add(1, Relaxed);
    }

    /// A listener could not connect.
    pub fn connect_failed(&self) {
        self.connect_failed.fetch_add(1, Relaxed);
    }

    /// A listener received its first warm-up marker.
    pub fn warm(&self) {
        self.warm.fetch_add(1, Relaxed);
    }

    /// Listeners received `messages` more measured messages.
    pub fn received(&self, messages: u64) {
        self.received.fetch_add(messages, Relaxed);
    }

    /// A listener's session ended, with the end marker or without.
    pub fn ended(&self, finished: bool) {
        if finished {
            self.finished.fetch_add(1, Relaxed);
        }
        self.ended.fetch_add(1, Relaxed);
    }
}

impl Counters {
    /// Counters for the receiver threads of this process, one per clock; `advanced` is
    /// shared by every group of one run, so one wait covers them all. `listeners[t]` is
    /// how many listeners thread `t` has.
    pub fn local(
        clocks: Vec<Arc<BusyClock>>,
        listeners: &[usize],
        advanced: Arc<Notify>,
    ) -> Counters {
        Counters {
            threads: listeners
                .iter()
                .map(|&n| ThreadCounts::new(if n == 0 { GONE } else { 0 }))
                .collect(),
            clocks: clocks.into_boxed_slice(),
            ..Counters::mirror(advanced)
        }
    }

    /// Counters that mirror a worker process's reports.
    pub fn mirror(advanced: Arc<Notify>) -> Counters {
        Counters {
            threads: Box::new([ThreadCounts::new(0)]),
            clocks: Box::new([]),
            mirror_busy: Mutex::new(BusyReading::default()),
            advanced,
            first_error: Mutex::new(None),
        }
    }

    /// The counts of receiver thread `thread`, for it to update.
    pub fn thread(&self, thread: usize) -> &ThreadCounts {
        &self.threads[thread.min(self.threads.len() - 1)]
    }

    /// Thread `thread`'s slowest running listener now has `min` measured messages
    /// ([`GONE`]: none is running): publishers waiting for it may go on.
    pub fn set_thread_min(&self, thread: usize, min: u64) {
        self.thread(thread).min_received.store(min, Relaxed);
        self.advanced.notify_waiters();
    }

    /// The fewest measured messages a running listener has received ([`GONE`] when none
    /// is running).
    pub fn min_received(&self) -> u64 {
        self.threads
            .iter()
            .map(|thread| thread.min_received.load(Relaxed))
            .min()
            .unwrap_or(GONE)
    }

    /// Keeps `error` if it is the first one.
    pub fn note_error(&self, error: &str) {
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(error.to_owned());
        }
    }

    /// The first reason a listener could not connect.
    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The receiver threads' idle time so far.
    pub fn busy(&self) -> BusyReading {
        if self.clocks.is_empty() {
            return *self
                .mirror_busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut total = BusyReading::default();
        for clock in &self.clocks {
            total.add(clock.reading());
        }
        total
    }

    /// The counts now.
    pub fn snapshot(&self) -> Snapshot {
        let mut total = Snapshot {
            min_received: self.min_received(),
            busy: self.busy(),
            ..Snapshot::default()
        };
        for thread in &self.threads {
            total.connected += thread.connected.load(Relaxed);
            total.connect_failed += thread.connect_failed.load(Relaxed);
            total.warm += thread.warm.load(Relaxed);
            total.received += thread.received.load(Relaxed);
            total.finished += thread.finished.load(Relaxed);
            total.ended += thread.ended.load(Relaxed);
        }
        total
    }

    /// Takes a worker's report as this mirror's counts, and wakes waiting publishers.
    pub fn set(&self, report: &Snapshot) {
        let mirror = &self.threads[0];
        mirror.connected.store(report.connected, Relaxed);
        mirror.connect_failed.store(report.connect_failed, Relaxed);
        mirror.warm.store(report.warm, Relaxed);
        mirror.received.store(report.received, Relaxed);
        mirror.finished.store(report.finished, Relaxed);
        mirror.ended.store(report.ended, Relaxed);
        mirror.min_received.store(report.min_received, Relaxed);
        *self
            .mirror_busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = report.busy;
        self.advanced.notify_waiters();
    }

    /// Takes a mirror's worker out of the flow control (it exited).
    pub fn set_gone(&self) {
        self.threads[0].min_received.store(GONE, Relaxed);
        self.advanced.notify_waiters();
    }
}

/// The slowest listener of one receiver thread, kept up to date as counts rise without
/// a scan per block: the minimum, and how many listeners are at it. Only when the last
/// listener at the minimum moves on are the counts scanned again, at most once per
/// round of the listeners.
#[derive(Debug)]
pub struct Slowest {
    counts: Vec<u64>,
    min: u64,
    at_min: usize,
}

impl Slowest {
    /// `listeners` listeners with no message yet.
    pub fn new(listeners: usize) -> Slowest {
        Slowest {
            counts: vec![0; listeners],
            min: if listeners == 0 { GONE } else { 0 },
            at_min: listeners,
        }
    }

    /// The fewest measured messages of a running listener ([`GONE`]: none runs).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Listener `index` now has `count` measured messages (never fewer than before;
    /// [`GONE`] once it ended). Returns the new minimum if it moved.
    pub fn set(&mut self, index: usize, count: u64) -> Option<u64> {
        let slot = self.counts.get_mut(index)?;
        let old = *slot;
        if count <= old {
            return None;
        }
        *slot = count;
        if old != self.min {
            return None;
        }
        self.at_min -= 1;
        if self.at_min > 0 {
            return None;
        }
        self.min = self.counts.iter().copied().min().unwrap_or(GONE);
        self.at_min = self.counts.iter().filter(|&&c| c == self.min).count();
        Some(self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_listener_is_followed_as_counts_rise() {
        let mut slowest = Slowest::new(3);
        assert_eq!(slowest.min(), 0);
        assert_eq!(slowest.set(0, 5), None);
        assert_eq!(slowest.set(1, 2), None);
        assert_eq!(slowest.set(2, 3), Some(2));
        assert_eq!(slowest.set(1, 4), Some(3));
        assert_eq!(slowest.set(1, 4), None, "no change, no news");
        assert_eq!(slowest.set(2, GONE), Some(4));
        assert_eq!(slowest.set(1, GONE), Some(5));
        assert_eq!(slowest.set(0, GONE), Some(GONE));
        assert_eq!(Slowest::new(0).min(), GONE);
    }

    #[test]
    fn the_minimum_is_that_of_the_slowest_thread() {
        let counters = Counters::local(Vec::new(), &[2, 2, 0], Arc::new(Notify::new()));
        assert_eq!(counters.min_received(), 0);
        counters.set_thread_min(0, 5);
        counters.set_thread_min(1, 2);
        assert_eq!(counters.min_received(), 2);
        counters.thread(1).received(7);
        counters.thread(0).received(3);
        counters.thread(0).ended(true);
        counters.thread(1).connect_failed();
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.received, 10);
        assert_eq!(snapshot.finished, 1);
        assert_eq!(snapshot.ended, 1);
        assert_eq!(snapshot.connect_failed, 1);
        counters.set_thread_min(1, GONE);
        assert_eq!(counters.min_received(), 5);
    }

    #[test]
    fn a_mirror_reports_what_it_was_told() {
        let counters = Counters::mirror(Arc::new(Notify::new()));
        let report = Snapshot {
            connected: 10,
            min_received: 7,
            busy: BusyReading {
                threads: 2,
                parked_ns: 99,
            },
            ..Snapshot::default()
        };
        counters.set(&report);
        assert_eq!(counters.snapshot(), report);
        counters.set_gone();
        assert_eq!(counters.min_received(), GONE);
    }
}
