//! `pipehub-client listen`: prints every broadcast to stdout.
//!
//! Output is buffered and flushed whenever no further event is already waiting (and after
//! every message on a terminal), so a burst costs few writes and an idle hub never leaves
//! a message unprinted. Nothing is lost silently: `LAGGED` notices and unexplained gaps in
//! the sequence numbers are reported on stderr. A reader that closes stdout
//! (`listen | head -3`) ends the command quietly and successfully.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use pipehub_client::output::write_broadcast;
use pipehub_client::protocol::{Hello, Role};
use pipehub_client::{ClientError, Connection, Event, Format, SeqTracker};

use super::args::ListenArgs;
use super::exit::EndedEarly;
use super::notice;

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("could not write to stdout: {0}")]
struct StdoutError(io::Error);

/// Runs `listen`.
pub async fn run(endpoint: &str, wait: Duration, args: ListenArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let on_terminal = stdout.is_terminal();
    let format = match args.format {
        Some(format) => Format::from(format),
        None if on_terminal => Format::Pretty,
        None => Format::Plain,
    };
    let mut hello = Hello::new(Role::Listener);
    hello.name = args.name.unwrap_or_default();
    let mut connection = super::open(endpoint, wait, hello).await?;
    let client_id = connection.welcome().client_id;

    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = receive(&mut connection, &mut out, format, on_terminal, args.count).await;
    let result = result.and_then(|()| out.flush().map_err(|err| StdoutError(err).into()));
    match result {
        Err(err)
            if err
                .downcast_ref::<StdoutError>()
                .is_some_and(|err| err.0.kind() == io::ErrorKind::BrokenPipe) =>
        {
            tracing::debug!("stdout closed; stopping");
            Ok(())
        }
        result => result
            .with_context(|| format!("listening to the hub at {endpoint} (as client {client_id})")),
    }
}

/// Prints events until the session or `count` ends.
async fn receive(
    connection: &mut Connection,
    out: &mut impl Write,
    format: Format,
    on_terminal: bool,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let mut tracker = SeqTracker::starting_after(connection.welcome().current_seq);
    let result = loop {
        let Some(event) = connection.next_event().await? else {
            break Err(ClientError::Closed.into());
        };
        match event {
            Event::Broadcast(broadcast) => {
                if let Some(gap) = tracker.observe_broadcast(broadcast.seq) {
                    out.flush().map_err(StdoutError)?;
                    notice(format_args!("warning: {gap}"));
                }
                write_broadcast(out, format, &broadcast).map_err(StdoutError)?;
                if count == Some(tracker.received()) {
                    break Ok(());
                }
            }
            Event::Lagged { missed, next_seq } => {
                tracker.observe_lagged(missed, next_seq);
                out.flush().map_err(StdoutError)?;
                notice(format_args!(
                    "missed {missed} messages; continuing at #{next_seq}"
                ));
            }
            Event::Bye { reason, text } => {
                out.flush().map_err(StdoutError)?;
                notice(ClientError::Bye { reason, text });
                break match count {
                    Some(count) => Err(EndedEarly {
                        received: tracker.received(),
                        count,
                    }
                    .into()),
                    None => Ok(()),
                };
            }
            Event::Pong(_) => {}
        }
        if on_terminal || !connection.event_ready() {
            out.flush().map_err(StdoutError)?;
        }
    };
    tracing::info!(
        received = tracker.received(),
        missed = tracker.missed(),
        unexplained_gaps = tracker.unexplained_gaps(),
        "listen finished"
    );
    result
}
