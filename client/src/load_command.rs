//! The command line of `pipehub-client load`, which the separate `pipehub-load` program
//! runs.
//!
//! The load tool lives in a crate of its own (`load/`), so that a program linking this
//! library to listen does not also build the charts, histograms and progress bars of the
//! load report. Users still type `pipehub-client load`: the client binary parses these
//! arguments (so `--help`, the manual page and shell completions describe them, and a
//! usage error is the client's exit code 2), then hands them over, as the JSON of
//! [`LoadArgs`], to `pipehub-load` next to it ([`LOAD_PROGRAM`]). Both binaries use this
//! one definition, so the two can never disagree about a flag or a default.

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::protocol::endpoint;

/// The program that runs `pipehub-client load`, installed next to `pipehub-client`.
pub const LOAD_PROGRAM: &str = "pipehub-load";

/// The smallest `--size`: the header every load message starts with (send time, index,
/// run ID and kind; `pipehub_load::payload::HEADER_LEN`, which asserts that it is this).
pub const MIN_SIZE: u64 = 24;

/// The largest `--size`: the default frame limit of a hub, less a `BROADCAST`'s header.
pub const MAX_SIZE: u64 = 1_048_551;

/// Measure a hub with many listeners: connect rate, deliveries/s, loss, latency, memory
///
/// Connects --clients listeners (with the same handshake as `listen`), warms them up
/// until each has received a marker, publishes the measured messages, waits for every
/// listener to receive the last one, and prints a table on stdout (with --json, also a
/// JSON report). Each message carries its send time, so latency is measured from the
/// publisher's send to the listener's receive. The listeners are read by a few receiver
/// threads that take large blocks and count frames in place, so that they cost far less
/// than the hub's delivering them.
///
/// Measure a running hub with --endpoint, or let the tool start one with --spawn-hub
/// (then it also reports the hub's memory and CPU time, from /proc). --baseline raw adds
/// a run of the same workload through a minimal direct Unix-socket fan-out with no hub,
/// and the hub/raw ratios.
///
/// --spread B,C measures hubs bridged through NATS (`pipehub --bridge`): the listeners are
/// spread round-robin over --endpoint's hub and B and C, the publishers stay on
/// --endpoint's, so most deliveries cross the bridge. Memory and CPU are then of
/// --endpoint's hub only.
///
/// The tool raises its open-file limit itself; if the listeners still cannot fit, it says
/// so before starting (the fix: `ulimit -n`, or --procs). On Windows only --endpoint is
/// supported.
///
/// --sweep 1,100,1000 measures several listener counts in one command (with --spawn-hub,
/// a fresh hub and baseline for each); --report PATH.html writes every point as one
/// self-contained HTML page with charts (deliveries/s and connect rate by client count,
/// latency percentiles, memory per client).
///
/// The measuring is done by the pipehub-load program, which must be installed next to
/// pipehub-client (`cargo build` builds both; `cargo install --path load` installs it).
#[derive(Clone, Debug, Args, Serialize, Deserialize, PartialEq)]
#[command(group(clap::ArgGroup::new("started").args(["spawn_hub", "baseline"]).multiple(true)))]
pub struct LoadArgs {
    /// Listeners to connect (N)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,

    /// Measure each of these listener counts in turn (comma-separated, such as
    /// 1,100,1000,10000) and report them together, instead of --clients
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', conflicts_with = "clients",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sweep: Vec<u64>,

    /// Spread the listeners over P child processes, for more sockets or cores than one
    /// process has (1: in this process)
    #[arg(long, value_name = "P", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub procs: u64,

    /// Receiver threads per listener process, each reading its share of the listeners
    /// [default: one per core, shared by the --procs processes]
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub receiver_threads: Option<u64>,

    /// Publishers sending the measured messages (K)
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub publishers: u64,

    /// Measured messages in total, over all publishers
    #[arg(
        long,
        value_name = "M",
        default_value_t = 10_000,
        conflicts_with = "duration"
    )]
    pub messages: u64,

    /// Publish for this many seconds instead of a number of messages
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<f64>,

    /// Bytes per message body (at least 24: send time, index, run ID and kind)
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(MIN_SIZE..=MAX_SIZE))]
    pub size: u64,

    /// Messages per second over all publishers (0: as fast as the hub takes them)
    #[arg(long, value_name = "R", default_value = "0", value_parser = parse_seconds)]
    pub rate: f64,

    /// Most messages the publishers may be ahead of the slowest listener (0: none of the
    /// tool's, so a hub that skips loses messages for listeners that fall behind)
    /// [default: none where the hub paces publishers itself, else half its queue]
    #[arg(long, value_name = "N")]
    pub window: Option<u64>,

    /// Start the pipehub binary found next to this one on a private endpoint, and measure
    /// it, memory and CPU included (--endpoint is then not used)
    #[arg(long)]
    pub spawn_hub: bool,

    /// An extra argument for the spawned hub; repeat for several (--hub-arg=--queue=8192)
    #[arg(
        long = "hub-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        requires = "spawn_hub"
    )]
    pub hub_args: Vec<String>,

    /// Run the spawned hub and the raw baseline on these CPUs only, and this tool on the
    /// others, so that neither takes the other's cores (Linux; such as 0, 0-3 or 0,2)
    #[arg(long, value_name = "CPUS", requires = "started")]
    pub target_cpus: Option<CpuList>,

    /// Connect the listeners to these hubs as well as to --endpoint, evenly (round-robin,
    /// --endpoint's first); they must be bridged to it (`pipehub --bridge`). The
    /// publishers stay on --endpoint's hub, so the others' listeners receive every
    /// message through the bridge. Comma-separated, or repeat the flag
    #[arg(
        long,
        value_name = "ENDPOINT,...",
        value_delimiter = ',',
        value_parser = endpoint::parse,
        conflicts_with_all = ["spawn_hub", "baseline"]
    )]
    pub spread: Vec<String>,

    /// Also run the same workload against a baseline and print hub/raw ratios (raw: a
    /// minimal direct Unix-socket fan-out with no hub, the practical limit of this
    /// machine)
    #[arg(long, value_enum, value_name = "BASELINE")]
    pub baseline: Option<Baseline>,

    /// Also write the report as JSON to PATH
    #[arg(long, value_name = "PATH")]
    pub json: Option<std::path::PathBuf>,

    /// Also write the report as one self-contained HTML page with charts to PATH (no
    /// network needed to view it)
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<std::path::PathBuf>,

    /// Listener handshakes in flight at once, per process
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_concurrency: u64,

    /// While draining, seconds without any delivery after which the missing deliveries
    /// count as lost
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub drain_timeout: f64,

    /// Seconds the warm-up may take before the run is abandoned
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub warmup_timeout: f64,
}

/// `--baseline` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// A minimal direct fan-out over Unix sockets, with no hub
    Raw,
}

impl LoadArgs {
    /// The arguments as the one command-line argument `pipehub-load` takes them in.
    pub fn to_handoff(&self) -> String {
        // Plain data with string keys: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("LoadArgs is plain data"))
    }

    /// The arguments back from [`LoadArgs::to_handoff`]; an error when the two programs
    /// come from different builds and disagree.
    pub fn from_handoff(text: &str) -> Result<LoadArgs, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A number of seconds (or a rate): finite and not negative.
/// A list of CPU numbers, given as numbers and ranges such as `0`, `0-3` or `0,2,4-5`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;

    fn from_str(value: &str) -> Result<CpuList, String> {
        let bad = || format!("`{value}` is not a list of CPUs (such as 0, 0-3 or 0,2,4-5)");
        let mut cpus = Vec::new();
        for part in value.split(',') {
            let (first, last) = part.split_once('-').unwrap_or((part, part));
            match (first.trim().parse::<usize>(), last.trim().parse::<usize>()) {
                (Ok(first), Ok(last)) if first <= last && last < 4096 => cpus.extend(first..=last),
                _ => return Err(bad()),
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuList(cpus))
    }
}

fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("`{value}` is not a number (0 or more)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn cpu_lists_take_numbers_and_ranges() {
        assert_eq!("0".parse(), Ok(CpuList(vec![0])));
        assert_eq!("2,0-1,1".parse(), Ok(CpuList(vec![0, 1, 2])));
        for bad in ["", "a", "3-1", "0,", "-1"] {
            assert!(bad.parse::<CpuList>().is_err(), "{bad:?}");
        }
    }

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse_load(args: &[&str]) -> Result<LoadArgs, clap::error::ErrorKind> {
        let argv = ["load"].iter().chain(args);
        Command::try_parse_from(argv)
            .map(|command| command.load)
            .map_err(|err| err.kind())
    }

    #[test]
    fn spread_takes_a_list_or_repeats() {
        let listed = parse_load(&["--spread", "/b.sock,/c.sock"]).map(|a| a.spread);
        let repeated =
            parse_load(&["--spread", "/b.sock", "--spread", "/c.sock"]).map(|a| a.spread);
        assert_eq!(listed, Ok(vec!["/b.sock".to_owned(), "/c.sock".to_owned()]));
        assert_eq!(repeated, listed);
    }

    #[test]
    fn spread_needs_running_hubs_so_not_a_spawned_hub_or_the_baseline() {
        for other in [&["--spawn-hub"][..], &["--baseline", "raw"]] {
            let args: Vec<&str> = ["--spread", "/b.sock"]
                .iter()
                .chain(other)
                .copied()
                .collect();
            assert_eq!(
                parse_load(&args).map(|_| ()),
                Err(clap::error::ErrorKind::ArgumentConflict),
                "{args:?}"
            );
        }
    }

    #[test]
    fn seconds_are_finite_and_not_negative() {
        assert_eq!(parse_seconds("1.5"), Ok(1.5));
        assert_eq!(parse_seconds("0"), Ok(0.0));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("x").is_err());
    }

    #[test]
    fn the_handoff_carries_every_argument() {
        let args = parse_load(&[
            "--sweep",
            "1,10",
            "--baseline",
            "raw",
            "--spawn-hub",
            "--hub-arg=--queue=8192",
            "--duration",
            "2.5",
            "--json",
            "/tmp/r.json",
        ]);
        let Ok(args) = args else {
            panic!("{args:?}");
        };
        assert_eq!(LoadArgs::from_handoff(&args.to_handoff()).ok(), Some(args));
        assert!(LoadArgs::from_handoff("{\"clients\":1}").is_err());
    }
}
