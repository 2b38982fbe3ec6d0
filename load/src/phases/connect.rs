//! Phase 1, connecting: waits until every listener is connected, and measures how fast
//! they were.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::POLL;
use crate::LoadConfig;
use crate::counters::Counters;
use crate::listeners::snapshot;
use crate::receiver::CONNECT_TIMEOUT;
use crate::report::ConnectReport;

/// Waits until every listener is connected; fails at the first one that cannot.
pub async fn run(config: &LoadConfig, groups: &[Arc<Counters>]) -> anyhow::Result<ConnectReport> {
    let mut phase = config
        .display
        .phase("connecting", config.clients, "listeners");
    let start = Instant::now();
    let deadline = start + CONNECT_TIMEOUT + Duration::from_secs(5);
    loop {
        let counts = snapshot(groups);
        let elapsed = start.elapsed().as_secs_f64();
        if counts.connect_failed > 0 {
            let reason = groups
                .iter()
                .find_map(|group| group.first_error())
                .unwrap_or_else(|| "unknown reason".to_owned());
            phase.finish(format_args!("failed after {} listeners", counts.connected));
            anyhow::bail!(
                "{} of {} listeners could not connect; the first: {reason}",
                counts.connect_failed,
                config.clients
            );
        }
        if counts.connected >= config.clients {
            let per_second = if elapsed > 0.0 {
                counts.connected as f64 / elapsed
            } else {
                0.0
            };
            phase.finish(format_args!(
                "{} listeners in {elapsed:.2} s ({per_second:.0}/s)",
                counts.connected
            ));
            return Ok(ConnectReport {
                listeners: counts.connected,
                seconds: elapsed,
                per_second,
            });
        }
        if Instant::now() >= deadline {
            phase.finish("timed out");
            anyhow::bail!(
                "only {} of {} listeners connected within {} s",
                counts.connected,
                config.clients,
                CONNECT_TIMEOUT.as_secs()
            );
        }
        phase.update(counts.connected, || {
            format!("{:.0}/s", counts.connected as f64 / elapsed.max(1e-9))
        });
        tokio::time::sleep(POLL).await;
    }
}
