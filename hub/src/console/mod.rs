//! The operator's side of the hub: lines typed (or piped) into the hub become
//! broadcasts, and what clients say back, or do, becomes [`ConsoleEvent`]s printed for
//! the operator. [`Console::start`] picks one of two modes:
//!
//! - **Terminal** (stdin and stdout are a terminal): a line editor with history
//!   (`terminal.rs`), the operator's commands (`commands.rs` says what a line means,
//!   `operator.rs` carries it out), notices printed above the prompt, colour unless
//!   `NO_COLOR` is set (`style.rs`).
//! - **Pipe** (anything else: `pipehub < script`, `tail -f log | pipehub`): every line is
//!   broadcast exactly as it is, commands included, and nothing but the notices is
//!   printed: no prompt, no colour. Input is read as raw bytes, one message per line (the
//!   trailing `\n` or `\r\n` is dropped), so non-UTF-8 input is broadcast as it is.
//!
//! Either way one [`Printer`] thread writes everything the console shows.

pub mod commands;
pub mod operator;
mod printer;
pub mod style;
mod terminal;

use std::{io, time::Duration};

use pipehub_protocol::{
    ClientId,
    status::{grouped, printable},
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::{
    format::Writer,
    time::{FormatTime, SystemTime},
};

pub use printer::{LogLine, LogRoute, Printer};
pub use style::{Style, Tone};
pub use terminal::PROMPT;

pub use crate::event::ConsoleEvent;
use crate::{hub::Hub, logging::LogFormat};

/// Reads operator lines from `input` and broadcasts each one, until end of input, paced
/// like a publisher: while listeners are a window behind, input is not read.
/// Returns how many lines were broadcast.
pub async fn broadcast_lines(hub: &Hub, mut input: impl AsyncBufRead + Unpin) -> io::Result<u64> {
    let mut line = Vec::new();
    let mut count = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(count);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        match hub.publish_paced(&line).await {
            Ok(_) => count += 1,
            Err(err) => tracing::warn!("line not broadcast: {err}"),
        }
    }
}

/// How the console behaves.
#[derive(Debug, Default)]
pub struct ConsoleOptions {
    /// Stop the hub when the input ends (Ctrl-D on a terminal, the end of piped input);
    /// otherwise the hub keeps serving.
    pub exit_on_eof: bool,
    /// The route of the hub's log lines, switched to the console's printer while a line
    /// editor owns the terminal.
    pub log_route: Option<LogRoute>,
    /// Read no input before this says go (or is dropped): the console shows notices at
    /// once, but the operator's first line waits, e.g. until a demo's listeners are up.
    pub start_reading: Option<oneshot::Receiver<()>>,
    /// How lines are written when stdout is not a terminal: `json` for a log collector.
    pub format: LogFormat,
}

/// The running console: reads the operator's lines, prints what the hub's clients say
/// and do. [`Console::finish`] it once the hub has stopped.
pub struct Console {
    printer: Printer,
    log_route: Option<LogRoute>,
    terminal: Option<terminal::Session>,
}

/// How long [`Console::finish`] lets the last notices reach the printer, and then waits
/// for the printer.
const FINISH_SETTLE: Duration = Duration::from_millis(50);
const FINISH_LIMIT: Duration = Duration::from_secs(1);

impl Console {
    /// Starts the console on this process's stdin and stdout, printing `events` (the
    /// receiver [`Hub::new`] returned) and cancelling `stop` when the operator stops the
    /// hub (`/quit`, Ctrl-C at the prompt, or the end of input with `exit_on_eof`).
    pub fn start(
        hub: &Hub,
        events: mpsc::Receiver<ConsoleEvent>,
        stop: CancellationToken,
        mut options: ConsoleOptions,
    ) -> io::Result<Console> {
        if style::is_terminal() {
            let style = Style::for_console();
            let start = terminal::Start {
                exit_on_eof: options.exit_on_eof,
                style,
                gate: options.start_reading,
            };
            match terminal::start(hub.clone(), stop.clone(), start) {
                Ok((printer, session)) => {
                    if let Some(route) = &options.log_route {
                        route.print_to(Some(printer.clone()));
                    }
                    forward_events(events, printer.clone(), move |event| {
                        render_styled(event, style)
                    })?;
                    return Ok(Console {
                        printer,
                        log_route: options.log_route,
                        terminal: Some(session),
                    });
                }
                Err((err, gate)) => {
                    tracing::warn!(
                        %err,
                        "no line editing on this terminal; every line is broadcast as it is"
                    );
                    options.start_reading = gate;
                }
            }
        }
        let printer = Printer::spawn(printer::Sink::Stdout)?;
        match options.format {
            LogFormat::Text => forward_events(events, printer.clone(), render)?,
            LogFormat::Json => forward_events(events, printer.clone(), render_json)?,
        }
        let hub = hub.clone();
        let exit_on_eof = options.exit_on_eof;
        let gate = options.start_reading;
        tokio::spawn(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            let input = BufReader::new(tokio::io::stdin());
            if let Err(err) = broadcast_lines(&hub, input).await {
                tracing::warn!(%err, "reading operator input failed");
            }
            if exit_on_eof {
                stop.cancel();
            } else {
                tracing::info!(
                    "operator input closed; still serving (Ctrl-C or SIGTERM stops the hub)"
                );
            }
        });
        Ok(Console {
            printer,
            log_route: options.log_route,
            terminal: None,
        })
    }

    /// Whether the console is a terminal with line editing and commands.
    pub fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// A handle for printing more on the console (above the prompt on a terminal).
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Once the hub has stopped: prints the notices still on their way (bounded), sends
    /// log lines to stderr again, and gives the terminal back in the mode it had.
    pub fn finish(self) {
        std::thread::sleep(FINISH_SETTLE);
        self.printer.flush(FINISH_LIMIT);
        if let Some(route) = &self.log_route {
            route.print_to(None);
        }
        if let Some(session) = self.terminal {
            session.finish();
        }
    }
}

/// Prints every event from the hub, rendered by `render`, on a thread of its own: the
/// printer's bounded queue then slows down a client that floods the operator, through
/// the hub's bounded event channel, instead of buffering its messages.
fn forward_events(
    mut events: mpsc::Receiver<ConsoleEvent>,
    printer: Printer,
    render: impl Fn(&ConsoleEvent) -> String + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("console-events".into())
        .spawn(move || {
            while let Some(event) = events.blocking_recv() {
                printer.print(render(&event));
            }
        })?;
    Ok(())
}

/// Most bytes of a broadcast the console echoes.
const ECHO_LIMIT: usize = 200;

/// The part of `body` the console echoes, cut between characters, and how many bytes
/// are left out.
fn echo_of(body: &[u8]) -> (&[u8], usize) {
    if body.len() <= ECHO_LIMIT {
        return (body, 0);
    }
    let mut end = ECHO_LIMIT;
    // Back off over UTF-8 continuation bytes, so no character is cut in two.
    while end > 0 && body[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    (&body[..end], body.len() - end)
}

/// `client 3 (alice)`, or `client 3` for a client without a name; for a broadcast from
/// another hub, its name says who (`operator of hub-b`).
fn who(id: ClientId, name: &str) -> String {
    if id == ClientId::REMOTE {
        name.to_owned()
    } else if name.is_empty() {
        format!("client {id}")
    } else {
        format!("client {id} ({name})")
    }
}

/// The notice for `n` events the console did not show.
fn not_shown(n: u64) -> String {
    format!(
        "[{n} more messages and notices not shown: the console shows at most 50 broadcasts a second, and never holds the hub back]"
    )
}

/// One event as one line of plain text for the operator, as a pipe or a file (a service's
/// journal) gets it: the words of [`render_styled`], without colour.
pub fn render(event: &ConsoleEvent) -> String {
    render_styled(event, Style::PLAIN)
}

/// One event as one JSON object on a line, for `--log-format json` off a terminal: the
/// facts of [`render`], with the time; what a client chose is written as it is, and
/// JSON's escaping keeps it inside its string.
pub fn render_json(event: &ConsoleEvent) -> String {
    let mut object = match event {
        ConsoleEvent::Message {
            from,
            name,
            body,
            broadcast: false,
        } => serde_json::json!({
            "event": "message",
            "client": from.0,
            "name": name,
            "text": String::from_utf8_lossy(body),
        }),
        ConsoleEvent::Message {
            from,
            name,
            body,
            broadcast: true,
        } => {
            let (text, rest) = echo_of(body);
            serde_json::json!({
                "event": "broadcast",
                "client": from.0,
                "name": name,
                "text": String::from_utf8_lossy(text),
                "more_bytes": rest,
            })
        }
        ConsoleEvent::NotShown(n) => serde_json::json!({"event": "not_shown", "count": n}),
        ConsoleEvent::Joined { id, name, kind } => serde_json::json!({
            "event": "joined",
            "client": id.0,
            "name": name,
            "kind": kind,
        }),
        ConsoleEvent::Left { id, name } => {
            serde_json::json!({"event": "left", "client": id.0, "name": name})
        }
        ConsoleEvent::Slowed {
            id,
            name,
            per_second,
        } => serde_json::json!({
            "event": "slowed",
            "client": id.0,
            "name": name,
            "per_second": per_second,
        }),
    };
    let mut timestamp = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    object["timestamp"] = timestamp.into();
    object.to_string() + "\n"
}

/// One event as one line for the operator, coloured by `style`. What clients chose
/// (names, bodies) is escaped ([`printable`]) wherever the line goes, so a client can
/// neither break the line, nor forge one of the hub's, nor drive a terminal.
pub fn render_styled(event: &ConsoleEvent, style: Style) -> String {
    let shown = printable;
    let line = match event {
        ConsoleEvent::Message {
            from,
            name,
            body,
            broadcast,
        } => {
            let verb = if *broadcast { "broadcast" } else { "says" };
            let sender = format!("[{} {verb}]", who(*from, &shown(name)));
            // What a client says to the operator is shown whole; a broadcast is only
            // echoed, and a long one would bury the console.
            let (text, rest) = if *broadcast {
                echo_of(body)
            } else {
                (body.as_ref(), 0)
            };
            let cut = if rest > 0 {
                style.paint(
                    Tone::Note,
                    &format!(" … {} more bytes", grouped(rest as u64)),
                )
            } else {
                String::new()
            };
            format!(
                "{} {}{cut}",
                style.paint(Tone::Sender, &sender),
                shown(&String::from_utf8_lossy(text))
            )
        }
        ConsoleEvent::NotShown(n) => style.paint(Tone::Problem, &not_shown(*n)),
        ConsoleEvent::Joined { id, name, kind } => style.paint(
            Tone::Joined,
            &format!("[{} joined as {kind}]", who(*id, &shown(name))),
        ),
        ConsoleEvent::Left { id, name } => {
            style.paint(Tone::Left, &format!("[{} left]", who(*id, &shown(name))))
        }
        ConsoleEvent::Slowed {
            id,
            name,
            per_second,
        } => style.paint(
            Tone::Problem,
            &format!(
                "[{} sends more than {per_second} messages a second to the operator; it is read at that pace, and nothing is lost (--operator-rate)]",
                who(*id, &shown(name))
            ),
        ),
    };
    line + "\n"
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn terminal_lines_escape_control_characters_and_match_the_plain_words() {
        let event = ConsoleEvent::Message {
            from: ClientId(3),
            name: "bob".into(),
            body: Bytes::from_static(b"hi\x1b[2J\nthere"),
            broadcast: false,
        };
        assert_eq!(
            render_styled(&event, Style::PLAIN),
            "[client 3 (bob) says] hi\\u{1b}[2J\\nthere\n"
        );
        for event in [
            ConsoleEvent::Joined {
                id: ClientId(4),
                name: String::new(),
                kind: "text",
            },
            ConsoleEvent::Left {
                id: ClientId(4),
                name: "x".into(),
            },
            ConsoleEvent::NotShown(3),
            ConsoleEvent::Slowed {
                id: ClientId(5),
                name: "\x1b]0;".into(),
                per_second: 20,
            },
        ] {
            assert_eq!(render_styled(&event, Style::PLAIN), render(&event));
        }
    }

    #[test]
    fn a_long_broadcast_is_echoed_cut_with_a_byte_count() {
        let body = Bytes::from("é".repeat(500_000)); // 1,000,000 bytes
        let line = render(&ConsoleEvent::Message {
            from: ClientId(7),
            name: String::new(),
            body: body.clone(),
            broadcast: true,
        });
        assert_eq!(
            line,
            format!(
                "[client 7 broadcast] {} … 999,800 more bytes\n",
                "é".repeat(100)
            )
        );
        // What a client says to the operator is shown whole.
        let says = render(&ConsoleEvent::Message {
            from: ClientId(7),
            name: String::new(),
            body,
            broadcast: false,
        });
        assert!(says.len() > 1_000_000);
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn a_client_cannot_forge_a_line_of_the_hubs_output_in_a_pipe() {
        let event = ConsoleEvent::Joined {
            id: ClientId(2),
            name: "x)]\r\n[client 1 (admin) says] shut down now\x07".into(),
            kind: "listener",
        };
        let line = render(&event);
        assert_eq!(line.lines().count(), 1, "{line:?}");
        assert!(!line.contains(['\r', '\x07']), "{line:?}");
        let says = render(&ConsoleEvent::Message {
            from: ClientId(2),
            name: String::new(),
            body: Bytes::from_static(b"one\n[client 1 says] two"),
            broadcast: false,
        });
        assert_eq!(says, "[client 2 says] one\\n[client 1 says] two\n");
    }

    #[test]
    fn messages_name_the_client() {
        let line = render(&ConsoleEvent::Message {
            from: ClientId(7),
            name: "alice".into(),
            body: Bytes::from_static(b"hi"),
            broadcast: false,
        });
        assert_eq!(line, "[client 7 (alice) says] hi\n");
    }
}
