//! Messages between bridged hubs (docs/protocol.md, section 12): what a hub publishes to
//! the bridge for every broadcast that starts on it, and reads back from other hubs.
//!
//! A bridge message is two frames of this protocol back to back: an `ORIGIN` frame naming
//! the origin hub, then the `BROADCAST` exactly as the origin hub sent it to its own
//! listeners. A receiving hub keeps the `ORIGIN` bytes as they came and sends them to its
//! listeners just before its own `BROADCAST` of the body, with its own sequence number.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Frame, FrameCodec, Origin, ProtocolError};

/// One bridge message, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeMessage {
    /// Where the broadcast was first broadcast.
    pub origin: Origin,
    /// The `ORIGIN` frame as received, header included: what listeners are sent.
    pub origin_frame: Bytes,
    /// When the origin hub took the message (microseconds since the Unix epoch, its
    /// clock).
    pub timestamp_us: u64,
    /// The message.
    pub body: Bytes,
}

impl BridgeMessage {
    /// The bridge message for a broadcast that started on the hub `origin` names:
    /// `origin`'s `ORIGIN` frame, then `broadcast_frame`, the encoded `BROADCAST` as that
    /// hub sent it.
    pub fn encode(origin: &Origin, broadcast_frame: &[u8]) -> Bytes {
        let mut dst = BytesMut::with_capacity(64 + broadcast_frame.len());
        Frame::Origin(origin.clone()).encode(&mut dst);
        dst.put_slice(broadcast_frame);
        dst.freeze()
    }

    /// Reads a bridge message. Fails unless `payload` is exactly one valid `ORIGIN` frame
    /// and one valid `BROADCAST` frame whose `seq` and `sender` agree with it.
    pub fn parse(payload: Bytes) -> Result<BridgeMessage, ProtocolError> {
        let malformed = |reason| ProtocolError::Malformed {
            frame: "bridge message",
            reason,
        };
        let mut rest = payload;
        let (origin_frame, origin) = match next_frame(&mut rest)? {
            (bytes, Frame::Origin(origin)) => (bytes, origin),
            _ => return Err(malformed("the first frame is not ORIGIN")),
        };
        let broadcast = match next_frame(&mut rest)? {
            (_, Frame::Broadcast(broadcast)) => broadcast,
            _ => return Err(malformed("the second frame is not BROADCAST")),
        };
        if !rest.is_empty() {
            return Err(malformed("bytes after the BROADCAST frame"));
        }
        if broadcast.seq != origin.seq || broadcast.sender != origin.sender {
            return Err(malformed("ORIGIN and BROADCAST disagree on seq or sender"));
        }
        Ok(BridgeMessage {
            origin,
            origin_frame,
            timestamp_us: broadcast.timestamp_us,
            body: broadcast.body,
        })
    }
}

/// Splits the first whole frame off `buf`: its bytes and what it says.
fn next_frame(buf: &mut Bytes) -> Result<(Bytes, Frame), ProtocolError> {
    // A bridge message is bounded by the bridge's own payload limit, not by a hub's.
    let size = FrameCodec::new(u32::MAX)
        .frame_size(buf)?
        .ok_or(ProtocolError::Truncated(buf.len()))?;
    if buf.len() < size {
        return Err(ProtocolError::Truncated(buf.len()));
    }
    let bytes = buf.split_to(size);
    let frame = Frame::parse(bytes[crate::LENGTH_LEN], bytes.slice(crate::HEADER_LEN..))?;
    Ok((bytes, frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, HubInstance, Seq, broadcast_frame};

    fn origin() -> Origin {
        Origin {
            hub_instance: HubInstance(0xabcd),
            seq: Seq(7),
            sender: ClientId(3),
            hub_name: "hub-a".into(),
        }
    }

    /// An `ORIGIN` frame for `origin()` with the raw bytes `name` as its hub name.
    fn origin_with_name(name: &[u8]) -> Vec<u8> {
        let mut frame = Frame::Origin(Origin {
            hub_name: String::new(),
            ..origin()
        })
        .to_bytes()
        .to_vec();
        frame.extend_from_slice(name);
        let len = u32::try_from(frame.len() - crate::LENGTH_LEN).unwrap_or(u32::MAX);
        frame[..4].copy_from_slice(&len.to_be_bytes());
        frame
    }

    #[test]
    fn a_bridge_message_reads_back_as_written() {
        let frame = broadcast_frame(Seq(7), ClientId(3), 1_700_000_000_000_000, b"hi");
        let message = BridgeMessage::parse(BridgeMessage::encode(&origin(), &frame)).unwrap();
        assert_eq!(message.origin, origin());
        assert_eq!(message.timestamp_us, 1_700_000_000_000_000);
        assert_eq!(&message.body[..], b"hi");
        assert_eq!(message.origin_frame, Frame::Origin(origin()).to_bytes());
    }

    #[test]
    fn a_bridge_message_must_agree_with_itself() {
        let other_seq = broadcast_frame(Seq(8), ClientId(3), 0, b"hi");
        let err = BridgeMessage::parse(BridgeMessage::encode(&origin(), &other_seq));
        assert!(err.unwrap_err().to_string().contains("disagree"));
    }

    #[test]
    fn garbage_is_not_a_bridge_message() {
        let frame = broadcast_frame(Seq(7), ClientId(3), 0, b"hi");
        let whole = BridgeMessage::encode(&origin(), &frame);
        for payload in [
            Bytes::new(),
            Bytes::from_static(b"hello world"),
            frame.clone(),
            whole.slice(..whole.len() - 1),
            Bytes::from([&whole[..], &[0]].concat()),
            Bytes::from([&frame[..], &Frame::Origin(origin()).to_bytes()[..]].concat()),
            // A hub name that is not UTF-8 (found by fuzzing: decoded leniently, it grew
            // past 64 bytes and no longer round-tripped).
            Bytes::from([&origin_with_name(&[0xff; 40])[..], &frame[..]].concat()),
            Bytes::from([&origin_with_name(&[b'n'; 65])[..], &frame[..]].concat()),
        ] {
            assert!(
                BridgeMessage::parse(payload.clone()).is_err(),
                "{payload:?}"
            );
        }
    }
}
