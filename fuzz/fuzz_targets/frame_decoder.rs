//! Fuzz target: the frame decoder over arbitrary bytes.
//!
//! The input (see `DecoderInput`) picks the limit, whether the codec drops unknown hub
//! frames as a client's does, and how many bytes arrive per read; the rest is fed to
//! `FrameCodec::decode` in a reader's loop, then to `decode_eof`. Checked on every call:
//! - no panic, whatever the bytes;
//! - the read buffer never grows past `max_frame + 5 + input length` (a hostile length
//!   cannot make the reader allocate more than the limit);
//! - `Ok(None)` consumes nothing (unless it dropped whole unknown frames), a frame
//!   consumes its bytes, and a bad header consumes nothing;
//! - `buffered_types` announces exactly what `decode` then returns;
//! - every decoded frame survives a round trip through its own encoding;
//! - `decode_eof` leaves nothing behind when it says the stream ended cleanly.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pipehub_fuzz::DecoderInput;
use pipehub_protocol::{Frame, FrameCodec, HEADER_LEN, LENGTH_LEN, ProtocolError};
use tokio_util::codec::Decoder;

fuzz_target!(|input: &[u8]| {
    let input = DecoderInput::parse(input);
    let mut codec = FrameCodec::new(input.max_frame);
    codec.set_skip_unknown_hub_frames(input.skip_unknown);
    let bound = input.max_frame as usize + HEADER_LEN + input.data.len();
    let mut buf = BytesMut::new();
    for piece in input.data.chunks(input.chunk) {
        buf.extend_from_slice(piece);
        if !decode_available(&mut codec, &mut buf, bound) {
            return; // a refused header: a reader closes the connection here
        }
    }
    let before_cap = buf.capacity();
    let result = codec.decode_eof(&mut buf);
    assert!(
        buf.capacity() <= before_cap.max(bound),
        "decode_eof grew the buffer"
    );
    match result {
        Ok(Some(frame)) => round_trips(&frame),
        Ok(None) => assert!(buf.is_empty(), "a clean end of stream left bytes behind"),
        Err(_) => {}
    }
});

/// Decodes until the decoder asks for more bytes. Returns false at a refused header.
fn decode_available(codec: &mut FrameCodec, buf: &mut BytesMut, bound: usize) -> bool {
    loop {
        let before_len = buf.len();
        let before_cap = buf.capacity();
        let announced = codec.buffered_types(buf).next();
        let result = codec.decode(buf);
        assert!(
            buf.capacity() <= before_cap.max(bound),
            "decode grew the buffer from {before_cap} to {} bytes of capacity (bound {bound})",
            buf.capacity()
        );
        match (result, announced) {
            (Ok(Some(frame)), Some(Ok(type_byte))) => {
                assert!(buf.len() < before_len, "a frame consumed nothing");
                assert_eq!(
                    frame.frame_type() as u8,
                    type_byte,
                    "announced another type"
                );
                round_trips(&frame);
            }
            (Ok(None), None) => {
                if !codec.skips_unknown_hub_frames() {
                    assert_eq!(buf.len(), before_len, "Ok(None) consumed bytes");
                }
                return true;
            }
            // A payload that does not parse: its frame is consumed, decoding goes on.
            (Err(err), Some(Ok(_))) => {
                assert!(
                    buf.len() < before_len,
                    "a bad payload was not consumed: {err}"
                );
                assert!(!is_header_error(&err), "a header error after a good header");
            }
            (Err(err), Some(Err(_))) => {
                assert!(is_header_error(&err), "announced a bad header, got {err}");
                return false;
            }
            (result, announced) => {
                panic!("buffered_types announced {announced:?}, decode returned {result:?}")
            }
        }
    }
}

fn is_header_error(err: &ProtocolError) -> bool {
    matches!(
        err,
        ProtocolError::EmptyFrame | ProtocolError::TooLarge { .. }
    )
}

/// A decoded frame, encoded again, decodes to itself (text fields were decoded lossily,
/// so they are valid UTF-8 from then on).
fn round_trips(frame: &Frame) {
    let bytes = frame.to_bytes();
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    assert_eq!(len + LENGTH_LEN, bytes.len(), "length field of {frame:?}");
    let again = Frame::parse(bytes[LENGTH_LEN], bytes.slice(HEADER_LEN..))
        .unwrap_or_else(|err| panic!("{frame:?} encodes to bytes that fail to parse: {err}"));
    assert_eq!(&again, frame, "the frame changed in a round trip");
}
