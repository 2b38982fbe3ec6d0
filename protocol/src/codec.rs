//! [`FrameCodec`]: cuts a byte stream into frames and writes frames into one, for
//! `tokio_util::codec::Framed` or for a hand-driven read buffer (the hub's).
//!
//! The decoder first checks the 4-byte length field: a length over the limit is an error at
//! once, before any of the frame is buffered, so a hostile length can never make the
//! reader allocate more than the limit. An incomplete frame is `Ok(None)`, an expected
//! state; `decode_eof` turns leftover bytes at end of stream into
//! [`ProtocolError::Truncated`]. A client's codec can be set to drop hub-to-client frames
//! of types it does not know, as the protocol requires of clients
//! ([`FrameCodec::set_skip_unknown_hub_frames`]).

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{DEFAULT_MAX_FRAME, Frame, FrameType, HEADER_LEN, LENGTH_LEN, ProtocolError};

/// The pipehub frame codec. `max_frame` bounds the length field of frames read.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_frame: u32,
    skip_unknown_hub_frames: bool,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameCodec {
    /// A codec that refuses frames whose length field exceeds `max_frame`.
    pub fn new(max_frame: u32) -> FrameCodec {
        FrameCodec {
            max_frame,
            skip_unknown_hub_frames: false,
        }
    }

    /// The limit in force.
    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    /// Changes the limit, e.g. to the one the hub announced in `WELCOME`.
    pub fn set_max_frame(&mut self, max_frame: u32) {
        self.max_frame = max_frame;
    }

    /// Whether the decoder drops hub-to-client frames of unknown types (see
    /// [`FrameCodec::set_skip_unknown_hub_frames`]).
    pub fn skips_unknown_hub_frames(&self) -> bool {
        self.skip_unknown_hub_frames
    }

    /// Makes the decoder drop, whole, every frame whose type byte is `0x80` or more
    /// (hub to client) and names no type this version knows, instead of failing with
    /// [`ProtocolError::UnknownType`]. Clients turn this on: they must ignore hub frames
    /// they do not know, which is how later versions add hub-to-client frames. The hub
    /// leaves it off (the default): an unknown type from a client is an error.
    pub fn set_skip_unknown_hub_frames(&mut self, skip: bool) {
        self.skip_unknown_hub_frames = skip;
    }

    /// The total size (header included) of the frame at the start of `buf`, once its
    /// header is there; `Ok(None)` if fewer than 4 bytes have arrived.
    pub fn frame_size(&self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let Some(len) = buf.get(..LENGTH_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if len == 0 {
            return Err(ProtocolError::EmptyFrame);
        }
        if len > self.max_frame {
            return Err(ProtocolError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        Ok(Some(LENGTH_LEN + len as usize))
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        loop {
            let Some(size) = self.frame_size(src)? else {
                return Ok(None);
            };
            if src.len() < size {
                // `size` is bounded by the limit, so this reservation is too.
                src.reserve(size - src.len());
                return Ok(None);
            }
            let type_byte = src[LENGTH_LEN];
            if self.skip_unknown_hub_frames
                && type_byte >= 0x80
                && FrameType::from_byte(type_byte).is_none()
            {
                src.advance(size);
                continue;
            }
            let mut frame = src.split_to(size);
            frame.advance(HEADER_LEN);
            return Frame::parse(type_byte, frame.freeze()).map(Some);
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

impl Encoder<Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.encode(&frame, dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = dst.len();
        frame.encode(dst);
        let len = (dst.len() - start - LENGTH_LEN) as u64;
        if len > u64::from(self.max_frame) {
            dst.truncate(start);
            return Err(ProtocolError::TooLarge {
                len: u32::try_from(len).unwrap_or(u32::MAX),
                max: self.max_frame,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    use super::FrameCodec;
    use crate::{Frame, ProtocolError};

    /// A PONG between two frames of types no version knows yet: `0x9f` (hub to client)
    /// and `0x7f` (client to hub).
    fn stream() -> BytesMut {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 3, 0x9f, 1, 2]);
        Frame::Pong(7).encode(&mut buf);
        buf.extend_from_slice(&[0, 0, 0, 1, 0x7f]);
        buf
    }

    #[test]
    fn unknown_types_are_errors_by_default() {
        let mut codec = FrameCodec::default();
        assert!(!codec.skips_unknown_hub_frames());
        let mut buf = stream();
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, ProtocolError::UnknownType(0x9f)), "{err:?}");
    }

    #[test]
    fn a_client_codec_skips_unknown_hub_frames_only() {
        let mut codec = FrameCodec::default();
        codec.set_skip_unknown_hub_frames(true);
        let mut buf = stream();
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::Pong(7)));
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, ProtocolError::UnknownType(0x7f)), "{err:?}");
    }

    #[test]
    fn a_partial_unknown_frame_waits_for_the_rest() {
        let mut codec = FrameCodec::default();
        codec.set_skip_unknown_hub_frames(true);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0x9f, 1][..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(&[2]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }
}
