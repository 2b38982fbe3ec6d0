//! The `pipehub` command line. Doc comments here are the `--help` text.

use std::time::Duration;

use clap::Parser;
use pipehub::Config;

/// pipehub: one hub, many listeners. Serves a local endpoint (a Unix domain socket, or a
/// Windows named pipe) and broadcasts every line typed on stdin to every connected
/// client. Clients connect with `pipehub-client listen`, or with any tool that reads a
/// Unix socket (socat, nc -U).
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The endpoint to serve: a socket path (Unix) or a pipe name (Windows).
    #[arg(long, env = "PIPEHUB_ENDPOINT", default_value_t = pipehub_protocol::endpoint::platform_default())]
    pub endpoint: String,

    /// How many broadcasts a client may fall behind before it is told it lagged (and
    /// how many the hub retains).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,

    /// The most bytes of broadcasts the hub retains for clients that are behind.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub queue_bytes: usize,

    /// The largest frame (length field, in bytes) the hub accepts and sends.
    #[arg(long, default_value_t = pipehub_protocol::DEFAULT_MAX_FRAME,
          value_parser = clap::value_parser!(u32).range(i64::from(pipehub_protocol::MIN_MAX_FRAME)..))]
    pub max_frame: u32,

    /// Most clients served at once; further connections wait until one leaves.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_clients: u64,

    /// Milliseconds a new connection may stay silent before it is served as a text
    /// listener (one line per broadcast).
    #[arg(long, default_value_t = 300)]
    pub text_grace_ms: u64,

    /// Seconds clients get, on shutdown, to receive what is queued for them.
    #[arg(long, default_value_t = 5.0)]
    pub shutdown_timeout: f64,

    /// Shut down gracefully when stdin ends (by default the hub keeps serving).
    #[arg(long)]
    pub exit_on_eof: bool,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  stopped cleanly (Ctrl-C, SIGTERM, or end of stdin with --exit-on-eof)
  1  error while serving
  2  bad command line
  3  another hub is already serving the endpoint";

impl Cli {
    /// The hub configuration these flags describe.
    pub fn config(&self) -> Config {
        Config {
            max_frame: self.max_frame,
            queue_frames: self.queue as usize,
            queue_bytes: self.queue_bytes,
            max_clients: usize::try_from(self.max_clients).unwrap_or(usize::MAX),
            text_grace: Duration::from_millis(self.text_grace_ms),
            shutdown_timeout: Duration::try_from_secs_f64(self.shutdown_timeout)
                .unwrap_or(Config::default().shutdown_timeout),
            ..Config::default()
        }
    }
}
