//! `pipehub-load run`: the load test `pipehub-client load` asked for. Turns its arguments
//! into a [`LoadConfig`], prints the table on stdout and writes the JSON and HTML
//! reports.

use std::sync::Arc;

use anyhow::Context;
use pipehub_client::load_command::{Baseline, LoadArgs};
use pipehub_load::busy::BusyClock;
use pipehub_load::{self as load, Display, LoadConfig};

use super::notice;

/// Runs the load test the handed-over `args` describe.
pub async fn run(endpoint: &str, args: &str, clock: Arc<BusyClock>) -> anyhow::Result<()> {
    let args = LoadArgs::from_handoff(args).context(
        "pipehub-load does not understand the arguments pipehub-client handed over; are \
         both from the same build?",
    )?;
    anyhow::ensure!(
        !endpoint.is_empty(),
        "no endpoint: run the load test as `pipehub-client load`"
    );
    let config = LoadConfig {
        clients: args.clients,
        sweep: args.sweep,
        procs: args.procs,
        receiver_threads: args
            .receiver_threads
            .map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
        publishers: args.publishers,
        messages: args.messages,
        duration_seconds: args.duration,
        size: usize::try_from(args.size).context("--size is too large")?,
        rate: args.rate,
        window: args.window,
        endpoint: endpoint.to_owned(),
        spread: args.spread,
        spawn_hub: args.spawn_hub,
        hub_args: args.hub_args,
        target_cpus: args.target_cpus.map(|cpus| cpus.0).unwrap_or_default(),
        baseline_raw: args.baseline == Some(Baseline::Raw),
        connect_concurrency: usize::try_from(args.connect_concurrency).unwrap_or(usize::MAX),
        drain_timeout_seconds: args.drain_timeout,
        warmup_timeout_seconds: args.warmup_timeout,
        display: Display::detect(),
        publisher_clock: Some(clock),
    };
    let report = load::run(config).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("encoding the JSON report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("could not write the JSON report to {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        std::fs::write(path, load::html::page(&report))
            .with_context(|| format!("could not write the HTML report to {}", path.display()))?;
    }
    for (clients, run) in report.runs() {
        if run.loss.lost > 0 || run.loss.unexplained_gaps > 0 {
            notice(format_args!(
                "warning: the {} with {clients} listeners lost {} of {} deliveries ({} \
                 announced as LAGGED, {} unexplained gaps)",
                run.target.describe(),
                run.loss.lost,
                run.delivery.expected,
                run.loss.lagged,
                run.loss.unexplained_gaps
            ));
        }
    }
    Ok(())
}
