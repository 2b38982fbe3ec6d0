//! `pipehub-client status`: asks a running hub who is connected and what it has done (a
//! `STATUS_REQUEST`), and prints the answer: the same counters and client table as the
//! operator's `/stats` and `/list`, or the report's JSON with `--json`.
//!
//! The request takes a short session as a listener named `status`, so it is itself one of
//! the clients it lists (marked `*`), and the hub's operator sees it come and go.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pipehub_client::protocol::status::{clients_table, stats_text};
use pipehub_client::protocol::{Hello, Role};

use super::exit::EXIT_CODES;

/// The name this session gives the hub.
const SESSION_NAME: &str = "status";

/// How long the hub has to send its report.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Show who is connected to the hub and what it has done
///
/// Prints the hub's counters (clients, messages and bytes broadcast, deliveries per
/// second over the last seconds, lagged clients), then a table of the connected clients:
/// ID, name, role, user and process ID, how long ago it connected, broadcasts queued for
/// it and broadcasts it missed. The same as /stats and /list on the hub's console. This
/// request is one of the clients, marked with *.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct StatusArgs {
    /// Print the report as JSON (the format docs/protocol.md specifies) instead
    #[arg(long)]
    pub json: bool,
}

/// Runs `status`.
pub async fn run(endpoint: &str, wait: Duration, args: StatusArgs) -> anyhow::Result<()> {
    let hello = Hello::new(Role::Listener).with_name(SESSION_NAME);
    let mut connection = super::open(endpoint, wait, hello).await?;
    let report = tokio::time::timeout(ANSWER_TIMEOUT, connection.status())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the hub did not answer the status request within {} s",
                ANSWER_TIMEOUT.as_secs()
            )
        })
        .and_then(|answer| Ok(answer?))
        .with_context(|| format!("asking the hub at {endpoint} for its status"))?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report).context("writing the report")?;
        json.push('\n');
        json
    } else {
        format!("{}\n{}", stats_text(&report), clients_table(&report))
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A reader that went away (`status | head -3`) took what it wanted.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("could not write to stdout"),
    }
}
