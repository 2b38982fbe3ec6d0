//! The `pipehub-client` command line: argument definitions, one file per command, and the
//! exit codes. This directory belongs to the binary only; the library (`lib.rs`) does not
//! include it.
//!
//! Data goes to stdout, everything meant for a person (notices, errors) to stderr, each
//! line starting with `pipehub-client:` so it can be told apart from the hub's output in a
//! shared terminal.

mod args;
mod exit;
mod listen;
mod load;
mod manual;
mod send;
mod status;

use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

use pipehub_client::protocol::Hello;
use pipehub_client::{ClientError, Connection};
use tracing::Instrument;

pub use args::Cli;
use args::Command;
pub use exit::Exit;

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Never empty: `endpoint::parse` refuses an empty --endpoint or PIPEHUB_ENDPOINT.
    let endpoint = cli.endpoint;
    let span = tracing::info_span!("session", %endpoint, client_id = tracing::field::Empty);
    let command = async {
        match cli.command {
            Command::Listen(args) => listen::run(&endpoint, cli.wait, args).await,
            Command::Send(args) => send::run(&endpoint, cli.wait, args).await,
            Command::Load(args) => load::run(&endpoint, *args),
            Command::Status(args) => status::run(&endpoint, cli.wait, args).await,
            Command::Completions(args) => manual::completions(args),
            Command::Man(_) => manual::man(),
        }
    };
    command.instrument(span).await
}

/// Opens a session, waiting up to `wait` for a hub to appear.
async fn open(endpoint: &str, wait: Duration, hello: Hello) -> anyhow::Result<Connection> {
    match Connection::connect_wait(endpoint, hello, wait).await {
        Ok(connection) => {
            tracing::Span::current().record("client_id", connection.welcome().client_id.0);
            Ok(connection)
        }
        Err(err) => Err(not_opened(endpoint, err)),
    }
}

/// `err`, which kept a session with the hub at `endpoint` from opening, as the command's
/// error.
fn not_opened(endpoint: &str, err: ClientError) -> anyhow::Error {
    match err {
        // Already names the endpoint and the fix.
        err @ (ClientError::NoHub { .. } | ClientError::Unusable { .. }) => err.into(),
        err => anyhow::Error::new(err).context(format!(
            "could not open a session with the hub at {endpoint}"
        )),
    }
}

/// Writes one line for a person to stderr: `pipehub-client: {message}`. A closed stderr
/// is ignored; there is nowhere left to report it.
pub fn notice(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "pipehub-client: {message}");
}
