//! The command line of `pipehub-client`, as clap derive types. The doc comments here are
//! the `--help` text.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipehub_client::Format;
use pipehub_client::protocol::{MAX_NAME_LEN, endpoint};

use super::exit::EXIT_CODES;

/// Listen to a pipehub hub, or send messages to it.
///
/// A pipehub hub serves one local endpoint (a Unix socket, or a named pipe on Windows)
/// and fans every message out to every listening client. `listen` prints the messages;
/// `send` broadcasts messages and returns once the hub has taken all of them.
#[derive(Debug, Parser)]
#[command(name = "pipehub-client", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The hub's endpoint: a Unix socket path, or on Windows a pipe name (NAME means
    /// \\.\pipe\NAME)
    #[arg(
        long,
        global = true,
        value_name = "ENDPOINT",
        env = endpoint::ENV_VAR,
        default_value_t = endpoint::from_env_or_default()
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
}

/// Print every message the hub broadcasts, one per line, until the hub says BYE
///
/// Messages go to stdout. If this client falls behind, the hub skips messages and says
/// how many; that, and any other gap in the sequence numbers, is reported on stderr.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ListenArgs {
    /// How to print each message [default: pretty on a terminal, plain otherwise]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Exit after N messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

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
    /// Time (UTC), sequence number, sender and message
    Pretty,
    /// One JSON object per line: seq, sender, timestamp_us, and body (or body_hex when the
    /// message is not UTF-8)
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
}
