//! `pipehub-load`, the program behind `pipehub-client load`: measures a hub with many real
//! listeners, and compares it with the machine's practical limit (`--baseline raw`) in the
//! same run.
//!
//! Load testing client counts is one of the things pipehub is for, so the tool ships with
//! the client, as a crate of its own: its charts, histograms and progress bars stay out of
//! programs that only link the client library to listen. Users type `pipehub-client load`;
//! the client parses the arguments (`pipehub_client::load_command`) and hands them to this
//! crate's binary, which also serves as its own `--procs` workers and raw baseline server.
//!
//! It measures what users get: its listeners are ordinary [`Connection`]s
//! read with [`Connection::next_event`], like `pipehub-client listen`, and its publishers
//! send like `pipehub-client send`.
//!
//! A run goes through four phases for each target ([`run::measure`]):
//! 1. **connecting** N listeners (throttled handshakes; clients per second);
//! 2. **warm-up**: a publisher sends markers until every listener has received one, so
//!    no listener misses the start of the measurement;
//! 3. **measuring**: K publishers send the measured messages, each stamped with its send
//!    time, paced by `--rate` and held within a flow-control window of the slowest
//!    listener ([`publisher`]);
//! 4. **draining**: an end marker follows the last message; once every listener has it
//!    (or the drain timeout passed) the loss is counted.
//!
//! How the pieces fit:
//! - [`payload`]: the header every load message carries (send time, kind, run ID);
//! - [`listener`], [`group`], [`counters`]: listeners in this process and their live
//!   counts; [`procs`]: listeners in `--procs` worker processes;
//! - [`publisher`]: markers, measured messages, flow control;
//! - [`spread`]: which hub each listener connects to, with `--spread` over bridged hubs;
//! - [`hub_proc`]: the target process, spawned or found, measured through `/proc`;
//! - [`raw`]: the raw baseline server (Unix only);
//! - [`limits`]: the open-file limit, raised and checked before anything starts;
//! - [`stats`], [`report`]: what was measured, merged, and shown as a table or JSON;
//! - [`html`], [`charts`]: the same report as one self-contained HTML page with charts;
//! - [`progress`]: progress bars on a terminal, plain lines otherwise.
//!
//! On Windows the tool measures a running hub (`--endpoint`); spawning one, the raw
//! baseline and the `/proc` measurements are Unix (or Linux) only.
//!
//! [`Connection`]: pipehub_client::Connection
//! [`Connection::next_event`]: pipehub_client::Connection::next_event

pub mod charts;
pub mod counters;
pub mod group;
pub mod html;
pub mod hub_proc;
pub mod limits;
pub mod listener;
pub mod payload;
pub mod procs;
pub mod progress;
pub mod publisher;
#[cfg(unix)]
pub mod raw;
pub mod report;
pub mod run;
pub mod spread;
pub mod stats;

use serde::Serialize;

pub use hub_proc::RAW_COMMAND;
pub use progress::Display;
pub use report::Report;
pub use run::run;

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
    /// spawned hub serves (set by [`run`], in the report too).
    pub endpoint: String,
    /// Other running hubs, bridged to `endpoint`'s, that get an even share of the
    /// listeners (`--spread`); the publishers stay on `endpoint`. Empty: one hub.
    pub spread: Vec<String>,
    /// Start `pipehub` from next to this binary on a private endpoint instead.
    pub spawn_hub: bool,
    /// Extra arguments for a spawned hub.
    pub hub_args: Vec<String>,
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
}
