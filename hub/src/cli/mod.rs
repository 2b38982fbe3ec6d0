//! The `pipehub` command line. Doc comments here are the `--help` text.

use std::time::Duration;

#[cfg(feature = "bridge")]
mod bridge;

use clap::{Args, Parser, Subcommand};
use pipehub::{
    Config,
    access::{Access, Publishers},
    config::{self, WhenBehind},
    logging::LogFormat,
};

/// One hub, many listeners: a local broadcast hub on a Unix socket or a Windows named pipe
///
/// pipehub serves a local endpoint (a Unix domain socket, or a Windows named pipe) and
/// broadcasts every line typed on stdin to every connected client. Clients connect with
/// `pipehub-client listen`, or with any tool that reads a Unix socket (socat, nc -U).
///
/// On a terminal the console has line editing, history and commands (/list, /to, /kick,
/// /stats, /quit; /help lists them). From a pipe or a file, every line is broadcast as it
/// is. Try it all in one terminal with `pipehub demo`.
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Something other than serving (without one, pipehub serves the endpoint)
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The endpoint to serve: a socket path (Unix) or a pipe name (Windows); or
    /// pipe:NAME, where .NET's NamedPipeClientStream(".", NAME) looks
    /// ($TMPDIR/CoreFxPipe_NAME on Unix, \\.\pipe\NAME on Windows).
    #[arg(long, env = "PIPEHUB_ENDPOINT", default_value_t = pipehub_protocol::endpoint::platform_default(),
          value_parser = pipehub_protocol::endpoint::parse)]
    pub endpoint: String,

    /// The window: how many broadcasts a listener may be behind (and how many the hub
    /// retains). Publishers wait for a listener that far behind; with --when-behind
    /// skip, it skips ahead and is told how many it missed.
    #[arg(long, default_value_t = config::DEFAULT_QUEUE_FRAMES, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,

    /// The most bytes of broadcasts the hub retains for clients that are behind.
    #[arg(long, default_value_t = config::DEFAULT_QUEUE_BYTES)]
    pub queue_bytes: usize,

    /// When publishers send faster than listeners read: `wait` takes their messages only
    /// as fast as the slowest listener that is reading, so such listeners miss nothing;
    /// `skip` takes them at once, and a listener --queue behind skips ahead (told what it
    /// missed), for the newest messages over complete ones.
    #[arg(long, value_enum, default_value_t = WhenBehind::Wait)]
    pub when_behind: WhenBehind,

    /// Seconds a listener may take nothing while publishers wait for it; then they stop
    /// waiting for it (it is told later what it missed), until it reads again.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(config::DEFAULT_STALL_TIMEOUT))]
    pub stall_timeout: Seconds,

    /// The largest frame (length field, in bytes) the hub accepts and sends.
    #[arg(long, default_value_t = pipehub_protocol::DEFAULT_MAX_FRAME,
          value_parser = clap::value_parser!(u32).range(i64::from(pipehub_protocol::MIN_MAX_FRAME)..))]
    pub max_frame: u32,

    /// Most clients served at once; a client past it is refused with "hub full"
    /// (pipehub-client exits 4).
    #[arg(long, default_value_t = config::DEFAULT_MAX_CLIENTS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_clients: u64,

    /// Messages a second each client may send to the operator, after a burst of 100; a
    /// faster client is read at this pace and nothing it sends is lost. 0: no limit.
    #[arg(long, value_name = "PER_SECOND", default_value_t = pipehub::config::DEFAULT_OPERATOR_RATE)]
    pub operator_rate: u32,

    /// Milliseconds a new connection may stay silent before it is served as a text
    /// listener (one line per broadcast).
    #[arg(long, default_value_t = config::DEFAULT_TEXT_GRACE.as_millis() as u64)]
    pub text_grace_ms: u64,

    /// Seconds clients get, on shutdown, to receive what is queued for them.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(config::DEFAULT_SHUTDOWN_TIMEOUT))]
    pub shutdown_timeout: Seconds,

    /// Threads serving clients. One thread has no cross-thread wake-ups and delivers
    /// tens of millions of small messages a second; give more (up to the cores the hub
    /// may have) when its one thread runs at a full core and publishers are paced;
    /// 0 means one per core (docs/architecture.md, "Threads and cores").
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// How the hub writes its log (stderr) and, when stdout is not a terminal, its console
    /// lines: `text` for a person, `json` (one object per line) for a log collector.
    #[arg(long, value_enum, env = "PIPEHUB_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Shut down gracefully when stdin ends (by default the hub keeps serving).
    #[arg(long)]
    pub exit_on_eof: bool,

    /// Serve Prometheus metrics over HTTP at ADDR/metrics, such as 127.0.0.1:9187 (port 0
    /// picks a free one). Anyone who can reach ADDR can read the counters: keep it on
    /// loopback unless the network is trusted [default: off]
    #[cfg(feature = "metrics")]
    #[arg(long, value_name = "ADDR", env = "PIPEHUB_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,

    /// How many of the latest broadcasts a connecting client may have replayed (resume
    /// after a reconnect, or `listen --last K`); 0 disables replay.
    #[arg(long, default_value_t = config::DEFAULT_HISTORY_FRAMES)]
    pub history: usize,

    /// The most bytes of broadcasts replay reaches back over.
    #[arg(long, default_value_t = config::DEFAULT_HISTORY_BYTES)]
    pub history_bytes: usize,

    /// Permissions of the socket file, in octal (Unix).
    #[arg(long, default_value_t = Mode(config::DEFAULT_SOCKET_MODE))]
    pub mode: Mode,

    /// Let every local user open the named pipe, not only the user the hub runs as
    /// (Windows; other users may connect and write but never create instances of the
    /// pipe). On Unix, use --mode with --allow-uid or --allow-gid.
    #[arg(long)]
    pub allow_everyone: bool,

    /// Also let these users connect (numeric uid; repeat or separate with commas). The
    /// hub's own user and root always may.
    #[arg(long, value_delimiter = ',')]
    pub allow_uid: Vec<u32>,

    /// Also let members of these groups connect (numeric gid; repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub allow_gid: Vec<u32>,

    /// Who may publish: `any` client that may connect, `none`, or a comma-separated list
    /// of uids [default: the hub's own user (and root)]
    #[arg(long, value_parser = parse_publishers)]
    pub publishers: Option<Publishers>,

    /// Seconds of silence after which the hub pings a framed client; one silent for
    /// twice as long is disconnected. 0 disables keepalive.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(config::DEFAULT_KEEPALIVE))]
    pub keepalive: Seconds,

    /// The bridge to other hubs (built with the `bridge` feature, the default).
    #[cfg(feature = "bridge")]
    #[command(flatten)]
    pub bridge: bridge::BridgeArgs,
}

/// A duration given in seconds, 0 or more, fractions allowed (anything else is a usage
/// error rather than a silent default), and shown so in `--help`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seconds(pub Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(value: &str) -> Result<Seconds, String> {
        value
            .parse::<f64>()
            .ok()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .map(Seconds)
            .ok_or_else(|| format!("`{value}` is not a number of seconds (0 or more, such as 2.5)"))
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// A socket file's permissions, given and shown in octal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mode(pub u32);

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(value: &str) -> Result<Mode, String> {
        u32::from_str_radix(value.trim_start_matches("0o"), 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .map(Mode)
            .ok_or_else(|| {
                format!("`{value}` is not a file mode; give octal digits such as 0600 or 0660")
            })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

fn parse_publishers(value: &str) -> Result<Publishers, String> {
    match value {
        "any" => Ok(Publishers::Any),
        "none" => Ok(Publishers::Nobody),
        list => list
            .split(',')
            .map(|uid| uid.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map(Publishers::Uids)
            .map_err(|_| {
                format!("`{value}` is not `any`, `none` or a comma-separated list of numeric uids")
            }),
    }
}

/// What `pipehub` does instead of serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(DemoArgs),
    /// Print a shell completion script to stdout
    ///
    /// For example: pipehub completions bash > ~/.local/share/bash-completion/completions/pipehub
    Completions(pipehub_manual::CompletionsArgs),
    /// Print the manual page (roff) to stdout
    ///
    /// For example: pipehub man > ~/.local/share/man/man1/pipehub.1
    Man(pipehub_manual::ManArgs),
}

/// Starts a hub on a temporary endpoint and N `pipehub-client listen` processes, and
/// shows what each listener prints, labelled [listener K]. Type a line and press Enter:
/// every listener prints it. Try /list, /to 2 hello, /kick 3 and /help. Ctrl-C stops the
/// hub and the listeners and removes the endpoint. Needs pipehub-client next to pipehub.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many listeners to start
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub listeners: u16,
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  stopped cleanly (/quit, Ctrl-C, SIGTERM, or end of stdin with --exit-on-eof)
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
            shutdown_timeout: self.shutdown_timeout.0,
            history_frames: self.history,
            history_bytes: self.history_bytes,
            socket_mode: self.mode.0,
            allow_everyone: self.allow_everyone,
            access: self.access(),
            keepalive: Some(self.keepalive.0).filter(|d| !d.is_zero()),
            when_behind: self.when_behind,
            stall_timeout: self.stall_timeout.0,
            operator_rate: self.operator_rate,
            ..Config::default()
        }
    }

    fn access(&self) -> Access {
        let mut access = Access::for_current_user();
        access.allow_uids.clone_from(&self.allow_uid);
        access.allow_gids.clone_from(&self.allow_gid);
        if let Some(publishers) = &self.publishers {
            access.publishers = publishers.clone();
        }
        access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_what_is_not_a_duration() {
        assert_eq!("2.5".parse(), Ok(Seconds(Duration::from_millis(2500))));
        assert_eq!("0".parse(), Ok(Seconds(Duration::ZERO)));
        for bad in ["-1", "nan", "inf", "soon", ""] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(Seconds(Duration::from_millis(300)).to_string(), "0.3");
        assert_eq!(
            "0660".parse::<Mode>().map(|m| m.to_string()),
            Ok("0660".into())
        );
    }
}
