//! The load command's results: one [`Point`] per client count (several with `--sweep`),
//! each with one [`RunReport`] per target (the hub, and the raw baseline with
//! `--baseline raw`) and the hub ÷ raw [`Ratios`] when both ran; printed as a table on
//! stdout, written as JSON with `--json PATH` and as an HTML page with charts with
//! `--report PATH` ([`super::html`]).
//!
//! The JSON is the same data as the table, field for field, so scripts (the benchmark
//! grid in `bench/fanout.sh`) read it instead of scraping text. Field names carry their
//! unit (`_bytes`, `_seconds`, `_us`, `per_second`); a value the platform cannot measure
//! (memory and CPU outside Linux) is `null`, never 0.

use std::fmt::Write as _;

use serde::Serialize;

use super::LoadConfig;
use super::hub_proc::TargetKind;
use super::stats::{Latency, Percentile};

/// Everything one invocation measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `pipehub-client load`.
    pub tool: &'static str,
    /// The version of pipehub-client that measured.
    pub version: &'static str,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix_seconds: u64,
    pub machine: Machine,
    pub config: LoadConfig,
    /// One entry per client count, in the order measured: one without `--sweep`.
    pub points: Vec<Point>,
}

/// Everything measured at one client count.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Listeners (N) the point asked for.
    pub clients: u64,
    /// One entry per target, the hub first.
    pub runs: Vec<RunReport>,
    /// Hub ÷ raw baseline, when both ran.
    pub ratios: Option<Ratios>,
}

impl Point {
    /// The point at `clients` listeners, with the ratios when both targets ran.
    pub fn new(clients: u64, runs: Vec<RunReport>) -> Point {
        let ratios = match runs.as_slice() {
            [hub, raw] => Some(Ratios::of(hub, raw)),
            _ => None,
        };
        Point {
            clients,
            runs,
            ratios,
        }
    }
}

/// The machine the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub os: &'static str,
    pub arch: &'static str,
    /// Cores available to this process.
    pub cpus: usize,
    /// The processor's model name, where the platform tells (Linux).
    pub cpu_model: Option<String>,
    /// The kernel release, where the platform tells (Linux).
    pub kernel: Option<String>,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|release| release.trim().to_owned());
        Machine {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel,
        }
    }
}

/// The measurement of one target.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `hub` or `raw`.
    pub target: TargetKind,
    pub endpoint: String,
    /// The target's process ID, when known.
    pub pid: Option<u32>,
    /// Hubs the listeners were spread over: 1, or with `--spread` the bridged hubs that
    /// got listeners (`endpoint`'s among them). The publishers, memory and CPU are
    /// `endpoint`'s alone.
    pub hubs: u64,
    pub connect: ConnectReport,
    pub delivery: DeliveryReport,
    pub loss: LossReport,
    pub latency_us: LatencyReport,
    pub memory: MemoryReport,
    pub cpu: CpuReport,
    /// How hard the load tool itself worked, and which side set the pace.
    pub tool: ToolReport,
}

/// The load tool's own work while measuring, so that a figure the tool could not go past
/// is never reported as the target's.
#[derive(Clone, Debug, Serialize)]
pub struct ToolReport {
    /// Receiver threads, over every listener process.
    pub receiver_threads: u64,
    /// The share of the measuring time (first send to the last listener done) the
    /// receiver threads had data to read, on average: 1 means they never caught up.
    pub receivers_busy: Option<f64>,
    /// What the receivers could have taken, had they been busy all the time:
    /// `delivery.per_second / receivers_busy`. An estimate of the tool's ceiling.
    pub receiver_ceiling_per_second: Option<f64>,
    /// The share of the publishing time the publishers' thread had work, rather than
    /// waiting for the window, the rate, or the target to take its writes.
    pub publisher_busy: Option<f64>,
    /// The target's CPU time while measuring, as a share of one core (1: one core
    /// flat out; more for a target with several threads).
    pub target_cores: Option<f64>,
    /// CPU time of the load tool's processes while measuring (Linux).
    pub cpu_seconds: Option<f64>,
    /// The CPUs the target could run on (a started target, on Linux), such as `0` or
    /// `0-1`: where `--target-cpus` put it.
    pub target_cpus: Option<String>,
    /// Which side set the pace of this run.
    pub limit: Limit,
}

/// The side that set the pace of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The target (the hub, or the raw baseline): the figure is its own.
    Target,
    /// The tool's receivers never caught up: the target may be faster than the figure.
    Receivers,
    /// The tool's publishers never waited: the target took messages as fast as they
    /// came, and may take more.
    Publisher,
    /// `--rate` set the pace; nobody was saturated.
    Rate,
}

/// A share of the time at or above which a thread counts as saturated.
pub const SATURATED: f64 = 0.9;

impl Limit {
    /// Which side set the pace, from how busy the tool's threads were.
    pub fn judge(receivers_busy: Option<f64>, publisher_busy: Option<f64>, paced: bool) -> Limit {
        if receivers_busy.is_some_and(|busy| busy >= SATURATED) {
            Limit::Receivers
        } else if publisher_busy.is_some_and(|busy| busy >= SATURATED) {
            Limit::Publisher
        } else if paced {
            Limit::Rate
        } else {
            Limit::Target
        }
    }

    /// Whether the figure is the tool's limit rather than the target's.
    pub fn is_tool(self) -> bool {
        matches!(self, Limit::Receivers | Limit::Publisher)
    }

    /// The side, for a table cell: `hub`, `raw baseline`, `receivers`, `publisher`,
    /// `--rate`.
    pub fn describe(self, target: TargetKind) -> &'static str {
        match self {
            Limit::Target => target.describe(),
            Limit::Receivers => "tool: receivers",
            Limit::Publisher => "tool: publisher",
            Limit::Rate => "--rate",
        }
    }
}

/// The connecting phase.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectReport {
    /// Listeners whose session opened.
    pub listeners: u64,
    /// From the first connection attempt to the last `WELCOME`.
    pub seconds: f64,
    pub per_second: f64,
}

/// Messages and deliveries.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryReport {
    /// Measured messages the target confirmed it took.
    pub published: u64,
    /// `published × listeners`: what zero loss means.
    pub expected: u64,
    /// Measured messages received, summed over listeners.
    pub delivered: u64,
    /// From the first measured send to the last measured receive.
    pub seconds: f64,
    /// `delivered / seconds`: the headline number.
    pub per_second: f64,
    /// From the first to the last measured send.
    pub publish_seconds: f64,
    /// `published / publish_seconds`.
    pub messages_per_second: f64,
    /// The flow-control window the publishers used (0: none).
    pub window: u64,
}

/// Loss, never hidden.
#[derive(Clone, Debug, Serialize)]
pub struct LossReport {
    /// `expected - delivered`.
    pub lost: u64,
    /// Broadcasts the target announced as missed (`LAGGED`), summed over listeners
    /// (warm-up markers included).
    pub lagged: u64,
    /// Sequence jumps no `LAGGED` explained: a bug in the target if not 0.
    pub unexplained_gaps: u64,
    /// Listeners that did not receive the end marker (the drain timeout passed without
    /// a delivery).
    pub unfinished_listeners: u64,
    /// Listeners whose session failed, and the first few reasons.
    pub failed_listeners: u64,
    pub errors: Vec<String>,
}

/// Send-to-receive latency of the measured messages, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    /// The whole percentile distribution (HdrHistogram's, 5 steps per halving of the
    /// distance to 100 %), which the report's latency chart draws.
    pub distribution: Vec<Percentile>,
}

impl LatencyReport {
    /// The percentiles of `latency`.
    pub fn from_histogram(latency: &Latency) -> LatencyReport {
        LatencyReport {
            count: latency.count(),
            p50: latency.quantile(0.5),
            p90: latency.quantile(0.9),
            p99: latency.quantile(0.99),
            p999: latency.quantile(0.999),
            max: latency.max(),
            mean: latency.mean(),
            distribution: latency.distribution(DISTRIBUTION_TICKS),
        }
    }
}

/// Steps of the latency distribution per halving of the distance to 100 %.
const DISTRIBUTION_TICKS: u32 = 5;

/// The target's resident memory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    /// Before any listener connected.
    pub rss_empty_bytes: Option<u64>,
    /// With every listener connected and idle.
    pub rss_idle_bytes: Option<u64>,
    /// The highest sample while measuring and draining.
    pub rss_peak_bytes: Option<u64>,
    /// `(rss_idle - rss_empty) / listeners`.
    pub bytes_per_idle_listener: Option<f64>,
}

/// The target's CPU time (user + system).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuReport {
    /// From the first measured send to the end of draining.
    pub measuring_seconds: Option<f64>,
    /// From the start of connecting to the end of draining.
    pub total_seconds: Option<f64>,
}

/// Hub ÷ raw baseline, each `null` where either side is missing or zero.
#[derive(Clone, Debug, Serialize)]
pub struct Ratios {
    /// Higher is better; the target is at least 0.6.
    pub deliveries_per_second: Option<f64>,
    pub connect_per_second: Option<f64>,
    /// Lower is better.
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
    pub cpu_measuring_seconds: Option<f64>,
}

impl Ratios {
    /// `hub ÷ raw` for every ratio.
    pub fn of(hub: &RunReport, raw: &RunReport) -> Ratios {
        Ratios {
            deliveries_per_second: ratio(hub.delivery.per_second, raw.delivery.per_second),
            connect_per_second: ratio(hub.connect.per_second, raw.connect.per_second),
            latency_p50: ratio(hub.latency_us.p50 as f64, raw.latency_us.p50 as f64),
            latency_p99: ratio(hub.latency_us.p99 as f64, raw.latency_us.p99 as f64),
            cpu_measuring_seconds: hub
                .cpu
                .measuring_seconds
                .zip(raw.cpu.measuring_seconds)
                .and_then(|(hub, raw)| ratio(hub, raw)),
        }
    }
}

/// `n` per second over `seconds`; 0 over no time.
pub fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| a / b)
}

impl Report {
    /// The human-readable table: one column per target, and hub/raw when both ran; with
    /// `--sweep`, one row per target per client count, with the headline numbers.
    pub fn table(&self) -> String {
        let config = &self.config;
        let mut out = String::new();
        let amount = match config.duration_seconds {
            Some(seconds) => format!("{seconds} s of messages"),
            None => format!("{} messages", config.messages),
        };
        let rate = if config.rate > 0.0 {
            format!("{} msg/s", config.rate)
        } else {
            "unthrottled".to_owned()
        };
        let clients = if config.sweep.is_empty() {
            config.clients.to_string()
        } else {
            let counts: Vec<String> = config.sweep.iter().map(|n| n.to_string()).collect();
            counts.join(", ")
        };
        let _ = writeln!(
            out,
            "pipehub load: {clients} listeners in {} process(es), {} publisher(s), {amount} of {} bytes, {rate}",
            config.procs, config.publishers, config.size
        );
        if !config.spread.is_empty() {
            // The endpoints themselves are in the JSON report (`config`).
            let _ = writeln!(
                out,
                "listeners spread over {} bridged hubs (--endpoint and --spread); publishers, \
                 memory and CPU: the --endpoint hub only",
                config.spread.len() + 1
            );
        }
        let lines = if self.points.len() > 1 {
            self.sweep_lines()
        } else {
            self.point_lines()
        };
        out.push_str(&align(&lines));
        for (clients, run) in self.runs().filter(|(_, run)| run.tool.limit.is_tool()) {
            let _ = writeln!(out, "{}", tool_limit_note(clients, run));
        }
        for point in &self.points {
            for run in &point.runs {
                for error in &run.loss.errors {
                    let _ = writeln!(out, "{} N={}: {error}", run.target.name(), point.clients);
                }
            }
        }
        out
    }

    /// One point's table: a row per measurement, a column per target, and hub/raw.
    fn point_lines(&self) -> Vec<Vec<String>> {
        let rows = [
            Row::new("listeners connected", |r| count(r.connect.listeners)),
            Row::new("connect time", |r| format!("{:.2} s", r.connect.seconds)),
            Row::new("connect rate", |r| {
                format!("{}/s", count(r.connect.per_second as u64))
            })
            .ratio(|r| r.connect_per_second),
            Row::new("messages published", |r| count(r.delivery.published)),
            Row::new("publish rate", |r| {
                format!("{}/s", count(r.delivery.messages_per_second as u64))
            }),
            Row::new("deliveries", |r| {
                format!(
                    "{} of {}",
                    count(r.delivery.delivered),
                    count(r.delivery.expected)
                )
            }),
            Row::new("deliveries/s", deliveries_cell).ratio(|r| r.deliveries_per_second),
            Row::new("  limit", |r| r.tool.limit.describe(r.target).to_owned()),
            Row::new("  receivers busy", |r| percent(r.tool.receivers_busy)),
            Row::new("  receiver ceiling", |r| {
                r.tool
                    .receiver_ceiling_per_second
                    .map_or("-".to_owned(), |c| format!("~{:.1} M/s", c / 1e6))
            }),
            Row::new("  publisher busy", |r| percent(r.tool.publisher_busy)),
            Row::new("  target CPU", |r| {
                r.tool
                    .target_cores
                    .map_or("-".to_owned(), |c| format!("{:.0} % of a core", c * 100.0))
            }),
            Row::new("  target on CPUs", |r| {
                r.tool.target_cpus.clone().unwrap_or_else(|| "-".to_owned())
            }),
            Row::new("lost", |r| count(r.loss.lost)),
            Row::new("  lagged (announced)", |r| count(r.loss.lagged)),
            Row::new("  unexplained gaps", |r| count(r.loss.unexplained_gaps)),
            Row::new("  unfinished listeners", |r| {
                count(r.loss.unfinished_listeners)
            }),
            Row::new("latency p50", |r| micros(r.latency_us.p50)).ratio(|r| r.latency_p50),
            Row::new("latency p90", |r| micros(r.latency_us.p90)),
            Row::new("latency p99", |r| micros(r.latency_us.p99)).ratio(|r| r.latency_p99),
            Row::new("latency p99.9", |r| micros(r.latency_us.p999)),
            Row::new("latency max", |r| micros(r.latency_us.max)),
            Row::new("RSS, no clients", |r| mib(r.memory.rss_empty_bytes)),
            Row::new("RSS, idle listeners", |r| mib(r.memory.rss_idle_bytes)),
            Row::new("RSS, peak under load", |r| mib(r.memory.rss_peak_bytes)),
            Row::new("RSS per idle listener", |r| {
                r.memory
                    .bytes_per_idle_listener
                    .map_or("-".to_owned(), |b| {
                        format!("{} B", count(b.max(0.0) as u64))
                    })
            }),
            Row::new("CPU while measuring", |r| cpu_time(r.cpu.measuring_seconds))
                .ratio(|r| r.cpu_measuring_seconds),
            Row::new("CPU in total", |r| cpu_time(r.cpu.total_seconds)),
            Row::new("load tool CPU, measuring", |r| cpu_time(r.tool.cpu_seconds)),
        ];
        let mut header = vec!["".to_owned()];
        for point in &self.points {
            header.extend(point.runs.iter().map(|r| r.target.name().to_owned()));
            if point.ratios.is_some() {
                header.push("hub/raw".to_owned());
            }
        }
        let mut lines: Vec<Vec<String>> = vec![header];
        for row in rows {
            let mut line = vec![row.name.to_owned()];
            for point in &self.points {
                line.extend(point.runs.iter().map(row.value));
                if let Some(ratios) = &point.ratios {
                    let ratio = row.ratio.and_then(|ratio| ratio(ratios));
                    line.push(ratio.map_or(String::new(), |r| format!("{r:.2}")));
                }
            }
            lines.push(line);
        }
        lines
    }

    /// A sweep's table: a row per target per client count, the headline numbers in
    /// columns (every number is in the JSON and the HTML report).
    fn sweep_lines(&self) -> Vec<Vec<String>> {
        let header = [
            "",
            "N",
            "connect/s",
            "deliveries/s",
            "hub/raw",
            "lost",
            "p50",
            "p99",
            "max",
            "RSS/listener",
            "CPU",
            "limit",
        ];
        let mut lines = vec![header.iter().map(|h| (*h).to_owned()).collect()];
        for (clients, run) in self.runs() {
            let ratio = self
                .points
                .iter()
                .find(|p| p.clients == clients && run.target == TargetKind::Hub)
                .and_then(|p| p.ratios.as_ref())
                .and_then(|r| r.deliveries_per_second)
                .map_or(String::new(), |r| format!("{r:.2}"));
            lines.push(vec![
                run.target.name().to_owned(),
                count(clients),
                format!("{}/s", count(run.connect.per_second as u64)),
                deliveries_cell(run),
                ratio,
                count(run.loss.lost),
                micros(run.latency_us.p50),
                micros(run.latency_us.p99),
                micros(run.latency_us.max),
                run.memory
                    .bytes_per_idle_listener
                    .map_or("-".to_owned(), |b| {
                        format!("{} B", count(b.max(0.0) as u64))
                    }),
                cpu_time(run.cpu.measuring_seconds),
                run.tool.limit.describe(run.target).to_owned(),
            ]);
        }
        lines
    }

    /// Every run of every point, with its point's client count.
    pub fn runs(&self) -> impl Iterator<Item = (u64, &RunReport)> {
        self.points
            .iter()
            .flat_map(|point| point.runs.iter().map(move |run| (point.clients, run)))
    }
}

/// Deliveries per second, marked `*` when the load tool, not the target, was the limit.
pub(crate) fn deliveries_cell(run: &RunReport) -> String {
    let figure = count(run.delivery.per_second as u64);
    if run.tool.limit.is_tool() {
        format!("{figure} *")
    } else {
        figure
    }
}

/// The sentence under the table for a run the load tool itself held back.
pub(crate) fn tool_limit_note(clients: u64, run: &RunReport) -> String {
    let figure = count(run.delivery.per_second as u64);
    let who = run.target.describe();
    match run.tool.limit {
        Limit::Receivers => format!(
            "* {who} N={clients}: the load tool's receivers were busy {} of the time, so \
             {figure} deliveries/s is the tool's limit, not the {who}'s: the {who} may be \
             faster (more --receiver-threads or --procs, on more cores, would show it)",
            percent(run.tool.receivers_busy)
        ),
        Limit::Publisher => format!(
            "* {who} N={clients}: the load tool's publishers were busy {} of the time and \
             the {who} took every message at once, so {figure} deliveries/s is the tool's \
             limit, not the {who}'s (more --publishers may show more)",
            percent(run.tool.publisher_busy)
        ),
        Limit::Target | Limit::Rate => String::new(),
    }
}

/// A share as a whole percentage, `-` when unknown.
pub(crate) fn percent(share: Option<f64>) -> String {
    share.map_or("-".to_owned(), |s| format!("{:.0} %", s * 100.0))
}

/// Lines of cells as text columns: the first left-aligned, the others right-aligned.
fn align(lines: &[Vec<String>]) -> String {
    let mut out = String::new();
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i == 0 {
                let _ = write!(text, "{cell:<w$}", w = widths[i]);
            } else {
                let _ = write!(text, "  {cell:>w$}", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    out
}

/// One line of the table: how to show a run, and which hub/raw ratio goes with it.
struct Row {
    name: &'static str,
    value: fn(&RunReport) -> String,
    ratio: Option<fn(&Ratios) -> Option<f64>>,
}

impl Row {
    fn new(name: &'static str, value: fn(&RunReport) -> String) -> Row {
        Row {
            name,
            value,
            ratio: None,
        }
    }

    fn ratio(mut self, ratio: fn(&Ratios) -> Option<f64>) -> Row {
        self.ratio = Some(ratio);
        self
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn count(n: u64) -> String {
    pipehub_protocol::status::grouped(n)
}

pub(super) fn micros(us: u64) -> String {
    format!("{} µs", count(us))
}

pub(super) fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".to_owned(), |b| {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    })
}

/// CPU time as precisely as it was measured: in seconds from one second up, in
/// milliseconds below (a short run uses a few clock ticks), and less than one tick as
/// such rather than as 0.
pub(super) fn cpu_time(s: Option<f64>) -> String {
    cpu_time_in_steps(s, super::hub_proc::cpu_resolution())
}

/// [`cpu_time`] for a measurement in steps of `resolution` seconds.
fn cpu_time_in_steps(s: Option<f64>, resolution: f64) -> String {
    match s {
        None => "-".to_owned(),
        Some(s) if s >= 1.0 => format!("{s:.2} s"),
        // Below half a step: no tick was counted.
        Some(s) if s < resolution / 2.0 => format!("< {:.0} ms", resolution * 1000.0),
        Some(s) => format!("{:.0} ms", s * 1000.0),
    }
}

/// Reports made up for tests, in one place.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;
    use crate::LoadConfig;

    /// A report of hub runs at `clients` listeners each, delivering 5,000 messages/s.
    pub fn report(clients: &[u64]) -> Report {
        let run = RunReport {
            target: TargetKind::Hub,
            endpoint: "/tmp/hub.sock".to_owned(),
            pid: None,
            hubs: 1,
            connect: ConnectReport {
                listeners: 1,
                seconds: 0.1,
                per_second: 900.0,
            },
            delivery: DeliveryReport {
                published: 100,
                expected: 100,
                delivered: 100,
                seconds: 0.02,
                per_second: 5_000.0,
                publish_seconds: 0.02,
                messages_per_second: 5_000.0,
                window: 0,
            },
            loss: LossReport {
                lost: 0,
                lagged: 0,
                unexplained_gaps: 0,
                unfinished_listeners: 0,
                failed_listeners: 0,
                errors: Vec::new(),
            },
            latency_us: LatencyReport {
                count: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
                distribution: Vec::new(),
            },
            memory: MemoryReport::default(),
            cpu: CpuReport::default(),
            tool: ToolReport {
                receiver_threads: 2,
                receivers_busy: Some(0.5),
                receiver_ceiling_per_second: Some(2e6),
                publisher_busy: Some(0.1),
                target_cores: Some(1.0),
                target_cpus: None,
                cpu_seconds: None,
                limit: Limit::Target,
            },
        };
        Report {
            tool: "pipehub-client load",
            version: "0",
            started_unix_seconds: 0,
            machine: Machine::this(),
            config: LoadConfig {
                clients: clients[0],
                sweep: clients.to_vec(),
                procs: 1,
                receiver_threads: None,
                publishers: 1,
                messages: 100,
                duration_seconds: None,
                size: 64,
                rate: 0.0,
                window: None,
                endpoint: "/tmp/hub.sock".to_owned(),
                spread: Vec::new(),
                spawn_hub: false,
                hub_args: Vec::new(),
                target_cpus: Vec::new(),
                baseline_raw: false,
                connect_concurrency: 64,
                drain_timeout_seconds: 10.0,
                warmup_timeout_seconds: 30.0,
                display: crate::Display::Quiet,
                publisher_clock: None,
            },
            points: clients
                .iter()
                .map(|&n| Point::new(n, vec![run.clone()]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn cpu_time_keeps_the_resolution_it_was_measured_with() {
        let tick = 0.01;
        assert_eq!(cpu_time_in_steps(None, tick), "-");
        assert_eq!(cpu_time_in_steps(Some(0.0), tick), "< 10 ms");
        assert_eq!(cpu_time_in_steps(Some(0.03), tick), "30 ms");
        // A difference of two readings is not exact.
        assert_eq!(cpu_time_in_steps(Some(0.07 - 0.05), tick), "20 ms");
        assert_eq!(cpu_time_in_steps(Some(0.99), tick), "990 ms");
        assert_eq!(cpu_time_in_steps(Some(1.234), tick), "1.23 s");
    }

    #[test]
    fn a_saturated_side_of_the_tool_is_named_before_the_target() {
        assert_eq!(Limit::judge(Some(0.95), Some(0.99), true), Limit::Receivers);
        assert_eq!(Limit::judge(Some(0.5), Some(0.92), false), Limit::Publisher);
        assert_eq!(Limit::judge(Some(0.5), Some(0.1), true), Limit::Rate);
        assert_eq!(Limit::judge(Some(0.89), None, false), Limit::Target);
        assert_eq!(Limit::judge(None, None, false), Limit::Target);
    }

    #[test]
    fn a_figure_the_receivers_held_back_is_marked_and_explained() {
        let mut report = sample::report(&[1000]);
        let run = &mut report.points[0].runs[0];
        run.delivery.per_second = 3_500_000.0;
        run.tool.receivers_busy = Some(0.97);
        run.tool.limit = Limit::Receivers;
        let table = report.table();
        let figure = table
            .lines()
            .find(|line| line.starts_with("deliveries/s"))
            .unwrap_or_default();
        assert!(figure.ends_with("3,500,000 *"), "{table}");
        assert!(
            table.contains("limit") && table.contains("tool: receivers"),
            "{table}"
        );
        assert!(
            table.contains(
                "receivers were busy 97 % of the time, so 3,500,000 deliveries/s \
                            is the tool's limit, not the hub's"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_figure_the_hub_set_is_not_marked() {
        let table = sample::report(&[1000]).table();
        let figure = table
            .lines()
            .find(|line| line.starts_with("deliveries/s"))
            .unwrap_or_default();
        assert!(figure.ends_with("5,000"), "{table}");
        assert!(!table.contains('*'), "{table}");
        assert!(
            table
                .lines()
                .any(|line| line.trim_start().starts_with("limit") && line.ends_with("hub")),
            "{table}"
        );
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
