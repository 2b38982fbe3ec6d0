//! The hub's status report ([`StatusReport`]), as the operator's `/list` and `/stats` show
//! it and as a client's `STATUS_REQUEST` receives it, and the [`Meter`] that measures the
//! rates in it.
//!
//! Rates ("deliveries per second over the last seconds") need history: one task per hub
//! ([`sample_rates`], started by the server) samples the log's counters once a second
//! and the meter keeps the last [`RATE_WINDOW`] of samples. A report compares the
//! counters now with the oldest sample kept, so it costs no waiting.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use pipehub_protocol::{
    ClientId, Frame,
    status::{ClientStatus, HubStatus, StatusReport, StatusStats},
};
use tokio_util::sync::CancellationToken;

use crate::Hub;

/// How often the counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How far back rates reach.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The shortest span a rate is given over; before that, rates are "not measured yet".
const MIN_RATE_SPAN: Duration = Duration::from_millis(900);

/// The counters at one moment.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    broadcasts: u64,
    deliveries: u64,
}

/// When the hub started, and recent samples of its counters.
pub(crate) struct Meter {
    started_at: SystemTime,
    samples: Mutex<VecDeque<Sample>>,
}

impl Meter {
    pub(crate) fn new() -> Meter {
        Meter {
            started_at: SystemTime::now(),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps `sample`, and forgets samples older than the window.
    fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(sample);
        while samples
            .front()
            .is_some_and(|oldest| sample.at.duration_since(oldest.at) > RATE_WINDOW)
        {
            samples.pop_front();
        }
    }

    /// Broadcasts/s and deliveries/s from the oldest sample kept to `now`, and the span
    /// they cover; `None` while there is too little history.
    fn rates(&self, now: Sample) -> Option<(f64, f64, Duration)> {
        let oldest = *self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .front()?;
        let span = now.at.saturating_duration_since(oldest.at);
        if span < MIN_RATE_SPAN {
            return None;
        }
        // Three decimals say all there is to say about a rate.
        let per_s = |later: u64, earlier: u64| {
            let rate = later.saturating_sub(earlier) as f64 / span.as_secs_f64();
            (rate * 1000.0).round() / 1000.0
        };
        Some((
            per_s(now.broadcasts, oldest.broadcasts),
            per_s(now.deliveries, oldest.deliveries),
            span,
        ))
    }
}

/// Samples `hub`'s counters once a second until `stop` is cancelled.
pub(crate) async fn sample_rates(hub: Hub, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => hub.shared.meter.record(counters(&hub)),
        }
    }
}

fn counters(hub: &Hub) -> Sample {
    Sample {
        at: Instant::now(),
        broadcasts: hub.shared.log.tail(),
        deliveries: hub.shared.log.deliveries(),
    }
}

impl Hub {
    /// Everything the hub can tell about itself now: the hub, its counters and rates,
    /// and every connected client. `requested_by` is the client that asked, if one did.
    ///
    /// Costs a walk over every connected client: meant for people and monitoring, not for
    /// a hot path.
    pub fn status(&self, requested_by: Option<ClientId>) -> StatusReport {
        let now = counters(self);
        let stats = self.stats();
        let clients = self.clients();
        let (broadcasts_per_s, deliveries_per_s, span) = match self.shared.meter.rates(now) {
            Some((b, d, span)) => (Some(b), Some(d), span),
            None => (None, None, Duration::ZERO),
        };
        let config = self.config();
        StatusReport {
            hub: HubStatus {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                instance: self.instance().to_string(),
                pid: std::process::id(),
                started_at_us: micros(self.shared.meter.started_at),
                now_us: micros(SystemTime::now()),
                max_clients: config.max_clients as u64,
                max_frame: config.max_frame,
                queue_frames: config.queue_frames as u64,
                history_frames: config.history_frames as u64,
                when_behind: config.when_behind.name().to_owned(),
                stall_timeout_ms: u64::try_from(config.stall_timeout.as_millis())
                    .unwrap_or(u64::MAX),
            },
            stats: StatusStats {
                clients: (stats.listeners + stats.publishers + stats.text_listeners) as u64,
                listeners: stats.listeners as u64,
                publishers: stats.publishers as u64,
                text_listeners: stats.text_listeners as u64,
                broadcasts: stats.broadcasts,
                bytes_broadcast: stats.bytes_broadcast,
                deliveries: stats.deliveries,
                broadcasts_per_s,
                deliveries_per_s,
                rate_window_s: (span.as_secs_f64() * 10.0).round() / 10.0,
                lagged_clients: stats.lagged_clients as u64,
                missed: stats.missed,
                retained: stats.retained as u64,
                refused: stats.refused,
                stalled_listeners: stats.stalled_listeners as u64,
                paused_publishers: stats.paused_publishers as u64,
                paused_s: (stats.paused_seconds * 1000.0).round() / 1000.0,
            },
            bridge: self.bridge(),
            clients: clients
                .into_iter()
                .map(|c| ClientStatus {
                    id: c.id.0,
                    name: c.name,
                    role: c.kind.name().to_owned(),
                    uid: c.peer.map(|p| p.uid),
                    gid: c.peer.map(|p| p.gid),
                    pid: c
                        .peer
                        .and_then(|p| p.pid)
                        .and_then(|pid| u32::try_from(pid).ok()),
                    connected_at_us: micros(c.connected_at),
                    queued: c.queued,
                    missed: c.missed,
                    stalled: c.stalled,
                    paused: c.paused,
                })
                .collect(),
            requested_by: requested_by.map(|id| id.0),
        }
    }

    /// The answer to client `id`'s `STATUS_REQUEST`: the report, as the encoded `STATUS`
    /// frames that carry it within the hub's frame limit.
    pub(crate) fn status_frames(&self, id: ClientId) -> Vec<Bytes> {
        self.status(Some(id))
            .to_frames(self.config().max_frame)
            .iter()
            .map(Frame::to_bytes)
            .collect()
    }
}

/// Microseconds since the Unix epoch (0 for a time before it).
fn micros(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, broadcasts: u64, deliveries: u64) -> Sample {
        Sample {
            at,
            broadcasts,
            deliveries,
        }
    }

    #[test]
    fn rates_need_a_moment_of_history() {
        let meter = Meter::new();
        let t0 = Instant::now();
        assert!(meter.rates(sample(t0, 0, 0)).is_none(), "no samples");
        meter.record(sample(t0, 0, 0));
        let soon = t0 + Duration::from_millis(100);
        assert!(meter.rates(sample(soon, 5, 50)).is_none(), "too soon");
    }

    #[test]
    fn rates_compare_now_with_the_oldest_sample_in_the_window() {
        let meter = Meter::new();
        let t0 = Instant::now();
        for s in 0..=20u64 {
            meter.record(sample(t0 + Duration::from_secs(s), s * 10, s * 30));
        }
        // Samples older than 10 s before the newest are gone: the oldest is at 10 s.
        let now = sample(t0 + Duration::from_secs(20), 200, 600);
        let (b, d, span) = meter.rates(now).expect("rates");
        assert_eq!(span, Duration::from_secs(10));
        assert!((b - 10.0).abs() < 1e-9, "{b}");
        assert!((d - 30.0).abs() < 1e-9, "{d}");
    }
}
