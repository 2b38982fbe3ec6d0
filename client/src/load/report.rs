//! The load command's results: one [`RunReport`] per target (the hub, and the raw
//! baseline with `--baseline raw`), the hub ÷ raw [`Ratios`] when both ran, printed as a
//! table on stdout and written as JSON with `--json PATH`.
//!
//! The JSON is the same data as the table, field for field, so scripts (the benchmark
//! grid in `bench/fanout.sh`) read it instead of scraping text. Field names carry their
//! unit (`_bytes`, `_seconds`, `_us`, `per_second`); a value the platform cannot measure
//! (memory and CPU outside Linux) is `null`, never 0.

use std::fmt::Write as _;

use serde::Serialize;

use super::LoadConfig;
use super::hub_proc::TargetKind;
use super::stats::Latency;

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
    /// One entry per target, the hub first.
    pub runs: Vec<RunReport>,
    /// Hub ÷ raw baseline, when both ran.
    pub ratios: Option<Ratios>,
}

/// The machine the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub os: &'static str,
    pub arch: &'static str,
    /// Cores available to this process.
    pub cpus: usize,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        Machine {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
    pub connect: ConnectReport,
    pub delivery: DeliveryReport,
    pub loss: LossReport,
    pub latency_us: LatencyReport,
    pub memory: MemoryReport,
    pub cpu: CpuReport,
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
        }
    }
}

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

fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| a / b)
}

impl Report {
    /// The human-readable table: one column per target, and hub/raw when both ran.
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
        let _ = writeln!(
            out,
            "pipehub load: {} listeners in {} process(es), {} publisher(s), {amount} of {} bytes, {rate}",
            config.clients, config.procs, config.publishers, config.size
        );
        let mut rows: Vec<Row> = Vec::new();
        let runs = &self.runs;
        let col = |f: &dyn Fn(&RunReport) -> String| runs.iter().map(f).collect::<Vec<_>>();
        rows.push(Row::new(
            "listeners connected",
            col(&|r| count(r.connect.listeners)),
        ));
        rows.push(Row::new(
            "connect time",
            col(&|r| format!("{:.2} s", r.connect.seconds)),
        ));
        rows.push(
            Row::new(
                "connect rate",
                col(&|r| format!("{}/s", count(r.connect.per_second as u64))),
            )
            .ratio(self.ratios.as_ref().and_then(|r| r.connect_per_second)),
        );
        rows.push(Row::new(
            "messages published",
            col(&|r| count(r.delivery.published)),
        ));
        rows.push(Row::new(
            "publish rate",
            col(&|r| format!("{}/s", count(r.delivery.messages_per_second as u64))),
        ));
        rows.push(Row::new(
            "deliveries",
            col(&|r| {
                format!(
                    "{} of {}",
                    count(r.delivery.delivered),
                    count(r.delivery.expected)
                )
            }),
        ));
        rows.push(
            Row::new(
                "deliveries/s",
                col(&|r| count(r.delivery.per_second as u64)),
            )
            .ratio(self.ratios.as_ref().and_then(|r| r.deliveries_per_second)),
        );
        rows.push(Row::new("lost", col(&|r| count(r.loss.lost))));
        rows.push(Row::new(
            "  lagged (announced)",
            col(&|r| count(r.loss.lagged)),
        ));
        rows.push(Row::new(
            "  unexplained gaps",
            col(&|r| count(r.loss.unexplained_gaps)),
        ));
        rows.push(Row::new(
            "  unfinished listeners",
            col(&|r| count(r.loss.unfinished_listeners)),
        ));
        rows.push(
            Row::new("latency p50", col(&|r| micros(r.latency_us.p50)))
                .ratio(self.ratios.as_ref().and_then(|r| r.latency_p50)),
        );
        rows.push(Row::new("latency p90", col(&|r| micros(r.latency_us.p90))));
        rows.push(
            Row::new("latency p99", col(&|r| micros(r.latency_us.p99)))
                .ratio(self.ratios.as_ref().and_then(|r| r.latency_p99)),
        );
        rows.push(Row::new(
            "latency p99.9",
            col(&|r| micros(r.latency_us.p999)),
        ));
        rows.push(Row::new("latency max", col(&|r| micros(r.latency_us.max))));
        rows.push(Row::new(
            "RSS, no clients",
            col(&|r| mib(r.memory.rss_empty_bytes)),
        ));
        rows.push(Row::new(
            "RSS, idle listeners",
            col(&|r| mib(r.memory.rss_idle_bytes)),
        ));
        rows.push(Row::new(
            "RSS, peak under load",
            col(&|r| mib(r.memory.rss_peak_bytes)),
        ));
        rows.push(Row::new(
            "RSS per idle listener",
            col(&|r| {
                r.memory
                    .bytes_per_idle_listener
                    .map_or("-".to_owned(), |b| {
                        format!("{} B", count(b.max(0.0) as u64))
                    })
            }),
        ));
        rows.push(
            Row::new(
                "CPU while measuring",
                col(&|r| seconds(r.cpu.measuring_seconds)),
            )
            .ratio(self.ratios.as_ref().and_then(|r| r.cpu_measuring_seconds)),
        );
        rows.push(Row::new(
            "CPU in total",
            col(&|r| seconds(r.cpu.total_seconds)),
        ));

        let mut header = vec!["".to_owned()];
        header.extend(runs.iter().map(|r| r.target.name().to_owned()));
        if self.ratios.is_some() {
            header.push("hub/raw".to_owned());
        }
        let mut lines: Vec<Vec<String>> = vec![header];
        for row in rows {
            let mut line = vec![row.name.to_owned()];
            line.extend(row.values);
            if self.ratios.is_some() {
                line.push(row.ratio.map_or(String::new(), |r| format!("{r:.2}")));
            }
            lines.push(line);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &lines {
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
        for run in runs {
            for error in &run.loss.errors {
                let _ = writeln!(out, "{}: {error}", run.target.name());
            }
        }
        out
    }
}

struct Row {
    name: &'static str,
    values: Vec<String>,
    ratio: Option<f64>,
}

impl Row {
    fn new(name: &'static str, values: Vec<String>) -> Row {
        Row {
            name,
            values,
            ratio: None,
        }
    }

    fn ratio(mut self, ratio: Option<f64>) -> Row {
        self.ratio = ratio;
        self
    }
}

/// `1234567` as `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(us: u64) -> String {
    format!("{} µs", count(us))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".to_owned(), |b| {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    })
}

fn seconds(s: Option<f64>) -> String {
    s.map_or("-".to_owned(), |s| format!("{s:.2} s"))
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
    fn ratios_need_both_sides() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
