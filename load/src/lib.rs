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
//! It measures the hub, not itself. Its listeners open their sessions with the same
//! [`Connection`] handshake as `pipehub-client listen`, then the [`receiver`] threads read
//! them in large blocks and count the frames in place, checking every sequence number,
//! for less work per delivery than the hub spends making it (docs/performance.md has
//! both); its publishers send in batches. Where the tool still was the limit of a run,
//! the report says so.
//!
//! A run goes through four phases for each target ([`measure`], [`phases`]):
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
//! - [`config`]: the load test as the command line describes it; [`mod@run`]: every point
//!   of it, target after target; [`measure`]: one target through the [`phases`];
//! - [`payload`]: the header every load message carries (send time, kind, run ID);
//! - [`listeners`]: the listeners of a run, as the phases see them: [`receiver`]
//!   threads in this process, [`procs`] in `--procs` worker processes, and their live
//!   [`counters`]; [`busy`]: how busy the tool's threads were, and [`tool`]: which side
//!   of a run set its pace;
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

pub mod affinity;
pub mod busy;
pub mod charts;
pub mod config;
pub mod counters;
pub mod html;
pub mod hub_proc;
pub mod limits;
pub mod listeners;
pub mod measure;
pub mod payload;
pub mod phases;
pub mod procs;
pub mod progress;
pub mod publisher;
#[cfg(unix)]
pub mod raw;
pub mod receiver;
pub mod report;
pub mod run;
pub mod spread;
pub mod stats;
pub mod tool;

pub use config::LoadConfig;
pub use hub_proc::RAW_COMMAND;
pub use progress::Display;
pub use report::Report;
pub use run::run;
