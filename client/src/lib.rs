//! `pipehub_client`: the client side of pipehub, as a library the `pipehub-client` binary
//! and the end-to-end tests share.
//!
//! The protocol itself (frames, codec, limits) lives in `pipehub-protocol`; this crate adds
//! what a client needs on top of it:
//! - [`transport`]: opens the endpoint (a Unix socket or a Windows named pipe); the only
//!   place that knows one platform from the other.
//! - [`Connection`]: one session with a hub: the `HELLO`/`WELCOME` handshake, the events
//!   a hub sends, buffered sending and [`Connection::confirm`], which proves the hub has
//!   taken everything sent so far; the keepalive both ways (answering the hub's `PING`s,
//!   noticing a silent hub).
//! - [`ClientError`]: every way a session can fail, each with its cause and its fix.
//! - [`SeqTracker`]: turns sequence numbers into "you missed these" facts, so that no loss
//!   goes unnoticed.
//! - [`output`]: how `listen` prints a message (plain, pretty, JSON lines).
//! - [`Backoff`]: bounded, jittered exponential waits between reconnection attempts.
//! - [`load_command`]: the command line of `pipehub-client load`, shared with the
//!   `pipehub-load` program that runs it (the load tool is a crate of its own, `load/`).

pub mod backoff;
mod connection;
mod error;
pub mod load_command;
pub mod output;
mod seq;
pub mod transport;

pub use backoff::Backoff;
pub use connection::{
    CONNECT_RETRY, Connection, DEFAULT_KEEPALIVE, Event, Parts, WELCOME_TIMEOUT, WRITE_BATCH,
};
pub use error::ClientError;
pub use output::Format;
pub use seq::{Gap, SeqTracker};

/// Sends this program's log to stderr: `warn` and worse unless `RUST_LOG` says otherwise,
/// coloured only on a terminal and never when `NO_COLOR` is set (no-color.org). The one
/// setup of `pipehub-client` and `pipehub-load`.
pub fn log_to_stderr() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
        )
        .init();
}

/// The protocol crate, re-exported so users of this library name the same types.
pub use pipehub_protocol as protocol;
