//! [`Counters`]: what a group of listeners has done so far, readable while it runs.
//!
//! Two readers need live numbers rather than the final [`GroupStats`]: the progress
//! display (how many connected, warm, received) and the publishers' flow control, which
//! keeps the publishers at most a window of messages ahead of the *slowest* listener.
//! For listeners in this process every listener has a slot holding its count of measured
//! messages, and the minimum is a scan over the slots; for a `--procs` worker the parent
//! keeps a mirror whose numbers, minimum included, are the worker's latest report.
//!
//! All counters are atomics written by the listener tasks and read by anyone; a listener
//! that was among the slowest wakes the publishers (through the shared [`Notify`]) when
//! it moves on.
//!
//! [`GroupStats`]: super::stats::GroupStats

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// A slot value for a listener that no longer counts for flow control (it ended).
const GONE: u64 = u64::MAX;

/// Live counts for one group of listeners.
#[derive(Debug)]
pub struct Counters {
    connected: AtomicU64,
    connect_failed: AtomicU64,
    warm: AtomicU64,
    received: AtomicU64,
    finished: AtomicU64,
    ended: AtomicU64,
    /// Per listener: measured messages received, or [`GONE`].
    slots: Box<[AtomicU64]>,
    /// The minimum last computed by [`Counters::min_received`], or the one a worker
    /// reported.
    min_received: AtomicU64,
    /// Woken when a listener that was among the slowest moves on, or when a worker's
    /// report arrives.
    advanced: Arc<Notify>,
    /// The first reason a listener could not connect.
    first_error: Mutex<Option<String>>,
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
    }
}

impl Counters {
    /// Counters for `listeners` listeners in this process; `advanced` is shared by every
    /// group of one run, so one wait covers them all.
    pub fn local(listeners: usize, advanced: Arc<Notify>) -> Counters {
        Counters {
            slots: (0..listeners).map(|_| AtomicU64::new(0)).collect(),
            ..Counters::mirror(advanced)
        }
    }

    /// Counters that mirror a worker process's reports.
    pub fn mirror(advanced: Arc<Notify>) -> Counters {
        Counters {
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            warm: AtomicU64::new(0),
            received: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            slots: Box::new([]),
            min_received: AtomicU64::new(0),
            advanced,
            first_error: Mutex::new(None),
        }
    }

    pub(crate) fn listener_connected(&self) {
        self.connected.fetch_add(1, Relaxed);
    }

    pub(crate) fn listener_failed(&self, slot: usize, error: &str) {
        self.note_error(error);
        self.connect_failed.fetch_add(1, Relaxed);
        self.retire(slot);
    }

    pub(crate) fn listener_warm(&self) {
        self.warm.fetch_add(1, Relaxed);
    }

    /// A listener now has `count` measured messages.
    pub(crate) fn listener_received(&self, slot: usize, count: u64) {
        self.received.fetch_add(1, Relaxed);
        if let Some(slot) = self.slots.get(slot) {
            slot.store(count, Relaxed);
        }
        if count.saturating_sub(1) <= self.min_received.load(Relaxed) {
            self.advanced.notify_waiters();
        }
    }

    pub(crate) fn listener_ended(&self, slot: usize, finished: bool) {
        if finished {
            self.finished.fetch_add(1, Relaxed);
        }
        self.ended.fetch_add(1, Relaxed);
        self.retire(slot);
    }

    /// Takes a listener out of the flow-control minimum.
    fn retire(&self, slot: usize) {
        if let Some(slot) = self.slots.get(slot) {
            slot.store(GONE, Relaxed);
        }
        self.advanced.notify_waiters();
    }

    /// The fewest measured messages a running listener has received ([`u64::MAX`] when
    /// none is running). Scans the slots: call it when the answer matters, not per
    /// message.
    pub fn min_received(&self) -> u64 {
        if self.slots.is_empty() {
            return self.min_received.load(Relaxed);
        }
        let min = self
            .slots
            .iter()
            .map(|slot| slot.load(Relaxed))
            .min()
            .unwrap_or(GONE);
        self.min_received.store(min, Relaxed);
        min
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

    /// The counts now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connected: self.connected.load(Relaxed),
            connect_failed: self.connect_failed.load(Relaxed),
            warm: self.warm.load(Relaxed),
            received: self.received.load(Relaxed),
            finished: self.finished.load(Relaxed),
            ended: self.ended.load(Relaxed),
            min_received: self.min_received(),
        }
    }

    /// Takes a worker's report as this mirror's counts, and wakes waiting publishers.
    pub fn set(&self, report: &Snapshot) {
        self.connected.store(report.connected, Relaxed);
        self.connect_failed.store(report.connect_failed, Relaxed);
        self.warm.store(report.warm, Relaxed);
        self.received.store(report.received, Relaxed);
        self.finished.store(report.finished, Relaxed);
        self.ended.store(report.ended, Relaxed);
        self.min_received.store(report.min_received, Relaxed);
        self.advanced.notify_waiters();
    }

    /// Takes a mirror's worker out of the flow control (it exited).
    pub fn set_gone(&self) {
        self.min_received.store(GONE, Relaxed);
        self.advanced.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_ignores_listeners_that_ended() {
        let counters = Counters::local(3, Arc::new(Notify::new()));
        counters.listener_received(0, 5);
        counters.listener_received(1, 2);
        assert_eq!(counters.min_received(), 0);
        counters.listener_failed(2, "refused");
        assert_eq!(counters.first_error().as_deref(), Some("refused"));
        assert_eq!(counters.min_received(), 2);
        counters.listener_ended(1, true);
        assert_eq!(counters.min_received(), 5);
        counters.listener_ended(0, false);
        assert_eq!(counters.min_received(), GONE);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.received, 2);
        assert_eq!(snapshot.finished, 1);
        assert_eq!(snapshot.ended, 2);
        assert_eq!(snapshot.connect_failed, 1);
    }

    #[test]
    fn a_mirror_reports_what_it_was_told() {
        let counters = Counters::mirror(Arc::new(Notify::new()));
        let report = Snapshot {
            connected: 10,
            min_received: 7,
            ..Snapshot::default()
        };
        counters.set(&report);
        assert_eq!(counters.snapshot(), report);
        counters.set_gone();
        assert_eq!(counters.min_received(), GONE);
    }
}
