//! How text listeners (plain tools such as socat or `nc -U`, and .NET pipe readers) see
//! messages: each body as one UTF-8 line.

use bytes::Bytes;
use pipehub_protocol::BROADCAST_BODY_OFFSET;

/// A text listener's line for one log entry: the body of its `BROADCAST` (a text
/// listener is not told where a broadcast from another hub came from).
pub(crate) fn text_line(entry: &Bytes) -> Bytes {
    let broadcast = crate::log::broadcast_of(entry);
    text_line_for(broadcast.get(BROADCAST_BODY_OFFSET..).unwrap_or_default())
}

/// A text listener's line for a message body: escaped so it stays one line
/// (`\` → `\\`, LF → `\n`, CR → `\r`), invalid UTF-8 replaced, then `\n`.
pub(crate) fn text_line_for(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body);
    let mut line = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipehub_protocol::{ClientId, Seq, broadcast_frame};

    #[test]
    fn text_lines_escape_newlines_and_backslashes() {
        let frame = broadcast_frame(Seq(1), ClientId(0), 0, b"a\\b\nc\rd");
        assert_eq!(&text_line(&frame)[..], b"a\\\\b\\nc\\rd\n");
    }

    #[test]
    fn text_lines_of_a_broadcast_from_another_hub_are_its_body() {
        let origin = pipehub_protocol::Frame::Origin(pipehub_protocol::Origin {
            hub_instance: pipehub_protocol::HubInstance(9),
            seq: Seq(4),
            sender: ClientId(0),
            hub_name: "far away".into(),
        })
        .to_bytes();
        let broadcast = broadcast_frame(Seq(1), ClientId::REMOTE, 0, b"hello");
        let entry = Bytes::from([&origin[..], &broadcast[..]].concat());
        assert_eq!(&text_line(&entry)[..], b"hello\n");
    }

    #[test]
    fn text_lines_replace_invalid_utf8() {
        let frame = broadcast_frame(Seq(1), ClientId(0), 0, b"ok\xff");
        assert_eq!(&text_line(&frame)[..], "ok\u{fffd}\n".as_bytes());
    }
}
