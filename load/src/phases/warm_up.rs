//! Phase 2, warm-up: a publisher sends markers until every listener has received one, so
//! that no listener misses the start of the measurement (a hub may still be settling
//! the last connections, a bridge still subscribing).

use std::sync::Arc;
use std::time::Duration;

use pipehub_client::Connection;

use crate::LoadConfig;
use crate::counters::Counters;
use crate::listeners::snapshot;
use crate::publisher;

/// Sends markers on `publisher` until every connected listener has one; fails after
/// `--warmup-timeout`.
pub async fn run(
    config: &LoadConfig,
    publisher: &mut Connection,
    run: u32,
    groups: &[Arc<Counters>],
) -> anyhow::Result<()> {
    let listeners = snapshot(groups).connected;
    let mut phase = config.display.phase("warm-up", listeners, "listeners");
    let timeout = Duration::try_from_secs_f64(config.warmup_timeout_seconds)
        .unwrap_or(Duration::from_secs(30));
    let warm = publisher::warm_up(publisher, config.size, run, timeout, || {
        let counts = snapshot(groups);
        phase.update(counts.warm, String::new);
        counts.warm >= listeners
    })
    .await?;
    if !warm {
        let warm_count = snapshot(groups).warm;
        phase.finish("timed out");
        // Listeners on a hub that is not bridged to the publishers' never warm up.
        let hint = if config.spread.is_empty() {
            ""
        } else {
            "; are the --spread hubs bridged to --endpoint's? (`pipehub --bridge`; \
             `pipehub-client status` shows the bridge as connected)"
        };
        anyhow::bail!(
            "only {warm_count} of {listeners} listeners received a warm-up marker within {} \
             s{hint}",
            timeout.as_secs_f64()
        );
    }
    phase.finish(format_args!("all {listeners} listeners received a marker"));
    Ok(())
}
