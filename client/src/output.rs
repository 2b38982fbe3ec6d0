//! How `listen` writes a message to its output: one line per message in one of three
//! [`Format`]s. A message is a broadcast ([`write_broadcast`]) or a direct message from
//! the operator to this client alone ([`write_direct`]), which has no sequence number. A
//! broadcast that came from another hub over a bridge has an [`Origin`] (the hub it was
//! first broadcast on, and its sender and sequence number there); its own `sender` is
//! then [`ClientId::REMOTE`], which says only "another hub".
//!
//! - [`Format::Plain`] is for pipes: exactly the body's bytes and a newline, so
//!   `pipehub-client listen | grep x` sees what the sender sent. Direct messages and
//!   messages from other hubs look the same.
//! - [`Format::Pretty`] is for people at a terminal: time, sequence number, sender, body;
//!   a direct message says so instead of giving a sequence number, and a message from
//!   another hub names its real sender at that hub (`<client 3@hub-a>`). Control
//!   characters in the body and the hub name are escaped (`\n`, `\u{1b}`), so a message
//!   can neither span lines nor drive the terminal.
//! - [`Format::Json`] is for programs: one JSON object per line, binary-safe; a direct
//!   message has `"direct":true` and no `seq`, a message from another hub an `"origin"`
//!   object. Fields that do not apply are left out, so a line for a plain local broadcast
//!   is the same as before bridges existed. What happens to the stream itself (messages
//!   skipped, a restarted hub) is a [`StreamEvent`] line, `{"event":...}`, also without
//!   `seq`: a program reads it where it happened, not on stderr, and one that only takes
//!   lines with a `seq` still sees exactly the broadcasts.
//!
//! Writers take any `io::Write`; the caller decides about buffering and flushing.

use std::io::{self, Write};

use pipehub_protocol::{Broadcast, ClientId, HubInstance, Origin, Seq};
use serde::Serialize;

/// An output format for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The body's bytes, then `\n`.
    Plain,
    /// `HH:MM:SS.mmm #seq <sender> body`, time in UTC, body as (lossy) UTF-8; for a
    /// direct message `HH:MM:SS.mmm direct from SENDER: body`. The sender of a message
    /// from another hub is `<SENDER@HUB>`, HUB being the origin hub's name (its instance
    /// ID in hex if it has none); without an `ORIGIN` it is `<remote>`.
    Pretty,
    /// `{"seq":N,"sender":N,"timestamp_us":N,"body":"..."}`; a body that is not UTF-8 is
    /// given as `"body_hex"` instead of `"body"`. A direct message has `"direct":true`
    /// instead of `"seq"`. A message from another hub also has
    /// `"origin":{"hub":"NAME","instance":"HEX","seq":N,"sender":N}` after `"sender"`
    /// (which is then 2^64 − 1). A [`StreamEvent`] is a line of its own (see there).
    Json,
}

/// Something that happened to the stream of broadcasts rather than a message in it. In
/// the JSON format each is one line with an `"event"` field and no `"seq"`; the plain and
/// pretty formats leave them to the notices on stderr.
///
/// The names and fields are part of the output's contract: add, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// `{"event":"lagged","missed":N,"next_seq":S}`: `missed` broadcasts will not come
    /// (the hub skipped them for a client that fell behind, or no longer held them); the
    /// next broadcast is `next_seq`.
    Lagged { missed: u64, next_seq: Seq },
    /// `{"event":"new_instance","instance":"HEX","previous":"HEX"}`: the session that
    /// follows is with a new instance of the hub (it was restarted), whose broadcasts are
    /// numbered afresh from 1; what the previous instance broadcast after the last line
    /// printed may have been lost, and how much cannot be known.
    NewInstance {
        instance: HubInstance,
        previous: HubInstance,
    },
}

/// One message to write, whatever frame it came in.
struct Message<'a> {
    /// The broadcast's sequence number; `None` for a direct message.
    seq: Option<Seq>,
    sender: ClientId,
    /// Where a broadcast from another hub was first broadcast.
    origin: Option<&'a Origin>,
    timestamp_us: u64,
    body: &'a [u8],
}

/// Writes `broadcast` as one line in `format`; `origin` is the `ORIGIN` that came with
/// it, if it came from another hub.
pub fn write_broadcast(
    out: &mut impl Write,
    format: Format,
    broadcast: &Broadcast,
    origin: Option<&Origin>,
) -> io::Result<()> {
    let message = Message {
        seq: Some(broadcast.seq),
        sender: broadcast.sender,
        origin,
        timestamp_us: broadcast.timestamp_us,
        body: &broadcast.body,
    };
    write_message(out, format, &message)
}

/// Writes a direct message (`DIRECT`: for this client alone, no sequence number) as one
/// line in `format`.
pub fn write_direct(
    out: &mut impl Write,
    format: Format,
    sender: ClientId,
    timestamp_us: u64,
    body: &[u8],
) -> io::Result<()> {
    let message = Message {
        seq: None,
        sender,
        origin: None,
        timestamp_us,
        body,
    };
    write_message(out, format, &message)
}

/// Writes `event` as one line in the JSON format; the other formats show no events.
pub fn write_event(out: &mut impl Write, format: Format, event: StreamEvent) -> io::Result<()> {
    if format != Format::Json {
        return Ok(());
    }
    let line = match event {
        StreamEvent::Lagged { missed, next_seq } => JsonEvent::Lagged {
            missed,
            next_seq: next_seq.0,
        },
        StreamEvent::NewInstance { instance, previous } => JsonEvent::NewInstance {
            instance: instance.to_string(),
            previous: previous.to_string(),
        },
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// The JSON shape of a [`StreamEvent`]. Instances are hex, as everywhere else.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum JsonEvent {
    Lagged { missed: u64, next_seq: u64 },
    NewInstance { instance: String, previous: String },
}

fn write_message(out: &mut impl Write, format: Format, message: &Message) -> io::Result<()> {
    match format {
        Format::Plain => write_plain(out, message),
        Format::Pretty => write_pretty(out, message),
        Format::Json => write_json(out, message),
    }
}

fn write_plain(out: &mut impl Write, message: &Message) -> io::Result<()> {
    out.write_all(message.body)?;
    out.write_all(b"\n")
}

fn write_pretty(out: &mut impl Write, message: &Message) -> io::Result<()> {
    let millis_of_day = (message.timestamp_us / 1_000) % (24 * 60 * 60 * 1_000);
    let (hours, rest) = (millis_of_day / 3_600_000, millis_of_day % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1_000, rest % 1_000);
    write!(out, "{hours:02}:{minutes:02}:{seconds:02}.{millis:03} ")?;
    match (message.seq, message.origin) {
        (Some(seq), Some(origin)) => {
            write!(out, "#{seq} <{}@", SenderName(origin.sender))?;
            if origin.hub_name.is_empty() {
                write!(out, "{}", origin.hub_instance)?;
            } else {
                write_escaped(out, &origin.hub_name)?;
            }
            out.write_all(b"> ")?;
        }
        (Some(seq), None) => write!(out, "#{seq} <{}> ", SenderName(message.sender))?,
        (None, _) => write!(out, "direct from {}: ", SenderName(message.sender))?,
    }
    write_escaped(out, &String::from_utf8_lossy(message.body))?;
    out.write_all(b"\n")
}

/// Writes `text` with its control characters (tabs excepted) escaped, so that text a peer
/// chose can neither end the line nor send escape sequences to a terminal.
fn write_escaped(out: &mut impl Write, text: &str) -> io::Result<()> {
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            write!(out, "{}", c.escape_debug())?;
        } else {
            write!(out, "{c}")?;
        }
    }
    Ok(())
}

fn write_json(out: &mut impl Write, message: &Message) -> io::Result<()> {
    let (body, body_hex) = match std::str::from_utf8(message.body) {
        Ok(text) => (Some(text), None),
        Err(_) => (None, Some(hex(message.body))),
    };
    let line = JsonMessage {
        seq: message.seq.map(|seq| seq.0),
        direct: message.seq.is_none(),
        sender: message.sender.0,
        origin: message.origin.map(|origin| JsonOrigin {
            hub: &origin.hub_name,
            instance: origin.hub_instance.to_string(),
            seq: origin.seq.0,
            sender: origin.sender.0,
        }),
        timestamp_us: message.timestamp_us,
        body,
        body_hex,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// The JSON shape of one message: `seq` for a broadcast, `"direct":true` for a direct
/// message; `origin` only for a broadcast from another hub; exactly one of `body` and
/// `body_hex`.
#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    direct: bool,
    sender: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<JsonOrigin<'a>>,
    timestamp_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_hex: Option<String>,
}

/// The JSON shape of an [`Origin`]. The instance is hex, as the hub and the client print
/// it everywhere else, and so that a JSON reader with 53-bit numbers keeps it whole.
#[derive(Serialize)]
struct JsonOrigin<'a> {
    hub: &'a str,
    instance: String,
    seq: u64,
    sender: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A sender as people read it: `operator` for the hub console, `remote` for another hub
/// (when no `ORIGIN` said which), else `client N`.
#[derive(Clone, Copy, Debug)]
pub struct SenderName(pub ClientId);

impl std::fmt::Display for SenderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ClientId::OPERATOR => f.write_str("operator"),
            ClientId::REMOTE => f.write_str("remote"),
            ClientId(id) => write!(f, "client {id}"),
        }
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// 2024-01-02 03:04:05.678901 UTC.
    const TIMESTAMP_US: u64 = 1_704_164_645_678_901;

    fn broadcast(sender: u64, body: &'static [u8]) -> Broadcast {
        Broadcast {
            seq: Seq(42),
            sender: ClientId(sender),
            timestamp_us: TIMESTAMP_US,
            body: Bytes::from_static(body),
        }
    }

    fn render_event(format: Format, event: StreamEvent) -> String {
        let mut out = Vec::new();
        let written = write_event(&mut out, format, event);
        assert!(written.is_ok(), "{written:?}");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn json_events_are_lines_of_their_own_without_seq() {
        let lagged = StreamEvent::Lagged {
            missed: 5,
            next_seq: Seq(17),
        };
        assert_eq!(
            render_event(Format::Json, lagged),
            "{\"event\":\"lagged\",\"missed\":5,\"next_seq\":17}\n"
        );
        let restarted = StreamEvent::NewInstance {
            instance: HubInstance(0xbbbb),
            previous: HubInstance(0xaaaa),
        };
        assert_eq!(
            render_event(Format::Json, restarted),
            "{\"event\":\"new_instance\",\"instance\":\"000000000000bbbb\",\
             \"previous\":\"000000000000aaaa\"}\n"
        );
    }

    #[test]
    fn plain_and_pretty_leave_events_to_stderr() {
        let lagged = StreamEvent::Lagged {
            missed: 5,
            next_seq: Seq(17),
        };
        assert_eq!(render_event(Format::Plain, lagged), "");
        assert_eq!(render_event(Format::Pretty, lagged), "");
    }

    fn render(format: Format, broadcast: &Broadcast) -> Vec<u8> {
        let mut out = Vec::new();
        let written = write_broadcast(&mut out, format, broadcast, None);
        assert!(written.is_ok(), "{written:?}");
        out
    }

    /// An `ORIGIN`: message 12 of hub `hub_name` (instance 0123456789abcdef), sent there
    /// by `sender`.
    fn origin(hub_name: &str, sender: u64) -> Origin {
        Origin {
            hub_instance: pipehub_protocol::HubInstance(0x0123_4567_89ab_cdef),
            seq: Seq(12),
            sender: ClientId(sender),
            hub_name: hub_name.to_owned(),
        }
    }

    /// Renders a broadcast from another hub (sender [`ClientId::REMOTE`]) with `origin`.
    fn render_remote(format: Format, origin: &Origin, body: &'static [u8]) -> String {
        let b = broadcast(ClientId::REMOTE.0, body);
        let mut out = Vec::new();
        let written = write_broadcast(&mut out, format, &b, Some(origin));
        assert!(written.is_ok(), "{written:?}");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn plain_is_the_body_and_a_newline() {
        let b = broadcast(3, b"hello \xff world");
        assert_eq!(render(Format::Plain, &b), b"hello \xff world\n");
    }

    #[test]
    fn plain_keeps_an_empty_body() {
        assert_eq!(render(Format::Plain, &broadcast(3, b"")), b"\n");
    }

    #[test]
    fn pretty_names_the_operator() {
        let out = render(Format::Pretty, &broadcast(0, b"deploy at 5"));
        assert_eq!(out, b"03:04:05.678 #42 <operator> deploy at 5\n");
    }

    #[test]
    fn pretty_names_a_client() {
        let out = render(Format::Pretty, &broadcast(17, b"hi"));
        assert_eq!(out, b"03:04:05.678 #42 <client 17> hi\n");
    }

    #[test]
    fn pretty_names_the_sender_at_its_origin_hub() {
        let out = render_remote(Format::Pretty, &origin("hub-a", 3), b"hi");
        assert_eq!(out, "03:04:05.678 #42 <client 3@hub-a> hi\n");
    }

    #[test]
    fn pretty_names_the_operator_at_its_origin_hub() {
        let out = render_remote(Format::Pretty, &origin("hub-a", 0), b"hi");
        assert_eq!(out, "03:04:05.678 #42 <operator@hub-a> hi\n");
    }

    #[test]
    fn pretty_names_an_unnamed_origin_hub_by_its_instance() {
        let out = render_remote(Format::Pretty, &origin("", 3), b"hi");
        assert_eq!(out, "03:04:05.678 #42 <client 3@0123456789abcdef> hi\n");
    }

    #[test]
    fn pretty_escapes_control_characters_in_the_hub_name() {
        let out = render_remote(Format::Pretty, &origin("a\nb\x1b[2J", 3), b"hi");
        assert_eq!(out, "03:04:05.678 #42 <client 3@a\\nb\\u{1b}[2J> hi\n");
    }

    #[test]
    fn pretty_names_another_hub_remote_without_an_origin() {
        let out = render(Format::Pretty, &broadcast(ClientId::REMOTE.0, b"hi"));
        assert_eq!(out, b"03:04:05.678 #42 <remote> hi\n");
    }

    #[test]
    fn plain_leaves_out_the_origin() {
        assert_eq!(
            render_remote(Format::Plain, &origin("hub-a", 3), b"hi"),
            "hi\n"
        );
    }

    #[test]
    fn json_has_the_origin_of_a_message_from_another_hub() {
        let out = render_remote(Format::Json, &origin("hub-a", 0), b"hi");
        assert_eq!(
            out,
            "{\"seq\":42,\"sender\":18446744073709551615,\"origin\":{\"hub\":\"hub-a\",\"instance\":\"0123456789abcdef\",\"seq\":12,\"sender\":0},\"timestamp_us\":1704164645678901,\"body\":\"hi\"}\n"
        );
    }

    #[test]
    fn pretty_replaces_invalid_utf8() {
        let out = render(Format::Pretty, &broadcast(1, b"a\xffb"));
        assert_eq!(out, "03:04:05.678 #42 <client 1> a\u{fffd}b\n".as_bytes());
    }

    #[test]
    fn pretty_escapes_control_characters() {
        let out = render(Format::Pretty, &broadcast(1, b"two\nlines\x1b[31m\tok"));
        assert_eq!(
            out,
            b"03:04:05.678 #42 <client 1> two\\nlines\\u{1b}[31m\tok\n"
        );
    }

    #[test]
    fn json_has_body_for_utf8() {
        let out = render(Format::Json, &broadcast(2, b"say \"hi\"\n"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"seq\":42,\"sender\":2,\"timestamp_us\":1704164645678901,\"body\":\"say \\\"hi\\\"\\n\"}\n"
        );
    }

    #[test]
    fn json_has_body_hex_for_binary() {
        let out = render(Format::Json, &broadcast(2, b"\x00\xff\x10"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"seq\":42,\"sender\":2,\"timestamp_us\":1704164645678901,\"body_hex\":\"00ff10\"}\n"
        );
    }

    fn render_direct(format: Format, body: &[u8]) -> String {
        let mut out = Vec::new();
        let written = write_direct(&mut out, format, ClientId::OPERATOR, TIMESTAMP_US, body);
        assert!(written.is_ok(), "{written:?}");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn plain_direct_is_the_body_and_a_newline() {
        assert_eq!(render_direct(Format::Plain, b"just you"), "just you\n");
    }

    #[test]
    fn pretty_direct_is_marked_and_has_no_seq() {
        assert_eq!(
            render_direct(Format::Pretty, b"see me\n"),
            "03:04:05.678 direct from operator: see me\\n\n"
        );
    }

    #[test]
    fn json_direct_says_direct_and_has_no_seq() {
        assert_eq!(
            render_direct(Format::Json, b"hi"),
            "{\"direct\":true,\"sender\":0,\"timestamp_us\":1704164645678901,\"body\":\"hi\"}\n"
        );
        assert_eq!(
            render_direct(Format::Json, b"\xff"),
            "{\"direct\":true,\"sender\":0,\"timestamp_us\":1704164645678901,\"body_hex\":\"ff\"}\n"
        );
    }

    #[test]
    fn json_keeps_an_empty_body() {
        let out = render(Format::Json, &broadcast(0, b""));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"seq\":42,\"sender\":0,\"timestamp_us\":1704164645678901,\"body\":\"\"}\n"
        );
    }
}
