//! pipehub: one hub process that serves a local endpoint (a Unix domain socket, or a
//! Windows named pipe) and fans every operator line out to every connected client.
//!
//! The binary (`main.rs`) only parses the command line and wires stdin, signals and
//! stdout to this library, so tests start the very same hub in-process.
//!
//! How the pieces fit:
//! - [`transport`]: binds the endpoint safely (never steals a live hub's endpoint) and
//!   accepts connections; with [`platform`] (signals, the open-file limit, the host's
//!   name), the place that knows Unix from Windows.
//! - [`server`]: the accept loop, the connection cap, graceful shutdown.
//! - `connection`: one task per client: handshake, reading its frames, writing its output.
//! - `log`: the broadcast log. Every broadcast is encoded once and appended to one
//!   bounded log; a client is a cursor into it. Its writer sends a slice of the log with
//!   one vectored write; a client that falls behind the log's oldest frame is told exactly
//!   how many broadcasts it missed.
//! - `pacing`: publishers are taken only as fast as the slowest live listener reads;
//!   a listener that stops reading for the stall timeout is left behind.
//! - `partial`: the hub-wide budget for large frames still arriving.
//! - `registry`: who is connected, for the console and for shutdown.
//! - [`console`]: the operator's side: lines in, client messages and notices out; on a
//!   terminal, line editing and commands (`/list`, `/to`, `/kick`, ...).
//! - `status`: the status report (`/list`, `/stats`, a client's `STATUS_REQUEST`) and the
//!   rates in it.
//! - [`logging`]: the log's format (text or JSON lines), and how clients' text appears
//!   in it.
//! - [`metrics`]: `--metrics ADDR`, the counters for Prometheus, read at scrape time.
//! - [`activation`]: running under systemd: an inherited socket, `READY=1`.

pub mod access;
pub mod activation;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod config;
mod connection;
pub mod console;
mod event;
mod hub;
mod link;
mod log;
pub mod logging;
mod memory;
mod meter;
#[cfg(feature = "metrics")]
pub mod metrics;
mod pacing;
mod partial;
pub mod platform;
mod registry;
pub mod server;
mod status;
mod text;
pub mod transport;

pub use config::Config;
pub use console::{Console, ConsoleOptions};
pub use event::ConsoleEvent;
pub use hub::{Hub, SendError, Stats};
pub use registry::{ClientInfo, ClientKind};
