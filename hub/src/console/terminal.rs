//! The console on a terminal: a line editor (rustyline) with history, the operator's
//! commands, and client notices printed above the prompt without disturbing the line
//! being typed.
//!
//! The editor blocks, so it runs on a thread of its own; commands act on the [`Hub`]
//! directly (its methods do not wait). Ctrl-C at the prompt stops the hub the way
//! `/quit` does (the editor turns it into a key, not a signal). Ctrl-D ends the console's
//! input like the end of piped input: the hub keeps serving unless `--exit-on-eof`.
//!
//! When the hub stops for another reason (SIGTERM), the editor thread is still waiting
//! for a key with the terminal in raw mode; [`Session::finish`] puts back the terminal
//! mode saved at the start, so the shell gets a sane terminal.

use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
};

use rustyline::{DefaultEditor, error::ReadlineError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{
    operator::{Outcome, handle_line},
    printer::{Printer, Sink},
    style::{Style, Tone},
};
use crate::{hub::Hub, platform::TerminalMode};

/// The prompt.
pub const PROMPT: &str = "pipehub> ";

/// Lines of history kept (in memory only).
const HISTORY: usize = 1000;

/// The running editor.
pub(super) struct Session {
    saved: Option<TerminalMode>,
    /// Whether the editor is waiting for a line (the terminal is in raw mode).
    reading: Arc<AtomicBool>,
}

/// The console's "start reading" signal, if it has one.
type Gate = Option<oneshot::Receiver<()>>;

/// How the editor starts.
pub(super) struct Start {
    pub(super) exit_on_eof: bool,
    pub(super) style: Style,
    /// Read no line before this says go (or is dropped).
    pub(super) gate: Gate,
}

/// Starts the editor thread. Returns the printer for everything else the console shows,
/// once the editor is ready; on failure, the error and the gate, unused.
pub(super) fn start(
    hub: Hub,
    stop: CancellationToken,
    start: Start,
) -> Result<(Printer, Session), (io::Error, Gate)> {
    let Start {
        exit_on_eof,
        style,
        gate,
    } = start;
    let saved = TerminalMode::capture();
    let reading = Arc::new(AtomicBool::new(false));
    let (ready, editor_printer) = mpsc::channel();
    // The gate goes to the editor thread once the editor is there; until then it can be
    // given back.
    let (gate_tx, gate_rx) = mpsc::channel::<Gate>();
    {
        let reading = Arc::clone(&reading);
        let spawned = std::thread::Builder::new()
            .name("console-editor".into())
            .spawn(move || {
                let config = rustyline::Config::builder()
                    .auto_add_history(true)
                    .max_history_size(HISTORY)
                    .map(|config| config.build());
                let editor = config.and_then(DefaultEditor::with_config);
                let mut editor = match editor {
                    Ok(editor) => editor,
                    Err(err) => {
                        let _ = ready.send(Err(io::Error::other(err)));
                        return;
                    }
                };
                // Without an external printer (a terminal the editor does not drive),
                // notices are plain lines on stdout.
                let sink = match editor.create_external_printer() {
                    Ok(printer) => Sink::Editor(Box::new(printer)),
                    Err(_) => Sink::Stdout,
                };
                if ready.send(Ok(sink)).is_err() {
                    return;
                }
                if let Ok(Some(gate)) = gate_rx.recv() {
                    let _ = gate.blocking_recv();
                }
                read_lines(&mut editor, &hub, &stop, exit_on_eof, style, &reading);
            });
        if let Err(err) = spawned {
            return Err((err, gate));
        }
    }
    let started = editor_printer
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the line editor did not start")))
        .and_then(Printer::spawn);
    match started {
        Ok(printer) => {
            let _ = gate_tx.send(gate);
            Ok((printer, Session { saved, reading }))
        }
        Err(err) => Err((err, gate)),
    }
}

/// Reads and carries out lines until the operator stops the hub or ends the input, or
/// the hub stops.
fn read_lines(
    editor: &mut DefaultEditor,
    hub: &Hub,
    stop: &CancellationToken,
    exit_on_eof: bool,
    style: Style,
    reading: &AtomicBool,
) {
    let say = |text: &str| {
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    };
    let note = |text: &str| format!("{}\n", style.paint(Tone::Note, text));
    while !stop.is_cancelled() {
        reading.store(true, Ordering::SeqCst);
        let line = editor.readline(PROMPT);
        reading.store(false, Ordering::SeqCst);
        match line {
            // A block of lines pasted into a terminal arrives as one edited "line" (the
            // editor takes a bracketed paste whole): each of its lines is a line typed,
            // as it is when the same text comes through a pipe.
            Ok(pasted) => {
                for line in pasted.lines() {
                    match handle_line(hub, line, style) {
                        Outcome::Show(text) => say(&text),
                        Outcome::Quit(text) => {
                            say(&text);
                            stop.cancel();
                            break;
                        }
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                say(&note(
                    "Ctrl-C: stopping the hub; every client gets what is queued for it, then BYE",
                ));
                stop.cancel();
            }
            Err(ReadlineError::Eof) => {
                if exit_on_eof {
                    say(&note("end of input: stopping the hub (--exit-on-eof)"));
                    stop.cancel();
                } else {
                    say(&note(
                        "end of input: the console reads no more lines; the hub keeps serving \
                         (Ctrl-C or SIGTERM stops it)",
                    ));
                }
                return;
            }
            Err(err) => {
                tracing::warn!(%err, "reading the console failed; the hub keeps serving");
                return;
            }
        }
    }
}

impl Session {
    /// Gives the terminal back: the mode it had when the console started, and a fresh
    /// line if the prompt was showing.
    pub(super) fn finish(self) {
        if let Some(saved) = &self.saved {
            saved.restore();
        }
        if self.reading.load(Ordering::SeqCst) {
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
        }
    }
}
