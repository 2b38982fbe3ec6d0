//! [`HubCodec`]: the protocol's [`FrameCodec`] as a client reads it.
//!
//! The protocol asks clients to ignore hub-to-client frame types they do not know, so a
//! newer hub can add frames without breaking older clients. [`FrameCodec`] reports an
//! unknown type as an error, and `Framed` ends the stream at the first decode error, so
//! the skipping has to happen here, before the frame reaches `FrameCodec`: a whole frame
//! whose type byte is unknown is dropped from the read buffer and decoding goes on with
//! the next one. The length check still comes first, so an unknown frame can never make
//! the reader buffer more than the maximum frame size.

use bytes::{Buf, BytesMut};
use pipehub_protocol::{Frame, FrameCodec, FrameType, LENGTH_LEN, ProtocolError};
use tokio_util::codec::{Decoder, Encoder};

/// [`FrameCodec`] plus "skip frames of unknown type".
#[derive(Debug)]
pub(crate) struct HubCodec {
    inner: FrameCodec,
}

impl HubCodec {
    /// A codec that refuses frames whose length field exceeds `max_frame`.
    pub(crate) fn new(max_frame: u32) -> HubCodec {
        HubCodec {
            inner: FrameCodec::new(max_frame),
        }
    }

    /// The limit in force.
    pub(crate) fn max_frame(&self) -> u32 {
        self.inner.max_frame()
    }

    /// Changes the limit, to the one the hub announced in `WELCOME`.
    pub(crate) fn set_max_frame(&mut self, max_frame: u32) {
        self.inner.set_max_frame(max_frame);
    }

    /// Whether `buf` holds something [`Decoder::decode`] will return without reading more:
    /// a whole frame of a known type, or an error. Lets a caller flush its own output
    /// before it waits for the hub.
    pub(crate) fn has_frame(&self, buf: &[u8]) -> bool {
        let mut rest = buf;
        loop {
            let size = match self.inner.frame_size(rest) {
                Ok(Some(size)) => size,
                Ok(None) => return false,
                Err(_) => return true,
            };
            if rest.len() < size {
                return false;
            }
            if FrameType::from_byte(rest[LENGTH_LEN]).is_some() {
                return true;
            }
            rest = &rest[size..];
        }
    }
}

impl Decoder for HubCodec {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        loop {
            let Some(size) = self.inner.frame_size(src)? else {
                return Ok(None);
            };
            // `frame_size` refuses a zero length, so a whole frame has its type byte.
            match src.get(LENGTH_LEN) {
                Some(&type_byte)
                    if src.len() >= size && FrameType::from_byte(type_byte).is_none() =>
                {
                    tracing::debug!(type_byte, size, "skipping a frame of unknown type");
                    src.advance(size);
                }
                _ => return self.inner.decode(src),
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(ProtocolError::Truncated(src.len())),
        }
    }
}

impl Encoder<Frame> for HubCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.inner.encode(&frame, dst)
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes};
    use pipehub_protocol::{Broadcast, ClientId, Seq};

    use super::*;

    fn broadcast(seq: u64) -> Frame {
        Frame::Broadcast(Broadcast {
            seq: Seq(seq),
            sender: ClientId(3),
            timestamp_us: 0,
            body: Bytes::from_static(b"hi"),
        })
    }

    fn unknown_frame(dst: &mut BytesMut) {
        dst.put_u32(4);
        dst.put_u8(0x99);
        dst.put_slice(b"abc");
    }

    #[test]
    fn unknown_frame_type_is_skipped() {
        let mut codec = HubCodec::new(1024);
        let mut buf = BytesMut::new();
        unknown_frame(&mut buf);
        unknown_frame(&mut buf);
        broadcast(7).encode(&mut buf);
        assert!(codec.has_frame(&buf));
        assert_eq!(codec.decode(&mut buf).ok().flatten(), Some(broadcast(7)));
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_unknown_frame_waits_for_more() {
        let mut codec = HubCodec::new(1024);
        let mut whole = BytesMut::new();
        unknown_frame(&mut whole);
        let mut buf = BytesMut::from(&whole[..6]);
        assert!(!codec.has_frame(&buf));
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        assert_eq!(buf.len(), 6);
    }

    #[test]
    fn only_unknown_frames_is_not_a_frame() {
        let codec = HubCodec::new(1024);
        let mut buf = BytesMut::new();
        unknown_frame(&mut buf);
        assert!(!codec.has_frame(&buf));
        assert!(!codec.has_frame(&[]));
    }

    #[test]
    fn oversized_unknown_frame_is_still_refused() {
        let mut codec = HubCodec::new(16);
        let mut buf = BytesMut::new();
        buf.put_u32(100);
        buf.put_u8(0x99);
        assert!(codec.has_frame(&buf));
        assert!(matches!(
            codec.decode(&mut buf),
            Err(ProtocolError::TooLarge { len: 100, max: 16 })
        ));
    }

    #[test]
    fn leftover_bytes_at_eof_are_truncation() {
        let mut codec = HubCodec::new(1024);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 9, 0x83][..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(ProtocolError::Truncated(5))
        ));
    }
}
