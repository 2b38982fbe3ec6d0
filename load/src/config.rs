//! [`LoadConfig`]: one load test, as the command line describes it, and the checks the
//! command line cannot make (flags that go together, for callers of the library too).

use std::sync::Arc;

use serde::Serialize;

use crate::busy::BusyClock;

use crate::payload;
use crate::progress::Display;

/// One load test, as the command line describes it.
#[derive(Clone, Debug, Serialize)]
pub struct LoadConfig {
    /// Listeners (N).
    pub clients: u64,
    /// Listener counts to measure one after another (`--sweep`), each as if given as
    /// `clients`; empty: only `clients`.
    pub sweep: Vec<u64>,
    /// Processes holding the listeners (P); 1: this process.
    pub procs: u64,
    /// Receiver threads per listener process; `None`: one per core, shared by the
    /// processes.
    pub receiver_threads: Option<usize>,
    /// Publishers (K), all in this process.
    pub publishers: u64,
    /// Measured messages in total, over all publishers (when no duration is given).
    pub messages: u64,
    /// Publish for this long instead of a number of messages.
    pub duration_seconds: Option<f64>,
    /// Bytes per message body (at least [`payload::HEADER_LEN`]).
    pub size: usize,
    /// Messages per second over all publishers; 0: as fast as the target takes them.
    pub rate: f64,
    /// Most messages the publishers may be ahead of the slowest listener; `None`: half
    /// the target's `queue_frames`; 0: no limit.
    pub window: Option<u64>,
    /// The hub measured: a running hub's endpoint, or with `spawn_hub` the one every
    /// spawned hub serves (set by [`crate::run()`], in the report too).
    pub endpoint: String,
    /// Other running hubs, bridged to `endpoint`'s, that get an even share of the
    /// listeners (`--spread`); the publishers stay on `endpoint`. Empty: one hub.
    pub spread: Vec<String>,
    /// Start `pipehub` from next to this binary on a private endpoint instead.
    pub spawn_hub: bool,
    /// Extra arguments for a spawned hub.
    pub hub_args: Vec<String>,
    /// CPUs a spawned hub and the raw baseline run on, the tool on the others (Linux);
    /// empty: wherever the system puts them.
    #[serde(default)]
    pub target_cpus: Vec<usize>,
    /// Also measure the raw baseline, and report hub ÷ raw.
    pub baseline_raw: bool,
    /// Listener handshakes in flight at once, per process.
    pub connect_concurrency: usize,
    /// How long draining may go without any delivery before the missing deliveries
    /// count as lost.
    pub drain_timeout_seconds: f64,
    /// How long warm-up may take.
    pub warmup_timeout_seconds: f64,
    /// How progress is shown.
    #[serde(skip)]
    pub display: Display,
    /// The busy clock of the runtime [`crate::run()`] is called on, where the publishers
    /// run (`pipehub-load` builds its runtime with one); `None`: how busy they were is
    /// not measured.
    #[serde(skip)]
    pub publisher_clock: Option<Arc<BusyClock>>,
}

impl LoadConfig {
    /// The listener counts to measure, in order: the sweep, or just `clients`.
    pub fn client_counts(&self) -> Vec<u64> {
        if self.sweep.is_empty() {
            vec![self.clients]
        } else {
            self.sweep.clone()
        }
    }

    /// Checks what the command line cannot: the flags that go together, for callers of
    /// the library too.
    pub fn validate(&self) -> anyhow::Result<()> {
        let config = self;
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
        anyhow::ensure!(
            config.target_cpus.is_empty() || config.spawn_hub || config.baseline_raw,
            "--target-cpus places the hub the tool starts: use it with --spawn-hub or --baseline raw"
        );
        if cfg!(not(unix)) && (config.spawn_hub || config.baseline_raw) {
            anyhow::bail!(
                "--spawn-hub and --baseline raw need Unix sockets; on this platform, start a hub \
                 and measure it with --endpoint"
            );
        }
        Ok(())
    }
}
