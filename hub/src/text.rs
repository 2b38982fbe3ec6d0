//! How text listeners (plain tools such as socat or `nc -U`, and .NET pipe readers) see
//! messages: each body as one UTF-8 line.

use bytes::{Bytes, BytesMut};
use pipehub_protocol::BROADCAST_BODY_OFFSET;

/// Appends a text listener's line for one log entry: the body of its `BROADCAST` (a text
/// listener is not told where a broadcast from another hub came from).
pub(crate) fn put_text_line(dst: &mut BytesMut, entry: &[u8]) {
    let broadcast = crate::log::broadcast_of(entry);
    put_line(
        dst,
        broadcast.get(BROADCAST_BODY_OFFSET..).unwrap_or_default(),
    );
}

/// A text listener's line for a message body (a direct message): see [`put_line`].
pub(crate) fn text_line_for(body: &[u8]) -> Bytes {
    let mut line = BytesMut::with_capacity(body.len() + 1);
    put_line(&mut line, body);
    line.freeze()
}

/// Appends the line for `body`: escaped so it stays one line (`\` → `\\`, LF → `\n`,
/// CR → `\r`), invalid UTF-8 replaced, then `\n`.
fn put_line(dst: &mut BytesMut, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    dst.reserve(text.len() + 1);
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        match c {
            '\\' => dst.extend_from_slice(b"\\\\"),
            '\n' => dst.extend_from_slice(b"\\n"),
            '\r' => dst.extend_from_slice(b"\\r"),
            c => dst.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
        }
    }
    dst.extend_from_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipehub_protocol::{ClientId, Seq, broadcast_frame};

    fn text_line(entry: &[u8]) -> BytesMut {
        let mut line = BytesMut::new();
        put_text_line(&mut line, entry);
        line
    }

    #[test]
    fn lines_of_a_batch_follow_each_other_in_one_buffer() {
        let mut lines = BytesMut::new();
        for (seq, body) in [(1, &b"one"[..]), (2, b"two")] {
            put_text_line(&mut lines, &broadcast_frame(Seq(seq), ClientId(0), 0, body));
        }
        assert_eq!(&lines[..], b"one\ntwo\n");
    }

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
