//! The hub's log: its format, and how what clients chose appears in it.
//!
//! Two formats. `text` (the default) is one line per event for a person; whatever a
//! client chose (its name, its words) goes through [`printable`], the one escaping
//! function of every output, so it can neither break a line, nor forge one of the hub's,
//! nor drive a terminal. `json` is one JSON object per line for a service's log
//! collector: the log lines and, when stdout is not a terminal, the console's lines
//! (see `console::render_json`); JSON's own escaping then keeps a client's text whole and
//! harmless, so it is written as the client sent it.

use std::{
    borrow::Cow,
    sync::atomic::{AtomicBool, Ordering},
};

use pipehub_protocol::status::printable;
use tracing_subscriber::fmt::MakeWriter;

/// How the hub writes its log and, off a terminal, its console lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person; what clients chose is escaped.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Whether the log is JSON: set once, by [`init`].
static JSON: AtomicBool = AtomicBool::new(false);

/// Installs the hub's log: `format`, written through `route` (the binary's: stderr, or
/// the console while its line editor owns the terminal). `interactive`: a person at a
/// terminal, for whom the console's own notices say what happens, so the log adds only
/// what goes wrong (`RUST_LOG` overrides it).
pub fn init<W>(format: LogFormat, route: W, interactive: bool, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The NATS client's own lines are left out: the bridge reports each of its events
        // once, in the hub's words (RUST_LOG=async_nats=debug shows them).
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if interactive {
                "warn,async_nats=off"
            } else {
                "info,async_nats=off"
            })
        });
    let builder = tracing_subscriber::fmt()
        .with_writer(route)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// What a client chose (a name, a line), as the log shows it: escaped by [`printable`] in
/// text, as it is in JSON (whose own escaping keeps it on its line).
pub fn client_text(text: &str) -> Cow<'_, str> {
    if JSON.load(Ordering::Relaxed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(printable(text))
    }
}
