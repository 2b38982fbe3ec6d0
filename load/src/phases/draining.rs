//! Phase 4, draining: the end marker follows the last measured message; once every
//! listener has it, or no delivery arrived for `--drain-timeout`, the missing
//! deliveries count as lost.

use std::sync::Arc;
use std::time::Duration;

use pipehub_client::Connection;
use tokio::time::Instant;

use super::POLL;
use crate::LoadConfig;
use crate::counters::Counters;
use crate::listeners::snapshot;
use crate::publisher;

/// Sends the end marker on `publisher` and waits for the `published` measured messages
/// to reach every listener (or for the drain timeout).
pub async fn run(
    config: &LoadConfig,
    publisher: &mut Connection,
    published: u64,
    run: u32,
    groups: &[Arc<Counters>],
) -> anyhow::Result<()> {
    publisher::end(publisher, config.size, run).await?;
    let expected = published * snapshot(groups).connected;
    let mut phase = config.display.phase("draining", expected, "deliveries");
    let timeout = Duration::try_from_secs_f64(config.drain_timeout_seconds)
        .unwrap_or(Duration::from_secs(10));
    // The timeout counts from the last delivery, not from the end marker: a large
    // backlog that is still moving is not loss.
    let mut last_received = 0;
    let mut last_progress = Instant::now();
    loop {
        let counts = snapshot(groups);
        if counts.ended >= counts.connected {
            phase.finish(format_args!(
                "{} of {} deliveries",
                counts.received, expected
            ));
            return Ok(());
        }
        if counts.received != last_received {
            last_received = counts.received;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= timeout {
            phase.finish(format_args!(
                "gave up after {} s without a delivery: {} of {} listeners have the end marker",
                timeout.as_secs_f64(),
                counts.finished,
                counts.connected
            ));
            return Ok(());
        }
        phase.update(counts.received, || {
            format!("{} listeners done", counts.ended)
        });
        tokio::time::sleep(POLL).await;
    }
}
