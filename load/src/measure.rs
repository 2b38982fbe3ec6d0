//! One target measured: its listeners and publishers through the four [`phases`], the
//! target's process read around them (memory before and after connecting, the peak and
//! CPU time while measuring), and the [`RunReport`] made of it all.
//!
//! [`phases`]: crate::phases

use std::sync::Arc;
use std::time::Duration;

use pipehub_client::Connection;
use tokio::sync::Notify;

use crate::LoadConfig;
use crate::counters::Counters;
use crate::hub_proc::{RssPeak, Target, TargetKind};
use crate::listeners::Listeners;
use crate::phases::{connect, draining, measuring, warm_up};
use crate::publisher::{self, Sent};
use crate::report::{
    ConnectReport, CpuReport, DeliveryReport, LatencyReport, LossReport, MemoryReport, RunReport,
};
use crate::spread::Hubs;
use crate::stats::GroupStats;
use crate::tool::{self, ToolSample};
use crate::{payload, report};

/// How long the target gets to settle after the last listener connected, before its
/// idle memory is sampled.
const IDLE_SETTLE: Duration = Duration::from_millis(500);

/// Measures one target through the four phases, then stops it (if it was spawned).
pub async fn measure(config: &LoadConfig, target: Target) -> anyhow::Result<RunReport> {
    let result = measure_target(config, &target).await;
    target.stop().await;
    result
}

/// What the target's process looked like, read around the phases.
struct Process {
    rss_empty: Option<u64>,
    rss_idle: Option<u64>,
    rss_peak: Option<u64>,
    cpu_start: Option<f64>,
    cpu_measuring_start: Option<f64>,
    cpu_end: Option<f64>,
    /// The CPUs the target may run on, as the system lists them.
    cpus: Option<String>,
}

/// What the publishing phases did.
struct Published {
    messages: u64,
    sent: Vec<Sent>,
    window: u64,
    /// The tool's clocks when measuring started, when the publishers were done, and when
    /// the listeners were.
    tool: [ToolSample; 3],
}

async fn measure_target(config: &LoadConfig, target: &Target) -> anyhow::Result<RunReport> {
    // Only a hub's run is spread; the raw baseline (never with --spread) is one server.
    let hubs = match target.kind {
        TargetKind::Hub => Hubs::new(&target.endpoint, &config.spread),
        TargetKind::Raw => Hubs::new(&target.endpoint, &[]),
    };
    announce(config, target, &hubs);
    // Every hub is asked before any listener connects, so that one that is not there
    // (or refuses) ends the run with the client's own error and exit code, not as a
    // listener's failure. The publishers need no window of their own where the target
    // holds them to its slowest listener: the raw baseline, or one hub that paces (the
    // bridge to other hubs skips rather than waits).
    let paces = match target.kind {
        TargetKind::Raw => true,
        TargetKind::Hub => {
            let mut pacing = Vec::with_capacity(hubs.count());
            for endpoint in hubs.all() {
                pacing.push(publisher::hub_paces(endpoint).await?);
            }
            pacing == [true]
        }
    };
    let run = payload::run_id();
    let rss_empty = target.rss_bytes();
    let cpu_start = target.cpu_seconds();
    let advanced = Arc::new(Notify::new());

    let listeners = Listeners::start(config, &hubs, run, &advanced)?;
    let groups = listeners.counters();
    let connect = match connect::run(config, &groups).await {
        Ok(connect) => connect,
        Err(err) => {
            let _ = listeners.finish().await;
            return Err(err);
        }
    };
    tokio::time::sleep(IDLE_SETTLE).await;
    let rss_idle = target.rss_bytes();

    let mut process = Process {
        rss_empty,
        rss_idle,
        rss_peak: None,
        cpu_start,
        cpu_measuring_start: None,
        cpu_end: None,
        cpus: target.cpus(),
    };
    let outcome = publish(
        config,
        target,
        paces,
        run,
        &listeners,
        &advanced,
        &mut process,
    )
    .await;
    let stats = listeners.finish().await;
    let published = outcome?;
    let stats = stats?;
    process.cpu_end = target.cpu_seconds();
    Ok(run_report(
        config, target, &hubs, connect, published, &stats, &process,
    ))
}

/// Tells the person watching what is measured now.
fn announce(config: &LoadConfig, target: &Target, hubs: &Hubs) {
    let spread = if hubs.count() > 1 {
        format!(
            ", its listeners spread over it and {}",
            hubs.others().join(", ")
        )
    } else {
        String::new()
    };
    config.display.note(format_args!(
        "measuring the {} at {}{}{spread}",
        target.kind.describe(),
        target.endpoint,
        target
            .pid
            .map_or(String::new(), |pid| format!(" (pid {pid})"))
    ));
}

/// Warm-up, measuring and draining, with the publishers they share; notes the target's
/// CPU time and peak memory while measuring in `process`.
async fn publish(
    config: &LoadConfig,
    target: &Target,
    paces: bool,
    run: u32,
    listeners: &Listeners,
    advanced: &Arc<Notify>,
    process: &mut Process,
) -> anyhow::Result<Published> {
    let groups = listeners.counters();
    let mut publishers = Vec::new();
    for _ in 0..config.publishers {
        publishers.push(publisher::connect(&target.endpoint).await?);
    }
    let window = window(config, paces, &publishers);
    let Some(first) = publishers.first_mut() else {
        anyhow::bail!("no publisher");
    };
    let max = first.max_message_len();
    anyhow::ensure!(
        config.size <= max,
        "--size {} is more than the {} at {} takes from a publisher ({max} bytes)",
        config.size,
        target.kind.describe(),
        target.endpoint
    );
    warm_up::run(config, first, run, &groups).await?;

    process.cpu_measuring_start = target.cpu_seconds();
    let rss_peak = RssPeak::start(target.pid);
    let pids = listeners.pids();
    let result = measure_and_drain(
        config,
        &mut publishers,
        window,
        run,
        &groups,
        advanced,
        &pids,
    )
    .await;
    process.rss_peak = rss_peak.finish().await;
    let (sent, tool) = result?;
    Ok(Published {
        messages: sent.iter().map(|s| s.messages).sum(),
        sent,
        window,
        tool,
    })
}

async fn measure_and_drain(
    config: &LoadConfig,
    publishers: &mut [Connection],
    window: u64,
    run: u32,
    groups: &[Arc<Counters>],
    advanced: &Arc<Notify>,
    pids: &[u32],
) -> anyhow::Result<(Vec<Sent>, [ToolSample; 3])> {
    let clock = config.publisher_clock.as_ref();
    let start = ToolSample::now(groups, clock, pids);
    let sent = measuring::run(config, publishers, window, run, groups, advanced).await?;
    let published_at = ToolSample::now(groups, clock, pids);
    let published = sent.iter().map(|s| s.messages).sum();
    if let Some(first) = publishers.first_mut() {
        draining::run(config, first, published, run, groups).await?;
    }
    let end = ToolSample::now(groups, clock, pids);
    Ok((sent, [start, published_at, end]))
}

/// The flow-control window: `--window`; by default none where the target `paces` the
/// publishers itself, and half its queue elsewhere.
fn window(config: &LoadConfig, paces: bool, publishers: &[Connection]) -> u64 {
    match config.window {
        Some(window) => window,
        None if paces => 0,
        None => publishers
            .first()
            .map_or(0, |c| u64::from(c.welcome().queue_frames / 2).max(1)),
    }
}

/// The report of one target's run.
fn run_report(
    config: &LoadConfig,
    target: &Target,
    hubs: &Hubs,
    connect: ConnectReport,
    published: Published,
    stats: &GroupStats,
    process: &Process,
) -> RunReport {
    let expected = published.messages * stats.listeners;
    let first_send = published.sent.iter().filter_map(|s| s.first_ns).min();
    let last_send = published.sent.iter().filter_map(|s| s.last_ns).max();
    let span = |from: Option<u64>, to: Option<u64>| match (from, to) {
        (Some(from), Some(to)) if to > from => (to - from) as f64 / 1e9,
        _ => 0.0,
    };
    let seconds = span(first_send, stats.last_receive_ns);
    let publish_seconds = span(first_send, last_send);
    let per_second = report::per_second(stats.received, seconds);
    let cpu_measuring = process
        .cpu_measuring_start
        .zip(process.cpu_end)
        .map(|(a, b)| b - a);
    let [start, published_at, end] = &published.tool;
    let mut tool = tool::report(
        start,
        published_at,
        end,
        per_second,
        cpu_measuring,
        config.rate > 0.0,
    );
    tool.target_cpus = process.cpus.clone();
    let bytes_per_idle_listener = process
        .rss_empty
        .zip(process.rss_idle)
        .filter(|_| connect.listeners > 0)
        .map(|(empty, idle)| (idle as f64 - empty as f64) / connect.listeners as f64);
    RunReport {
        target: target.kind,
        endpoint: target.endpoint.clone(),
        pid: target.pid,
        hubs: hubs.used_by(config.clients),
        connect,
        delivery: DeliveryReport {
            published: published.messages,
            expected,
            delivered: stats.received,
            seconds,
            per_second,
            publish_seconds,
            messages_per_second: report::per_second(published.messages, publish_seconds),
            window: published.window,
        },
        loss: LossReport {
            lost: expected.saturating_sub(stats.received),
            lagged: stats.lagged,
            unexplained_gaps: stats.unexplained_gaps,
            unfinished_listeners: stats.listeners.saturating_sub(stats.finished),
            failed_listeners: stats.failed + stats.connect_failed,
            errors: stats.errors.clone(),
        },
        latency_us: LatencyReport::from_histogram(&stats.latency),
        memory: MemoryReport {
            rss_empty_bytes: process.rss_empty,
            rss_idle_bytes: process.rss_idle,
            rss_peak_bytes: process.rss_peak,
            bytes_per_idle_listener,
        },
        cpu: CpuReport {
            measuring_seconds: cpu_measuring,
            total_seconds: process.cpu_start.zip(process.cpu_end).map(|(a, b)| b - a),
        },
        tool,
    }
}
