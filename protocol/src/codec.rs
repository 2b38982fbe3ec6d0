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

use crate::{
    DEFAULT_MAX_FRAME, Frame, FrameType, HEADER_LEN, LENGTH_LEN, ProtocolError,
    check_first_frame_start,
};

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
    ///
    /// An unknown type below `0x80` stays an error even then: new hub-to-client types
    /// are always `0x80` or more, so such a frame is not from a newer hub but from a
    /// broken one.
    pub fn set_skip_unknown_hub_frames(&mut self, skip: bool) {
        self.skip_unknown_hub_frames = skip;
    }

    /// Whether the decoder drops a frame of this type byte unread.
    fn skips(&self, type_byte: u8) -> bool {
        self.skip_unknown_hub_frames
            && type_byte >= 0x80
            && FrameType::from_byte(type_byte).is_none()
    }

    /// The type bytes of the frames [`Decoder::decode`] would return (or fail to parse)
    /// from `buf` without reading more, in order, consuming nothing: whole frames only,
    /// and not those the decoder skips. A header the decoder refuses ends the list with its error, which
    /// `decode` would also return at once. Lets a reader ask "is there something for me
    /// already?" before it waits, e.g. to flush its own output first.
    pub fn buffered_types<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> impl Iterator<Item = Result<u8, ProtocolError>> + 'a {
        let mut rest = Some(buf);
        std::iter::from_fn(move || {
            loop {
                let buf = rest?;
                let size = match self.frame_size(buf) {
                    Ok(Some(size)) if buf.len() >= size => size,
                    Ok(_) => return None,
                    Err(err) => {
                        rest = None;
                        return Some(Err(err));
                    }
                };
                let type_byte = buf[LENGTH_LEN];
                rest = Some(&buf[size..]);
                if !self.skips(type_byte) {
                    return Some(Ok(type_byte));
                }
            }
        })
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

    /// Decodes a connection's first frame, its `HELLO`, as [`Decoder::decode`] does, with
    /// one check more: a first frame longer than [`crate::MAX_HELLO_LEN`] is an error as
    /// soon as its first bytes tell why ([`check_first_frame_start`]), so the reader
    /// neither waits for nor holds the rest.
    ///
    /// The length limit is checked first, from the 4 length bytes alone: a length of 0 or
    /// over `max_frame` is that error whatever follows, so the answer does not depend on
    /// whether the magic and version arrived in the same read.
    pub fn decode_first(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        self.frame_size(src)?;
        check_first_frame_start(src)?;
        self.decode(src)
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
                // Nothing is reserved for the rest: the buffer grows with the bytes that
                // arrive, never with the length a peer announces, so a frame begun and
                // never finished costs what was sent of it.
                return Ok(None);
            }
            let type_byte = src[LENGTH_LEN];
            if self.skips(type_byte) {
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

    #[test]
    fn a_frame_begun_costs_the_bytes_received_not_the_length_announced() {
        let mut codec = FrameCodec::new(1024 * 1024);
        let mut buf = BytesMut::with_capacity(64);
        // A SEND announcing 1 MiB, and 10 bytes of it.
        buf.extend_from_slice(&[0x00, 0x10, 0x00, 0x00, 0x02]);
        buf.extend_from_slice(&[7; 10]);
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        assert!(
            buf.capacity() < 1024,
            "{} bytes reserved for 15 received",
            buf.capacity()
        );
    }

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

    /// The start of a version-1 `HELLO` announcing `len`: length, type, magic, version.
    fn hello_start(len: u32) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&[0x01, b'P', b'H', b'U', b'B', 0, 1]);
        buf
    }

    #[test]
    fn a_first_frame_too_long_for_a_hello_is_malformed_from_its_first_11_bytes() {
        let mut codec = FrameCodec::default();
        let err = codec.decode_first(&mut hello_start(95)).unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed { .. }), "{err:?}");
        // The plain decoder waits for the whole frame.
        assert_eq!(codec.decode(&mut hello_start(95)).unwrap(), None);
    }

    #[test]
    fn a_first_frame_over_the_limit_is_too_large_even_as_a_hello() {
        let mut codec = FrameCodec::new(300);
        let err = codec.decode_first(&mut hello_start(301)).unwrap_err();
        assert!(
            matches!(err, ProtocolError::TooLarge { len: 301, max: 300 }),
            "{err:?}"
        );
    }

    #[test]
    fn buffered_types_lists_whole_frames_decode_would_return() {
        let mut codec = FrameCodec::default();
        codec.set_skip_unknown_hub_frames(true);
        let mut buf = stream();
        let pong = Frame::Pong(8).to_bytes();
        buf.extend_from_slice(&pong[..3]); // the start of one more frame
        // 0x9f is skipped; decode would fail on 0x7f, so it is listed; the partial frame
        // is not.
        let types: Vec<_> = codec.buffered_types(&buf).collect();
        assert!(matches!(types[..], [Ok(0x84), Ok(0x7f)]), "{types:?}");
        assert_eq!(buf.len(), 7 + pong.len() + 5 + 3, "nothing consumed");
    }

    #[test]
    fn buffered_types_ends_with_a_refused_header() {
        let codec = FrameCodec::new(300);
        let mut buf = Frame::Ping(1).to_bytes().to_vec();
        buf.extend_from_slice(&[0, 0, 1, 0x2d]);
        let types: Vec<_> = codec.buffered_types(&buf).collect();
        assert!(
            matches!(
                types[..],
                [
                    Ok(0x03),
                    Err(ProtocolError::TooLarge { len: 301, max: 300 })
                ]
            ),
            "{types:?}"
        );
        assert_eq!(codec.buffered_types(&[]).count(), 0);
        assert_eq!(codec.buffered_types(&buf[..12]).count(), 0);
    }
}
