//! The hub's status report ([`StatusReport`]), as the operator's `/list` and `/stats` show
//! it and as a client's `STATUS_REQUEST` receives it; its rates come from the hub's
//! `Meter`, which [`sample_rates`] feeds once a second.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use pipehub_protocol::{
    ClientId, Frame,
    status::{ClientStatus, HubStatus, StatusReport, StatusStats},
};
use tokio_util::sync::CancellationToken;

use crate::{hub::Hub, meter::Sample};

/// How often the counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples `hub`'s counters once a second until `stop` is cancelled.
pub(crate) async fn sample_rates(hub: Hub, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => hub.meter().record(counters(&hub)),
        }
    }
}

fn counters(hub: &Hub) -> Sample {
    Sample {
        at: Instant::now(),
        broadcasts: hub.log().tail(),
        deliveries: hub.log().deliveries(),
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
        let (broadcasts_per_s, deliveries_per_s, span) = match self.meter().rates(now) {
            Some((b, d, span)) => (Some(b), Some(d), span),
            None => (None, None, Duration::ZERO),
        };
        let config = self.config();
        StatusReport {
            hub: HubStatus {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                instance: self.instance().to_string(),
                pid: std::process::id(),
                started_at_us: micros(self.meter().started_at),
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
