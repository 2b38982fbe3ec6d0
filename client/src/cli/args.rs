//! The command line of `pipehub-client`, as clap derive types. The doc comments here are
//! the `--help` text.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipehub_client::Format;
use pipehub_client::protocol::{MAX_NAME_LEN, endpoint};

use super::exit::EXIT_CODES;

/// The default of `--endpoint` as the manual page gives it. The value itself is computed
/// for the user and platform at hand ([`endpoint::from_env_or_default`]), so `--help`
/// shows the user's own path, and the manual, which is generated once and read by
/// anyone, the rule.
pub const DEFAULT_ENDPOINT: &str = endpoint::DEFAULT_DESCRIPTION;

/// Listen to a pipehub hub, send messages to it, or ask who is connected
///
/// A pipehub hub serves one local endpoint (a Unix socket, or a named pipe on Windows)
/// and fans every message out to every listening client. `listen` prints the messages;
/// `send` broadcasts messages and returns once the hub has taken all of them; `status`
/// shows the hub's clients and counters.
#[derive(Debug, Parser)]
#[command(name = "pipehub-client", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The hub's endpoint: a Unix socket path, or on Windows a pipe name (NAME means
    /// \\.\pipe\NAME); or pipe:NAME, where .NET's NamedPipeClientStream(".", NAME) looks
    /// ($TMPDIR/CoreFxPipe_NAME on Unix, \\.\pipe\NAME on Windows)
    #[arg(
        long,
        global = true,
        value_name = "ENDPOINT",
        env = endpoint::ENV_VAR,
        default_value_t = endpoint::from_env_or_default(),
        value_parser = endpoint::parse
    )]
    pub endpoint: String,

    /// While no hub is up, keep trying to connect for this many seconds (0: fail at once)
    #[arg(long, global = true, value_name = "SECONDS", default_value = "0", value_parser = parse_wait, allow_negative_numbers = true)]
    pub wait: Duration,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    Listen(ListenArgs),
    Send(SendArgs),
    // Boxed: the load command has far more options than the others.
    Load(Box<pipehub_client::load_command::LoadArgs>),
    Status(super::status::StatusArgs),
    /// Print a shell completion script to stdout
    ///
    /// For example: pipehub-client completions bash > ~/.local/share/bash-completion/completions/pipehub-client
    Completions(pipehub_manual::CompletionsArgs),
    /// Print the manual page (roff) to stdout
    ///
    /// One page with every command and its options.
    ///
    /// For example: pipehub-client man > ~/.local/share/man/man1/pipehub-client.1
    Man(pipehub_manual::ManArgs),
}

/// Print every message the hub broadcasts, one per line, until the hub says BYE
///
/// Messages go to stdout, and so do direct messages the hub's operator sends to this
/// client alone (marked as direct in the pretty and json formats). If this client falls
/// behind, the hub skips messages and says how many; that, and any other gap in the
/// sequence numbers, is reported on stderr (and in the json format also on stdout, as an
/// event line).
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ListenArgs {
    /// How to print each message [default: pretty on a terminal, plain otherwise]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Exit after N broadcast messages (direct messages are printed but not counted;
    /// with --reconnect, the count goes on across reconnections)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Start with up to the last K messages the hub still holds, then live ones
    #[arg(long, value_name = "K")]
    pub last: Option<u32>,

    /// When the connection is lost (the hub closed it without BYE, went silent, or said
    /// BYE because it shut down), reconnect and go on after the last message printed:
    /// retries every 0.1 s at first, doubling up to 5 s (±20 %), until the hub is back.
    /// With no hub yet at the start, waits for one the same way (--wait does not apply).
    /// Across a brief disconnection every message is printed once; across a hub restart,
    /// stderr says that messages may have been lost (and --format json prints a
    /// new_instance event). A client the operator removed does
    /// not reconnect
    #[arg(long)]
    pub reconnect: bool,

    /// Send the hub a PING after this many seconds without a frame from it, and give up
    /// on it (or reconnect, with --reconnect) after as many again without an answer
    /// (0: never)
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_wait)]
    pub keepalive: Duration,

    /// A name the hub's operator sees for this client (at most 64 bytes)
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,
}

/// Broadcast messages, and exit once the hub has taken every one
///
/// With TEXT, sends the words joined by single spaces as one message. Without TEXT, sends
/// every line of stdin as its own message (empty lines too; a trailing "\r" is removed).
/// Put -- before TEXT that starts with "-".
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct SendArgs {
    /// A name the hub's operator sees for this client (at most 64 bytes)
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// The message [default: one message per line of stdin]
    #[arg(value_name = "TEXT")]
    pub text: Vec<OsString>,
}

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The message exactly as sent, then a newline
    Plain,
    /// Time (UTC), sequence number, sender and message; the sender of a message from
    /// another hub (over a bridge) is shown with that hub's name, as <client 3@hub-a>
    Pretty,
    /// One JSON object per line: seq, sender, timestamp_us, and body (or body_hex when the
    /// message is not UTF-8); a message from another hub also has an origin object (hub,
    /// instance, seq, sender). Lines without seq are not broadcasts: a direct message has
    /// "direct":true; {"event":"lagged","missed":N,"next_seq":S} says N broadcasts were
    /// skipped and the next is S; {"event":"new_instance","instance":"HEX","previous":"HEX"}
    /// says the hub was restarted (with --reconnect) and numbers its broadcasts from 1 again
    Json,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Plain => Format::Plain,
            FormatArg::Pretty => Format::Pretty,
            FormatArg::Json => Format::Json,
        }
    }
}

fn parse_wait(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("`{value}` is not a number of seconds (0 or more)"))
}

fn parse_name(value: &str) -> Result<String, String> {
    if value.len() > MAX_NAME_LEN {
        Err(format!(
            "the name is {} bytes long; names are at most {MAX_NAME_LEN} bytes",
            value.len()
        ))
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn wait_accepts_fractions_and_refuses_negatives() {
        assert_eq!(parse_wait("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert!(parse_wait("-1").is_err());
        assert!(parse_wait("soon").is_err());
        assert!(parse_wait("inf").is_err());
    }

    #[test]
    fn listen_options_parse() {
        let cli = Cli::try_parse_from([
            "pipehub-client",
            "listen",
            "--last",
            "10",
            "--reconnect",
            "--keepalive",
            "0.5",
        ]);
        let Ok(Cli {
            command: Command::Listen(args),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        assert_eq!(args.last, Some(10));
        assert!(args.reconnect);
        assert_eq!(args.keepalive, Duration::from_millis(500));

        let Ok(Cli {
            command: Command::Listen(args),
            ..
        }) = Cli::try_parse_from(["pipehub-client", "listen"])
        else {
            panic!("listen without options");
        };
        assert_eq!((args.last, args.reconnect), (None, false));
        assert_eq!(args.keepalive, Duration::from_secs(30));
    }

    #[test]
    fn name_is_limited_to_64_bytes() {
        assert!(parse_name(&"x".repeat(64)).is_ok());
        assert!(parse_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn endpoint_and_wait_are_accepted_after_the_command() {
        let cli = Cli::try_parse_from([
            "pipehub-client",
            "send",
            "--endpoint",
            "/x",
            "--wait",
            "2",
            "hi",
        ]);
        let cli = cli.map_err(|err| err.to_string());
        assert!(
            matches!(&cli, Ok(cli) if cli.endpoint == "/x" && cli.wait == Duration::from_secs(2))
        );
    }

    #[test]
    fn a_pipe_endpoint_needs_a_bare_name() {
        for bad in ["pipe:", "pipe:a/b"] {
            let err = Cli::try_parse_from(["pipehub-client", "--endpoint", bad, "listen"])
                .map(|_| ())
                .map_err(|err| err.kind());
            assert_eq!(err, Err(clap::error::ErrorKind::ValueValidation), "{bad}");
        }
        let cli = Cli::try_parse_from(["pipehub-client", "--endpoint", "pipe:testpipe", "listen"]);
        assert!(matches!(cli, Ok(cli) if cli.endpoint == "pipe:testpipe"));
    }
}
