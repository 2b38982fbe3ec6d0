//! The phases of a load test, for one target at a time, and the run as a whole: check
//! the limits, then for each client count (one, or every `--sweep` point) measure the hub,
//! measure the raw baseline if asked, compare. With `--spread` the listeners of the hub's
//! run are spread over bridged hubs ([`Hubs`]); the phases do not change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::future::try_join_all;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::counters::{Counters, Snapshot};
use super::group::{CONNECT_TIMEOUT, LocalGroup};
use super::hub_proc::{Scratch, Target, TargetKind};
use super::procs::{WorkerGroup, WorkerSpec};
use super::publisher::{self, Flow, Plan, Sent};
use super::report::{
    ConnectReport, CpuReport, DeliveryReport, LatencyReport, LossReport, Machine, MemoryReport,
    Point, Report, RunReport,
};
use super::spread::Hubs;
use super::stats::GroupStats;
use super::{LoadConfig, limits, payload};

/// How often the phases look at the counters (and move the progress bars).
const POLL: Duration = Duration::from_millis(5);

/// How long the target gets to settle after the last listener connected, before its
/// idle memory is sampled.
const IDLE_SETTLE: Duration = Duration::from_millis(500);

/// How often the target's memory is sampled while measuring.
const RSS_SAMPLE: Duration = Duration::from_millis(100);

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
    validate(&largest)?;
    check_limits(&largest)?;
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
            Some(scratch) if point.spawn_hub => spawn(TargetKind::Hub, &point, scratch).await?,
            _ => Target::running(&point.endpoint).await,
        };
        runs.push(measure(&point, hub).await?);
        if let Some(scratch) = scratch.as_ref().filter(|_| point.baseline_raw) {
            let raw = spawn(TargetKind::Raw, &point, scratch).await?;
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

fn validate(config: &LoadConfig) -> anyhow::Result<()> {
    anyhow::ensure!(config.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(
        config.sweep.iter().all(|&n| n >= 1),
        "every --sweep point must be at least 1 listener"
    );
    anyhow::ensure!(
        (1..=config.clients).contains(&config.procs),
        "--procs must be between 1 and --clients ({})",
        config.clients
    );
    anyhow::ensure!(config.publishers >= 1, "--publishers must be at least 1");
    anyhow::ensure!(
        config.size >= payload::HEADER_LEN,
        "--size must be at least {} bytes (the load header)",
        payload::HEADER_LEN
    );
    anyhow::ensure!(
        config.rate.is_finite() && config.rate >= 0.0,
        "--rate must be 0 or more"
    );
    if !config.spread.is_empty() {
        // The command line rejects these too; this is for callers of the library.
        anyhow::ensure!(
            !config.spawn_hub && !config.baseline_raw,
            "--spread needs running hubs bridged to --endpoint's: not with --spawn-hub or \
             --baseline"
        );
        let mut seen = vec![config.endpoint.as_str()];
        for endpoint in &config.spread {
            anyhow::ensure!(
                !seen.contains(&endpoint.as_str()),
                "--spread names {endpoint} twice, or it is --endpoint too: give each hub once"
            );
            seen.push(endpoint);
        }
    }
    if cfg!(not(unix)) && (config.spawn_hub || config.baseline_raw) {
        anyhow::bail!(
            "--spawn-hub and --baseline raw need Unix sockets; on this platform, start a hub \
             and measure it with --endpoint"
        );
    }
    Ok(())
}

/// Raises the open-file limit and checks that every process will fit in it.
fn check_limits(config: &LoadConfig) -> anyhow::Result<()> {
    let limit = limits::raise_nofile();
    let per_process = config.clients.div_ceil(config.procs);
    let here = if config.procs > 1 {
        config.publishers + 3 * config.procs + limits::SPARE_FDS
    } else {
        config.clients + config.publishers + limits::SPARE_FDS
    };
    let fix = if config.procs > 1 {
        limits::ulimit_fix(here, limit)
    } else {
        format!(
            "{}, or spread the listeners over processes with --procs {}",
            limits::ulimit_fix(here, limit),
            limit.map_or(2, |(soft, _)| {
                config
                    .clients
                    .div_ceil(soft.saturating_sub(limits::SPARE_FDS).max(1))
                    + 1
            })
        )
    };
    limits::check(limit, "this load process", here, &fix)?;
    if config.procs > 1 {
        let worker = per_process + limits::SPARE_FDS;
        limits::check(
            limit,
            "each worker process",
            worker,
            &format!("{}, or use more --procs", limits::ulimit_fix(worker, limit)),
        )?;
    }
    if config.spawn_hub || config.baseline_raw {
        let target = config.clients + config.publishers + limits::SPARE_FDS;
        limits::check(
            limit,
            "the spawned hub",
            target,
            &limits::ulimit_fix(target, limit),
        )?;
    }
    Ok(())
}

#[cfg(unix)]
async fn spawn(kind: TargetKind, config: &LoadConfig, scratch: &Scratch) -> anyhow::Result<Target> {
    match kind {
        TargetKind::Hub => {
            let program = super::hub_proc::sibling_binary("pipehub")?;
            Target::spawn(kind, &program, &config.hub_args, scratch).await
        }
        TargetKind::Raw => {
            let program = std::env::current_exe().context("cannot tell where this program is")?;
            Target::spawn(
                kind,
                &program,
                &[super::hub_proc::RAW_COMMAND.to_owned()],
                scratch,
            )
            .await
        }
    }
}

#[cfg(not(unix))]
async fn spawn(
    kind: TargetKind,
    _config: &LoadConfig,
    _scratch: &Scratch,
) -> anyhow::Result<Target> {
    anyhow::bail!(
        "starting a {} needs Unix sockets; start a hub and pass --endpoint",
        kind.name()
    )
}

/// The listeners of one run: in this process, or in worker processes.
enum Listeners {
    Local(LocalGroup),
    Workers(Vec<WorkerGroup>),
}

impl Listeners {
    fn start(
        config: &LoadConfig,
        hubs: &Hubs,
        run: u32,
        advanced: &Arc<Notify>,
    ) -> anyhow::Result<Listeners> {
        let clients = usize::try_from(config.clients).context("--clients is too large")?;
        if config.procs <= 1 {
            let counters = Arc::new(Counters::local(clients, Arc::clone(advanced)));
            return Ok(Listeners::Local(LocalGroup::start(
                hubs,
                clients,
                run,
                config.connect_concurrency,
                counters,
            )));
        }
        let exe = std::env::current_exe().context("cannot tell where this program is")?;
        let procs = usize::try_from(config.procs).context("--procs is too large")?;
        let mut workers = Vec::with_capacity(procs);
        let mut first_slot = 0;
        for i in 0..procs {
            let listeners = clients / procs + usize::from(i < clients % procs);
            let round = hubs.starting_at(first_slot);
            let spec = WorkerSpec {
                endpoint: round.first().to_owned(),
                spread: round.others().to_vec(),
                listeners,
                run,
                concurrency: config.connect_concurrency,
            };
            workers.push(WorkerGroup::spawn(&exe, &spec, Arc::clone(advanced))?);
            first_slot += listeners;
        }
        Ok(Listeners::Workers(workers))
    }

    fn counters(&self) -> Vec<Arc<Counters>> {
        match self {
            Listeners::Local(group) => vec![Arc::clone(group.counters())],
            Listeners::Workers(workers) => {
                workers.iter().map(|w| Arc::clone(w.counters())).collect()
            }
        }
    }

    async fn finish(self) -> anyhow::Result<GroupStats> {
        match self {
            Listeners::Local(group) => Ok(group.finish().await),
            Listeners::Workers(workers) => {
                let mut total = GroupStats::default();
                for stats in
                    futures_util::future::join_all(workers.into_iter().map(WorkerGroup::finish))
                        .await
                {
                    total.merge(stats?);
                }
                Ok(total)
            }
        }
    }
}

fn snapshot(groups: &[Arc<Counters>]) -> Snapshot {
    let mut total = Snapshot {
        min_received: u64::MAX,
        ..Snapshot::default()
    };
    for group in groups {
        total.add(&group.snapshot());
    }
    total
}

/// A random-enough ID that tells this run's messages from any other traffic.
fn run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// Measures one target through the four phases, then stops it (if it was spawned).
pub async fn measure(config: &LoadConfig, target: Target) -> anyhow::Result<RunReport> {
    let result = measure_phases(config, &target).await;
    target.stop().await;
    result
}

async fn measure_phases(config: &LoadConfig, target: &Target) -> anyhow::Result<RunReport> {
    let display = config.display;
    let name = target.kind.describe();
    // Only a hub's run is spread; the raw baseline (never with --spread) is one server.
    let hubs = match target.kind {
        TargetKind::Hub => Hubs::new(&target.endpoint, &config.spread),
        TargetKind::Raw => Hubs::new(&target.endpoint, &[]),
    };
    let spread = if hubs.count() > 1 {
        format!(
            ", its listeners spread over it and {}",
            hubs.others().join(", ")
        )
    } else {
        String::new()
    };
    display.note(format_args!(
        "measuring the {name} at {}{}{spread}",
        target.endpoint,
        target
            .pid
            .map_or(String::new(), |pid| format!(" (pid {pid})"))
    ));
    let run = run_id();
    let rss_empty = target.rss_bytes();
    let cpu_start = target.cpu_seconds();
    let advanced = Arc::new(Notify::new());

    // 1. Connecting.
    let listeners = Listeners::start(config, &hubs, run, &advanced)?;
    let groups = listeners.counters();
    let connect = match connect_phase(config, &groups).await {
        Ok(connect) => connect,
        Err(err) => {
            let _ = listeners.finish().await;
            return Err(err);
        }
    };
    tokio::time::sleep(IDLE_SETTLE).await;
    let rss_idle = target.rss_bytes();

    let outcome = publish_phases(config, target, run, &groups, &advanced).await;
    let stats = listeners.finish().await;
    let (published, sent, window, measuring) = outcome?;
    let stats = stats?;
    let cpu_end = target.cpu_seconds();

    let expected = published * stats.listeners;
    let first_send = sent.iter().filter_map(|s| s.first_ns).min();
    let last_send = sent.iter().filter_map(|s| s.last_ns).max();
    let span = |from: Option<u64>, to: Option<u64>| match (from, to) {
        (Some(from), Some(to)) if to > from => (to - from) as f64 / 1e9,
        _ => 0.0,
    };
    let seconds = span(first_send, stats.last_receive_ns);
    let publish_seconds = span(first_send, last_send);
    let per_second = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let bytes_per_idle_listener = rss_empty
        .zip(rss_idle)
        .filter(|_| connect.listeners > 0)
        .map(|(empty, idle)| (idle as f64 - empty as f64) / connect.listeners as f64);
    Ok(RunReport {
        target: target.kind,
        endpoint: target.endpoint.clone(),
        pid: target.pid,
        hubs: hubs.used_by(config.clients),
        connect,
        delivery: DeliveryReport {
            published,
            expected,
            delivered: stats.received,
            seconds,
            per_second: per_second(stats.received, seconds),
            publish_seconds,
            messages_per_second: per_second(published, publish_seconds),
            window,
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
            rss_empty_bytes: rss_empty,
            rss_idle_bytes: rss_idle,
            rss_peak_bytes: measuring.rss_peak,
            bytes_per_idle_listener,
        },
        cpu: CpuReport {
            measuring_seconds: measuring.cpu_start.zip(cpu_end).map(|(a, b)| b - a),
            total_seconds: cpu_start.zip(cpu_end).map(|(a, b)| b - a),
        },
    })
}

/// Waits until every listener is connected; fails at the first one that cannot.
async fn connect_phase(
    config: &LoadConfig,
    groups: &[Arc<Counters>],
) -> anyhow::Result<ConnectReport> {
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

/// What the measuring phase saw of the target.
struct Measuring {
    rss_peak: Option<u64>,
    cpu_start: Option<f64>,
}

/// Warm-up, measuring and draining. Returns the measured messages published, what each
/// publisher sent, the window used, and the target's numbers while measuring.
async fn publish_phases(
    config: &LoadConfig,
    target: &Target,
    run: u32,
    groups: &[Arc<Counters>],
    advanced: &Arc<Notify>,
) -> anyhow::Result<(u64, Vec<Sent>, u64, Measuring)> {
    let display = config.display;
    let mut connections = Vec::new();
    for _ in 0..config.publishers {
        connections.push(publisher::connect(&target.endpoint).await?);
    }
    let window = match config.window {
        Some(window) => window,
        None => connections
            .first()
            .map_or(0, |c| u64::from(c.welcome().queue_frames / 2).max(1)),
    };

    // 2. Warm-up.
    let listeners = snapshot(groups).connected;
    let mut phase = display.phase("warm-up", listeners, "listeners");
    let warmup_timeout = Duration::try_from_secs_f64(config.warmup_timeout_seconds)
        .unwrap_or(Duration::from_secs(30));
    let Some(first) = connections.first_mut() else {
        anyhow::bail!("no publisher");
    };
    let warm = publisher::warm_up(first, config.size, run, warmup_timeout, || {
        let counts = snapshot(groups);
        phase.update(counts.warm, String::new);
        counts.warm >= listeners
    })
    .await?;
    let warm_count = snapshot(groups).warm;
    if !warm {
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
            warmup_timeout.as_secs_f64()
        );
    }
    phase.finish(format_args!("all {listeners} listeners received a marker"));

    // 3. Measuring.
    let cpu_start = target.cpu_seconds();
    let stop_sampling = CancellationToken::new();
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = target.pid.map(|pid| {
        let stop = stop_sampling.clone();
        let peak = Arc::clone(&rss_peak);
        tokio::spawn(async move {
            loop {
                if let Some(rss) = super::hub_proc::rss_bytes(pid) {
                    peak.fetch_max(rss, Relaxed);
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RSS_SAMPLE) => {}
                }
            }
        })
    });
    let flow = Flow {
        window,
        sent: Arc::new(AtomicU64::new(0)),
        groups: groups.to_vec(),
        advanced: Arc::clone(advanced),
    };
    let until = config
        .duration_seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|d| Instant::now() + d);
    let k = config.publishers;
    let plans: Vec<Plan> = (0..k)
        .map(|i| Plan {
            messages: until
                .is_none()
                .then(|| config.messages / k + u64::from(i < config.messages % k)),
            until,
            rate: config.rate / k as f64,
            size: config.size,
            run,
        })
        .collect();
    let total_messages = if until.is_some() { 0 } else { config.messages };
    let expected = total_messages * listeners;
    let mut phase = display.phase("measuring", expected, "deliveries");
    let start = Instant::now();
    let sent = {
        let publishing = try_join_all(
            connections
                .iter_mut()
                .zip(&plans)
                .map(|(connection, plan)| publisher::publish(connection, plan, &flow)),
        );
        tokio::pin!(publishing);
        loop {
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
        }
    };
    let published: u64 = sent.iter().map(|s| s.messages).sum();
    phase.finish(format_args!(
        "{published} messages published in {:.2} s",
        start.elapsed().as_secs_f64()
    ));

    // 4. Draining.
    if let Some(first) = connections.first_mut() {
        publisher::end(first, config.size, run).await?;
    }
    let expected = published * listeners;
    let mut phase = display.phase("draining", expected, "deliveries");
    let drain_timeout = Duration::try_from_secs_f64(config.drain_timeout_seconds)
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
            break;
        }
        if counts.received != last_received {
            last_received = counts.received;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= drain_timeout {
            phase.finish(format_args!(
                "gave up after {} s without a delivery: {} of {} listeners have the end marker",
                drain_timeout.as_secs_f64(),
                counts.finished,
                counts.connected
            ));
            break;
        }
        phase.update(counts.received, || {
            format!("{} listeners done", counts.ended)
        });
        tokio::time::sleep(POLL).await;
    }
    stop_sampling.cancel();
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    let peak = rss_peak.load(Relaxed);
    Ok((
        published,
        sent,
        window,
        Measuring {
            rss_peak: (peak > 0).then_some(peak),
            cpu_start,
        },
    ))
}
