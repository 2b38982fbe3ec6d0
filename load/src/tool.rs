//! How hard the load tool itself worked during a run: readings of its threads' busy
//! clocks and its processes' CPU time, taken where the measuring starts, where the
//! publishers finish and where the last listener is done, and turned into a
//! [`ToolReport`] that says which side set the pace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::busy::{BusyClock, BusyReading};
use crate::counters::Counters;
use crate::hub_proc::cpu_seconds;
use crate::listeners::snapshot;
use crate::report::{Limit, ToolReport};

/// The tool's clocks at one moment.
#[derive(Clone, Copy, Debug)]
pub struct ToolSample {
    at: Instant,
    receivers: BusyReading,
    publisher: Option<BusyReading>,
    /// CPU seconds of the tool's processes so far.
    cpu: Option<f64>,
}

impl ToolSample {
    /// Reads the receivers of `groups`, the publishers' clock and the CPU time of the
    /// processes `pids` (this one and any workers).
    pub fn now(
        groups: &[Arc<Counters>],
        publisher: Option<&Arc<BusyClock>>,
        pids: &[u32],
    ) -> ToolSample {
        let cpu = pids
            .iter()
            .map(|&pid| cpu_seconds(pid))
            .sum::<Option<f64>>();
        ToolSample {
            at: Instant::now(),
            receivers: snapshot(groups).busy,
            publisher: publisher.map(|clock| clock.reading()),
            cpu,
        }
    }
}

/// What the tool did from `start` to `end`, the publishers having finished at
/// `published`, for a run that delivered `per_second` deliveries a second while the
/// target used `target_cpu` seconds of CPU; `paced` when `--rate` was given.
pub fn report(
    start: &ToolSample,
    published: &ToolSample,
    end: &ToolSample,
    per_second: f64,
    target_cpu: Option<f64>,
    paced: bool,
) -> ToolReport {
    let elapsed = end.at.saturating_duration_since(start.at);
    let receivers_busy = end.receivers.busy_since(&start.receivers, elapsed);
    let publisher_busy = published
        .publisher
        .zip(start.publisher)
        .and_then(|(to, from)| {
            to.busy_since(&from, published.at.saturating_duration_since(start.at))
        });
    let seconds = elapsed.as_secs_f64();
    ToolReport {
        receiver_threads: end.receivers.threads,
        receivers_busy,
        receiver_ceiling_per_second: receivers_busy
            .filter(|&busy| busy > 0.0 && per_second > 0.0)
            .map(|busy| per_second / busy),
        publisher_busy,
        target_cores: target_cpu
            .filter(|_| elapsed > Duration::ZERO)
            .map(|cpu| cpu / seconds),
        cpu_seconds: end.cpu.zip(start.cpu).map(|(to, from)| to - from),
        target_cpus: None,
        limit: Limit::judge(receivers_busy, publisher_busy, paced),
    }
}
