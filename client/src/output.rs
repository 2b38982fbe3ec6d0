//! How `listen` writes a message to its output: one line per message in one of three
//! [`Format`]s. A message is a broadcast ([`write_broadcast`]) or a direct message from
//! the operator to this client alone ([`write_direct`]), which has no sequence number.
//!
//! - [`Format::Plain`] is for pipes: exactly the body's bytes and a newline, so
//!   `pipehub-client listen | grep x` sees what the sender sent. Direct messages look
//!   the same.
//! - [`Format::Pretty`] is for people at a terminal: time, sequence number, sender, body;
//!   a direct message says so instead of giving a sequence number. Control characters in
//!   the body are escaped (`\n`, `\u{1b}`), so a message can neither span lines nor drive
//!   the terminal.
//! - [`Format::Json`] is for programs: one JSON object per line, binary-safe; a direct
//!   message has `"direct":true` and no `seq`.
//!
//! Writers take any `io::Write`; the caller decides about buffering and flushing.

use std::io::{self, Write};

use pipehub_protocol::{Broadcast, ClientId, Seq};
use serde::Serialize;

/// An output format for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The body's bytes, then `\n`.
    Plain,
    /// `HH:MM:SS.mmm #seq <sender> body`, time in UTC, body as (lossy) UTF-8; for a
    /// direct message `HH:MM:SS.mmm direct from SENDER: body`.
    Pretty,
    /// `{"seq":N,"sender":N,"timestamp_us":N,"body":"..."}`; a body that is not UTF-8 is
    /// given as `"body_hex"` instead of `"body"`. A direct message has `"direct":true`
    /// instead of `"seq"`.
    Json,
}

/// One message to write, whatever frame it came in.
struct Message<'a> {
    /// The broadcast's sequence number; `None` for a direct message.
    seq: Option<Seq>,
    sender: ClientId,
    timestamp_us: u64,
    body: &'a [u8],
}

/// Writes `broadcast` as one line in `format`.
pub fn write_broadcast(
    out: &mut impl Write,
    format: Format,
    broadcast: &Broadcast,
) -> io::Result<()> {
    let message = Message {
        seq: Some(broadcast.seq),
        sender: broadcast.sender,
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
        timestamp_us,
        body,
    };
    write_message(out, format, &message)
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
    let sender = SenderName(message.sender);
    match message.seq {
        Some(seq) => write!(out, "#{seq} <{sender}> ")?,
        None => write!(out, "direct from {sender}: ")?,
    }
    for c in String::from_utf8_lossy(message.body).chars() {
        if c.is_control() && c != '\t' {
            write!(out, "{}", c.escape_debug())?;
        } else {
            write!(out, "{c}")?;
        }
    }
    out.write_all(b"\n")
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
        timestamp_us: message.timestamp_us,
        body,
        body_hex,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// The JSON shape of one message: `seq` for a broadcast, `"direct":true` for a direct
/// message; exactly one of `body` and `body_hex`.
#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    direct: bool,
    sender: u64,
    timestamp_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_hex: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A sender as people read it: `operator` for the hub console, else `client N`.
#[derive(Clone, Copy, Debug)]
pub struct SenderName(pub ClientId);

impl std::fmt::Display for SenderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == ClientId::OPERATOR {
            f.write_str("operator")
        } else {
            write!(f, "client {}", self.0)
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

    fn render(format: Format, broadcast: &Broadcast) -> Vec<u8> {
        let mut out = Vec::new();
        let written = write_broadcast(&mut out, format, broadcast);
        assert!(written.is_ok(), "{written:?}");
        out
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
