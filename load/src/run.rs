//! The run as a whole: check the flags and limits, then for each client count (one, or
//! every `--sweep` point) measure the hub, measure the raw baseline if asked, compare.
//! With `--spread` the listeners of the hub's run are spread over bridged hubs; nothing
//! else changes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::hub_proc::{Scratch, Target, TargetKind};
use crate::measure::measure;
use crate::report::{Machine, Point, Report};
use crate::{LoadConfig, limits};

/// Runs the load test `config` describes: for each client count, the hub, then the raw
/// baseline if asked. A spawned hub (and the raw baseline) is started afresh for every
/// point, so each point's memory and CPU numbers are its own, always at the same endpoint
/// in the run's directory, which the report's `config.endpoint` names.
pub async fn run(mut config: LoadConfig) -> anyhow::Result<Report> {
    let counts = config.client_counts();
    // Limits and flags are checked once, for the largest point, before anything starts.
    let largest = LoadConfig {
        clients: counts.iter().copied().max().unwrap_or(config.clients),
        ..config.clone()
    };
    largest.validate()?;
    limits::check_config(&largest)?;
    if !config.target_cpus.is_empty() {
        let tool = crate::affinity::keep_off(&config.target_cpus)?;
        config.display.note(format_args!(
            "the targets run on CPUs {}, this tool on {}",
            crate::affinity::list(&config.target_cpus),
            crate::affinity::list(&tool)
        ));
    }
    let scratch = (config.spawn_hub || config.baseline_raw)
        .then(Scratch::new)
        .transpose()?;
    if let Some(scratch) = scratch.as_ref().filter(|_| config.spawn_hub) {
        config.endpoint = TargetKind::Hub
            .endpoint_in(scratch.path())
            .display()
            .to_string();
    }
    let started_unix_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut points = Vec::with_capacity(counts.len());
    for clients in counts {
        let point = LoadConfig {
            clients,
            procs: config.procs.min(clients),
            ..config.clone()
        };
        if config.sweep.len() > 1 {
            config
                .display
                .note(format_args!("sweep: {clients} listeners"));
        }
        let mut runs = Vec::new();
        let hub = match &scratch {
            Some(scratch) if point.spawn_hub => {
                Target::start(TargetKind::Hub, &point, scratch).await?
            }
            _ => Target::running(&point.endpoint).await,
        };
        runs.push(measure(&point, hub).await?);
        if let Some(scratch) = scratch.as_ref().filter(|_| point.baseline_raw) {
            let raw = Target::start(TargetKind::Raw, &point, scratch).await?;
            runs.push(measure(&point, raw).await?);
        }
        points.push(Point::new(clients, runs));
    }
    Ok(Report {
        tool: "pipehub-client load",
        version: env!("CARGO_PKG_VERSION"),
        started_unix_seconds,
        machine: Machine::this(),
        config,
        points,
    })
}
