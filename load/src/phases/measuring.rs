//! Phase 3, measuring: K publishers send the measured messages, stamped with their send
//! time, paced by `--rate` and held within the flow-control window of the slowest
//! listener ([`Flow`]), for `--messages` messages or `--duration` seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_util::future::try_join_all;
use pipehub_client::Connection;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::POLL;
use crate::LoadConfig;
use crate::counters::Counters;
use crate::listeners::snapshot;
use crate::publisher::{self, Flow, Plan, Sent};

/// Publishes the measured messages on every connection in `publishers`, within `window`
/// messages of the slowest listener (0: no window). Returns what each publisher sent.
pub async fn run(
    config: &LoadConfig,
    publishers: &mut [Connection],
    window: u64,
    run: u32,
    groups: &[Arc<Counters>],
    advanced: &Arc<Notify>,
) -> anyhow::Result<Vec<Sent>> {
    let listeners = snapshot(groups).connected;
    let flow = Flow {
        window,
        sent: Arc::new(AtomicU64::new(0)),
        groups: groups.to_vec(),
        advanced: Arc::clone(advanced),
    };
    let plans = plans(config, run);
    let total_messages = if config.duration_seconds.is_some() {
        0
    } else {
        config.messages
    };
    let mut phase = config
        .display
        .phase("measuring", total_messages * listeners, "deliveries");
    let start = Instant::now();
    let publishing = try_join_all(
        publishers
            .iter_mut()
            .zip(&plans)
            .map(|(connection, plan)| publisher::publish(connection, plan, &flow)),
    );
    tokio::pin!(publishing);
    let sent = loop {
        tokio::select! {
            result = &mut publishing => break result?,
            () = tokio::time::sleep(POLL * 20) => {
                let counts = snapshot(groups);
                let elapsed = start.elapsed().as_secs_f64().max(1e-9);
                phase.update(counts.received, || format!(
                    "{:.0} deliveries/s, {} messages sent",
                    counts.received as f64 / elapsed,
                    flow.sent.load(Relaxed)
                ));
            }
        }
    };
    let published: u64 = sent.iter().map(|s| s.messages).sum();
    phase.finish(format_args!(
        "{published} messages published in {:.2} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(sent)
}

/// Each publisher's share of the messages (or of the duration) and of the rate.
fn plans(config: &LoadConfig, run: u32) -> Vec<Plan> {
    let until = config
        .duration_seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|d| Instant::now() + d);
    let k = config.publishers;
    (0..k)
        .map(|i| Plan {
            messages: until
                .is_none()
                .then(|| config.messages / k + u64::from(i < config.messages % k)),
            until,
            rate: config.rate / k as f64,
            size: config.size,
            run,
        })
        .collect()
}
