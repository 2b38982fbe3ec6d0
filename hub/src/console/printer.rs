//! [`Printer`]: the one writer of the console's output (client messages, join and leave
//! notices, log lines, a demo's listener output), on a thread of its own.
//!
//! On a terminal it prints through the line editor, which puts each line above the
//! prompt and redraws what the operator is typing; otherwise it writes to stdout, flushing
//! whenever nothing more is waiting. The queue is bounded: whoever prints waits when the
//! terminal cannot keep up (client messages are slowed, not buffered without bound), and
//! log lines that find it full go straight to stderr instead of waiting.

use std::{
    io::{self, Write},
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, SyncSender, TrySendError},
    },
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the printer thread.
const QUEUE: usize = 256;

/// A handle for printing on the operator's console. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Printer {
    tx: SyncSender<Print>,
}

#[derive(Debug)]
enum Print {
    Text(String),
    /// Answer once everything queued before is out.
    Flush(mpsc::Sender<()>),
}

/// Where the printer thread writes.
pub(crate) enum Sink {
    /// Plain stdout: a pipe, a file, or a terminal without line editing.
    Stdout,
    /// Through the line editor, above its prompt.
    Editor(Box<dyn rustyline::ExternalPrinter + Send>),
}

impl Printer {
    /// Starts the printer thread writing to `sink`.
    pub(crate) fn spawn(sink: Sink) -> io::Result<Printer> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("console-printer".into())
            .spawn(move || run(rx, sink))?;
        Ok(Printer { tx })
    }

    /// Prints `text` (one or more whole lines). Waits while the console is behind.
    pub fn print(&self, text: impl Into<String>) {
        // A printer thread that is gone has nowhere to print.
        let _ = self.tx.send(Print::Text(text.into()));
    }

    /// Prints `text` if there is room in the queue now; gives it back otherwise.
    fn try_print(&self, text: String) -> Result<(), String> {
        match self.tx.try_send(Print::Text(text)) {
            Ok(()) => Ok(()),
            Err(
                TrySendError::Full(Print::Text(text))
                | TrySendError::Disconnected(Print::Text(text)),
            ) => Err(text),
            Err(_) => Ok(()),
        }
    }

    /// Waits, at most `limit`, until everything printed before has been written.
    pub fn flush(&self, limit: Duration) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Print::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(limit);
        }
    }
}

fn run(rx: Receiver<Print>, mut sink: Sink) {
    let mut stdout = io::BufWriter::new(io::stdout());
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        // Everything already waiting goes out before one flush.
        while let Some(print) = next {
            match print {
                Print::Text(text) => match &mut sink {
                    Sink::Stdout => {
                        let _ = stdout.write_all(text.as_bytes());
                    }
                    Sink::Editor(editor) => {
                        if editor.print(text.clone()).is_err() {
                            let _ = stdout.write_all(text.as_bytes());
                        }
                    }
                },
                Print::Flush(done) => {
                    let _ = stdout.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = stdout.flush();
    }
}

/// Where the hub's log lines go: stderr, or, while the console owns the terminal, the
/// console's [`Printer`] (so a log line does not tear through the line being typed).
/// Give it to `tracing_subscriber` as the writer; [`LogRoute::print_to`] switches it.
#[derive(Clone, Debug, Default)]
pub struct LogRoute {
    printer: Arc<Mutex<Option<Printer>>>,
}

impl LogRoute {
    /// Sends log lines to `printer` from now on (`None`: to stderr again).
    pub fn print_to(&self, printer: Option<Printer>) {
        *self.printer.lock().unwrap_or_else(|e| e.into_inner()) = printer;
    }
}

/// One log event being written.
pub struct LogLine {
    route: LogRoute,
    text: Vec<u8>,
}

impl<'a> MakeWriter<'a> for LogRoute {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            route: self.clone(),
            text: Vec::new(),
        }
    }
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.text).into_owned();
        let printer = self
            .route
            .printer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Never wait for the console in a log call: a full queue means stderr.
        let text = match printer {
            Some(printer) => match printer.try_print(text) {
                Ok(()) => return,
                Err(text) => text,
            },
            None => text,
        };
        let _ = io::stderr().write_all(text.as_bytes());
    }
}
