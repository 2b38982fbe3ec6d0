//! What listeners measured, in a form that adds up across listeners and processes.
//!
//! Each process that holds listeners (the load command itself, or a `--procs` worker)
//! reduces its listeners to one [`GroupStats`]; a worker sends it to the parent as JSON,
//! and the parent merges the groups. Counts add up, times take their minimum or maximum,
//! and latencies travel as histogram buckets, so merging loses no precision that the
//! histogram had.

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest latency the histogram records, in microseconds (one hour); longer ones are
/// recorded as this value.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant decimal digits the latency histogram keeps.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies in microseconds, as an HDR histogram.
#[derive(Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

impl fmt::Debug for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latency")
            .field("count", &self.histogram.len())
            .finish_non_exhaustive()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Latency {
        // The bounds are constants that hdrhistogram accepts.
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
            .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"));
        Latency { histogram }
    }

    /// Records one latency; values out of range are clamped.
    pub fn record(&mut self, micros: u64) {
        self.histogram
            .saturating_record(micros.clamp(1, MAX_LATENCY_US));
    }

    /// Records `count` latencies of `micros` each; values out of range are clamped.
    pub fn record_n(&mut self, micros: u64, count: u64) {
        self.histogram
            .saturating_record_n(micros.clamp(1, MAX_LATENCY_US), count);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Both histograms have the same bounds; `saturating_record_n` per bucket keeps
        // this total even if that ever changed.
        for value in other.histogram.iter_recorded() {
            self.histogram
                .saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0.0 to 1.0), in microseconds; 0 when empty.
    pub fn quantile(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_quantile(quantile)
        }
    }

    /// The largest latency recorded, in microseconds; 0 when empty.
    pub fn max(&self) -> u64 {
        self.histogram.max()
    }

    /// The mean latency, in microseconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        self.histogram.mean()
    }

    /// The percentile distribution, as HdrHistogram prints it: `ticks_per_half_distance`
    /// steps for every halving of the distance to 100 %, so the tail (99 %, 99.9 %, ...)
    /// gets as many points as the body. Empty when nothing was recorded.
    pub fn distribution(&self, ticks_per_half_distance: u32) -> Vec<Percentile> {
        let mut total_count = 0;
        self.histogram
            .iter_quantiles(ticks_per_half_distance)
            .map(|step| {
                total_count += step.count_since_last_iteration();
                Percentile {
                    quantile: step.quantile_iterated_to(),
                    value_us: step.value_iterated_to(),
                    total_count,
                }
            })
            .collect()
    }
}

/// One step of a latency percentile distribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Percentile {
    /// The fraction of latencies (0.0 to 1.0) at or below `value_us`.
    pub quantile: f64,
    /// The latency, in microseconds.
    pub value_us: u64,
    /// How many latencies are at or below `value_us`.
    pub total_count: u64,
}

/// The wire form of a histogram: `[value_us, count]` for each non-empty bucket.
#[derive(Serialize, Deserialize)]
struct Buckets(Vec<(u64, u64)>);

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buckets = self
            .histogram
            .iter_recorded()
            .map(|value| (value.value_iterated_to(), value.count_at_value()))
            .collect();
        Buckets(buckets).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Latency, D::Error> {
        let Buckets(buckets) = Buckets::deserialize(deserializer)?;
        let mut latency = Latency::new();
        for (value, count) in buckets {
            latency
                .histogram
                .saturating_record_n(value.clamp(1, MAX_LATENCY_US), count);
        }
        Ok(latency)
    }
}

/// How one listener's session went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerOutcome {
    /// Whether the session opened; a listener that never connected counts only in
    /// [`GroupStats::connect_failed`].
    pub connected: bool,
    /// Measured messages received.
    pub received: u64,
    /// Broadcasts the hub said this listener missed (`LAGGED`).
    pub lagged: u64,
    /// Jumps in sequence numbers that no `LAGGED` explained.
    pub unexplained_gaps: u64,
    /// Whether the end marker arrived.
    pub finished: bool,
    /// Why the session ended early, if it did.
    pub error: Option<String>,
    /// Wall-clock receive time of the first and last measured message, ns since the
    /// epoch.
    pub first_receive_ns: Option<u64>,
    pub last_receive_ns: Option<u64>,
}

/// The listeners of one process (or of all processes, once merged).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GroupStats {
    /// Listeners whose session opened.
    pub listeners: u64,
    /// Listeners that could not connect.
    pub connect_failed: u64,
    /// Measured messages received, summed over listeners.
    pub received: u64,
    /// The fewest and most measured messages one listener received.
    pub min_received: Option<u64>,
    pub max_received: Option<u64>,
    /// Broadcasts the hub announced as missed (`LAGGED`), summed over listeners.
    pub lagged: u64,
    /// Sequence jumps no `LAGGED` explained, summed over listeners (a hub bug if not 0).
    pub unexplained_gaps: u64,
    /// Listeners that received the end marker before the drain timeout.
    pub finished: u64,
    /// Listeners whose session ended with an error, and the first few errors (connection
    /// failures included).
    pub failed: u64,
    pub errors: Vec<String>,
    /// Earliest and latest receive of a measured message, ns since the epoch.
    pub first_receive_ns: Option<u64>,
    pub last_receive_ns: Option<u64>,
    /// Send-to-receive latency of every measured message, in microseconds.
    pub latency: Latency,
}

/// How many distinct error texts a group keeps.
const MAX_ERRORS: usize = 5;

impl GroupStats {
    /// Adds one listener's outcome.
    pub fn add_listener(&mut self, outcome: ListenerOutcome) {
        if !outcome.connected {
            self.connect_failed += 1;
            if let Some(error) = outcome.error {
                self.note_error(error);
            }
            return;
        }
        self.listeners += 1;
        self.received += outcome.received;
        self.min_received = Some(
            self.min_received
                .map_or(outcome.received, |min| min.min(outcome.received)),
        );
        self.max_received = Some(
            self.max_received
                .map_or(outcome.received, |max| max.max(outcome.received)),
        );
        self.lagged += outcome.lagged;
        self.unexplained_gaps += outcome.unexplained_gaps;
        self.finished += u64::from(outcome.finished);
        if let Some(error) = outcome.error {
            self.failed += 1;
            self.note_error(error);
        }
        self.first_receive_ns = min_opt(self.first_receive_ns, outcome.first_receive_ns);
        self.last_receive_ns = max_opt(self.last_receive_ns, outcome.last_receive_ns);
    }

    /// Adds another group.
    pub fn merge(&mut self, other: GroupStats) {
        self.listeners += other.listeners;
        self.connect_failed += other.connect_failed;
        self.received += other.received;
        self.min_received = min_opt(self.min_received, other.min_received);
        self.max_received = max_opt(self.max_received, other.max_received);
        self.lagged += other.lagged;
        self.unexplained_gaps += other.unexplained_gaps;
        self.finished += other.finished;
        self.failed += other.failed;
        for error in other.errors {
            self.note_error(error);
        }
        self.first_receive_ns = min_opt(self.first_receive_ns, other.first_receive_ns);
        self.last_receive_ns = max_opt(self.last_receive_ns, other.last_receive_ns);
        self.latency.merge(&other.latency);
    }

    /// Keeps `error` if it is new and there is room.
    pub fn note_error(&mut self, error: String) {
        if self.errors.len() < MAX_ERRORS && !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_survives_json_and_merging() {
        let mut a = Latency::new();
        for us in 1..=1000 {
            a.record(us);
        }
        let json = serde_json::to_string(&a).unwrap_or_default();
        let b: Latency = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(b.count(), 1000);
        assert_eq!(b.quantile(0.5), a.quantile(0.5));
        let mut merged = Latency::new();
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.count(), 2000);
        assert_eq!(merged.max(), a.max());
    }

    #[test]
    fn distribution_reaches_the_maximum_with_every_count() {
        let mut latency = Latency::new();
        for us in 1..=1000 {
            latency.record(us);
        }
        let steps = latency.distribution(5);
        assert!(steps.len() > 20, "{} steps", steps.len());
        assert!(steps.windows(2).all(|w| w[0].quantile <= w[1].quantile));
        assert!(steps.windows(2).all(|w| w[0].value_us <= w[1].value_us));
        let last = steps.last().cloned();
        assert_eq!(last.as_ref().map(|s| s.total_count), Some(1000));
        assert_eq!(last.as_ref().map(|s| s.quantile), Some(1.0));
        assert_eq!(last.map(|s| s.value_us), Some(latency.max()));
        assert!(Latency::new().distribution(5).is_empty());
    }

    #[test]
    fn groups_add_up() {
        let mut group = GroupStats::default();
        group.add_listener(ListenerOutcome {
            connected: false,
            error: Some("refused".into()),
            ..ListenerOutcome::default()
        });
        group.add_listener(ListenerOutcome {
            connected: true,
            received: 10,
            finished: true,
            first_receive_ns: Some(5),
            last_receive_ns: Some(50),
            ..ListenerOutcome::default()
        });
        group.add_listener(ListenerOutcome {
            connected: true,
            received: 7,
            lagged: 3,
            error: Some("boom".into()),
            first_receive_ns: Some(4),
            last_receive_ns: Some(40),
            ..ListenerOutcome::default()
        });
        let mut total = GroupStats::default();
        total.merge(group.clone());
        total.merge(group);
        assert_eq!(total.listeners, 4);
        assert_eq!(total.received, 34);
        assert_eq!(total.min_received, Some(7));
        assert_eq!(total.max_received, Some(10));
        assert_eq!(total.lagged, 6);
        assert_eq!(total.finished, 2);
        assert_eq!(total.failed, 2);
        assert_eq!(total.connect_failed, 2);
        assert_eq!(total.errors, vec!["refused".to_owned(), "boom".to_owned()]);
        assert_eq!(total.first_receive_ns, Some(4));
        assert_eq!(total.last_receive_ns, Some(50));
    }
}
