//! Property tests of the frame codec: hostile input never panics and never makes the
//! decoder allocate past the limit, every strict prefix of a frame is "need more bytes",
//! every frame survives a round trip, and an oversized length is refused as soon as it
//! can be read.
//!
//! About 156,000 cases in all (the `with_cases` of each block), in under 15 s of a debug
//! build; the expensive properties get fewer cases, the cheap ones more. The
//! coverage-guided fuzz targets in `fuzz/` explore the same decoder without a bound.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use pipehub_protocol::{
    Broadcast, ByeReason, ClientId, DEFAULT_MAX_FRAME, ErrorCode, Frame, FrameCodec, FrameType,
    HEADER_LEN, Hello, HubInstance, LENGTH_LEN, MAX_NAME_LEN, MIN_MAX_FRAME, Origin, ProtocolError,
    RefuseCode, Role, Seq, VERSION, Welcome, broadcast_frame, put_send_frame,
};

/// The small limit used by the fuzzing test, so that lengths under and over it are both
/// easy to hit.
const FUZZ_MAX_FRAME: u32 = 4096;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..32),
        1 => vec(any::<u8>(), 0..600),
    ]
    .prop_map(Bytes::from)
}

/// Valid UTF-8 of any characters (text fields are decoded lossily, so only valid UTF-8
/// round-trips).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "(?s).{0,24}",
        1 => "(?s).{0,200}",
    ]
}

/// A display name that round-trips: valid UTF-8 of at most 64 bytes (longer names are
/// truncated on encode).
fn name() -> impl Strategy<Value = String> {
    "(?s).{0,40}".prop_map(|mut s| {
        while s.len() > MAX_NAME_LEN {
            s.pop();
        }
        s
    })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Listener), Just(Role::Publisher)]
}

/// Any frame of any type, with field values spread over their whole range.
fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            role(),
            name(),
            proptest::option::of(any::<(u64, u64)>()),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(role, name, resume, last)| {
                Frame::Hello(Hello {
                    version: VERSION,
                    role,
                    name,
                    resume: resume.map(|(i, s)| (HubInstance(i), Seq(s))),
                    last,
                })
            }),
        body().prop_map(Frame::Send),
        any::<u64>().prop_map(Frame::Ping),
        any::<(u16, u64, u64, u64, u32, u32)>().prop_map(|(v, c, i, s, m, q)| {
            Frame::Welcome(Welcome {
                version: v,
                client_id: ClientId(c),
                hub_instance: HubInstance(i),
                current_seq: Seq(s),
                max_frame: m,
                queue_frames: q,
            })
        }),
        (any::<u16>(), text()).prop_map(|(code, text)| Frame::Refused {
            code: RefuseCode(code),
            text,
        }),
        (any::<(u64, u64, u64)>(), body()).prop_map(|((seq, sender, ts), body)| {
            Frame::Broadcast(Broadcast {
                seq: Seq(seq),
                sender: ClientId(sender),
                timestamp_us: ts,
                body,
            })
        }),
        any::<u64>().prop_map(Frame::Pong),
        any::<(u64, u64)>().prop_map(|(missed, next)| Frame::Lagged {
            missed,
            next_seq: Seq(next),
        }),
        (any::<u8>(), text()).prop_map(|(reason, text)| Frame::Bye {
            reason: ByeReason(reason),
            text,
        }),
        (any::<u16>(), text()).prop_map(|(code, text)| Frame::Error {
            code: ErrorCode(code),
            text,
        }),
        (any::<(u64, u64)>(), body()).prop_map(|((sender, ts), body)| Frame::Direct {
            sender: ClientId(sender),
            timestamp_us: ts,
            body,
        }),
        (any::<(u64, u64, u64)>(), "\\PC{0,16}").prop_map(|((instance, seq, sender), name)| {
            Frame::Origin(Origin {
                hub_instance: HubInstance(instance),
                seq: Seq(seq),
                sender: ClientId(sender),
                hub_name: name,
            })
        }),
    ]
}

/// Bytes that look like a frame often enough to reach every branch of the decoder: a
/// length field with a small or huge value, a known or unknown type byte, and a payload
/// that may be shorter or longer than the length says.
fn frame_like_piece() -> impl Strategy<Value = Vec<u8>> {
    let length = prop_oneof![
        4 => 0u32..64,
        2 => 0u32..=FUZZ_MAX_FRAME + 8,
        1 => any::<u32>(),
    ];
    let type_byte = prop_oneof![
        3 => proptest::sample::select(FrameType::ALL.map(|t| t as u8).to_vec()),
        1 => any::<u8>(),
    ];
    (length, type_byte, vec(any::<u8>(), 0..80)).prop_map(|(length, type_byte, payload)| {
        let mut piece = length.to_be_bytes().to_vec();
        piece.push(type_byte);
        piece.extend_from_slice(&payload);
        piece
    })
}

/// Hostile input for the decoder: plain random bytes, frame-shaped pieces, valid frames
/// with a byte flipped, all mixed together.
fn hostile_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        2 => vec(any::<u8>(), 0..64),
        3 => frame_like_piece(),
        // Long enough that the buffer holds more than the limit at once.
        1 => (0u32..=FUZZ_MAX_FRAME, vec(any::<u8>(), 0..=FUZZ_MAX_FRAME as usize)).prop_map(
            |(len, payload)| {
                let mut piece = len.to_be_bytes().to_vec();
                piece.extend_from_slice(&payload);
                piece
            }
        ),
        2 => (frame(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(f, at, byte)| {
            let mut bytes = f.to_bytes().to_vec();
            let at = at.index(bytes.len());
            bytes[at] ^= byte;
            bytes
        }),
        1 => frame().prop_map(|f| f.to_bytes().to_vec()),
        // A length just under the limit, followed by less than it announces.
        1 => (HEADER_LEN as u32..=FUZZ_MAX_FRAME, vec(any::<u8>(), 0..200)).prop_map(
            |(len, tail)| {
                let mut piece = len.to_be_bytes().to_vec();
                piece.extend_from_slice(&tail);
                piece
            }
        ),
    ];
    prop_oneof![
        1 => vec(any::<u8>(), 0..2048),
        3 => vec(piece, 0..12).prop_map(|pieces| pieces.concat()),
    ]
}

/// Feeds `input` to `codec` in pieces of `chunk` bytes, calling `decode` until it asks
/// for more after every piece, like a reader loop. Checks that the decoder never panics
/// and never grows the buffer past `max_frame + HEADER_LEN + input.len()`.
fn feed_hostile(codec: &mut FrameCodec, input: &[u8], chunk: usize) -> Result<(), TestCaseError> {
    let bound = codec.max_frame() as usize + HEADER_LEN + input.len();
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before_len = buf.len();
            let before_cap = buf.capacity();
            let result = codec.decode(&mut buf);
            prop_assert!(
                buf.capacity() <= before_cap.max(bound),
                "decode grew the buffer from {} to {} bytes of capacity (bound {})",
                before_cap,
                buf.capacity(),
                bound
            );
            match result {
                Ok(Some(_)) => prop_assert!(buf.len() < before_len, "a frame consumed nothing"),
                Ok(None) => {
                    // Only skipped frames may go without a frame coming out.
                    if !codec.skips_unknown_hub_frames() {
                        prop_assert_eq!(buf.len(), before_len, "Ok(None) consumed bytes");
                    }
                    break;
                }
                // A bad header consumes nothing: a reader closes the connection here.
                Err(_) if buf.len() == before_len => return Ok(()),
                // A bad payload consumed its frame; the decoder can go on after it.
                Err(_) => {}
            }
        }
    }
    let before_cap = buf.capacity();
    let _ = codec.decode_eof(&mut buf);
    prop_assert!(buf.capacity() <= before_cap.max(bound));
    Ok(())
}

/// Decodes every frame in `buf`, which must hold whole frames only.
fn decode_all(codec: &mut FrameCodec, buf: &mut BytesMut) -> Result<Vec<Frame>, TestCaseError> {
    let mut frames = Vec::new();
    loop {
        match codec.decode(buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(e) => return Err(TestCaseError::fail(format!("decode failed: {e}"))),
        }
    }
    Ok(frames)
}

// ---------------------------------------------------------------------------------------
// (a) Hostile input
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn hostile_bytes_never_panic_nor_overallocate(
        input in hostile_input(),
        chunk in prop_oneof![Just(usize::MAX), 1usize..64],
        skip_unknown in any::<bool>(),
    ) {
        let mut codec = FrameCodec::new(FUZZ_MAX_FRAME);
        codec.set_skip_unknown_hub_frames(skip_unknown);
        feed_hostile(&mut codec, &input, chunk.min(input.len().max(1)))?;
    }

    #[test]
    fn random_bytes_never_panic_with_default_limit(input in vec(any::<u8>(), 0..512)) {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let mut buf = BytesMut::from(&input[..]);
        let _ = codec.decode_eof(&mut buf);
    }
}

proptest! {
    // Cheap (a parse of at most 128 bytes), so many cases: every type byte with many
    // payloads.
    #![proptest_config(ProptestConfig::with_cases(50_000))]

    #[test]
    fn parse_never_panics(type_byte in any::<u8>(), payload in vec(any::<u8>(), 0..128)) {
        let _ = Frame::parse(type_byte, Bytes::from(payload));
    }
}

// ---------------------------------------------------------------------------------------
// (b) Strict prefixes
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6_000))]

    #[test]
    fn strict_prefixes_need_more_bytes(frame in frame()) {
        let bytes = frame.to_bytes();
        let mut codec = FrameCodec::default();
        for k in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..k]);
            prop_assert!(
                matches!(codec.decode(&mut buf), Ok(None)),
                "prefix of {} of {} bytes did not decode to Ok(None)", k, bytes.len()
            );
            prop_assert_eq!(buf.len(), k, "decode consumed part of a prefix");

            let mut buf = BytesMut::from(&bytes[..k]);
            match codec.decode_eof(&mut buf) {
                Ok(None) if k == 0 => {}
                Err(ProtocolError::Truncated(n)) if k > 0 => prop_assert_eq!(n, k),
                other => prop_assert!(false, "decode_eof of a {}-byte prefix gave {:?}", k, other),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// (c) Round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn one_frame_round_trips(frame in frame()) {
        let bytes = frame.to_bytes();
        let len = u32::from_be_bytes(bytes[..LENGTH_LEN].try_into().unwrap()) as usize;
        prop_assert_eq!(len + LENGTH_LEN, bytes.len(), "length field does not match the frame");
        prop_assert_eq!(bytes[LENGTH_LEN], frame.frame_type() as u8);

        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(&frame, &mut buf).unwrap();
        prop_assert_eq!(&buf[..], &bytes[..], "Encoder and Frame::to_bytes disagree");

        let decoded = codec.decode(&mut buf).unwrap();
        prop_assert_eq!(decoded.as_ref(), Some(&frame));
        prop_assert!(buf.is_empty());
        prop_assert!(matches!(codec.decode_eof(&mut buf), Ok(None)));
    }

    #[test]
    fn broadcast_frame_matches_frame_encoding(
        (seq, sender, ts) in any::<(u64, u64, u64)>(),
        body in body(),
    ) {
        let fast = broadcast_frame(Seq(seq), ClientId(sender), ts, &body);
        let frame = Frame::Broadcast(Broadcast {
            seq: Seq(seq),
            sender: ClientId(sender),
            timestamp_us: ts,
            body,
        });
        prop_assert_eq!(fast, frame.to_bytes());
    }

    #[test]
    fn send_frame_from_a_slice_matches_frame_encoding(body in body()) {
        let mut fast = BytesMut::new();
        put_send_frame(&mut fast, &body);
        prop_assert_eq!(fast.freeze(), Frame::Send(body).to_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn frames_back_to_back_round_trip(
        frames in vec(frame(), 1..8),
        chunk in prop_oneof![Just(usize::MAX), 1usize..48],
    ) {
        let mut stream = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut stream);
        }
        let mut codec = FrameCodec::default();

        // All at once.
        let mut buf = stream.clone();
        prop_assert_eq!(&decode_all(&mut codec, &mut buf)?, &frames);
        prop_assert!(buf.is_empty());

        // In pieces, as a socket may deliver them.
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in stream.chunks(chunk.min(stream.len())) {
            buf.extend_from_slice(piece);
            decoded.extend(decode_all(&mut codec, &mut buf)?);
        }
        prop_assert!(matches!(codec.decode_eof(&mut buf), Ok(None)));
        prop_assert_eq!(&decoded, &frames);
    }
}

// ---------------------------------------------------------------------------------------
// (d) Oversized lengths, and the encoder's limit
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn oversized_length_is_refused_from_its_four_bytes(
        max in prop_oneof![Just(DEFAULT_MAX_FRAME), MIN_MAX_FRAME..=DEFAULT_MAX_FRAME, any::<u32>()],
        over in any::<u32>(),
        tail in vec(any::<u8>(), 0..16),
    ) {
        prop_assume!(max < u32::MAX);
        let len = max + 1 + over % (u32::MAX - max);
        let mut codec = FrameCodec::new(max);

        // Fewer than four bytes: not yet known.
        for k in 0..LENGTH_LEN {
            let mut buf = BytesMut::from(&len.to_be_bytes()[..k]);
            prop_assert!(matches!(codec.decode(&mut buf), Ok(None)));
        }

        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        buf.extend_from_slice(&tail);
        let cap = buf.capacity();
        match codec.decode(&mut buf) {
            Err(e @ ProtocolError::TooLarge { .. }) => {
                let exact = matches!(e, ProtocolError::TooLarge { len: l, max: m } if l == len && m == max);
                prop_assert!(exact, "wrong numbers in {:?}", e);
                prop_assert_eq!(e.code(), ErrorCode::FRAME_TOO_LARGE);
            }
            other => prop_assert!(false, "length {} over {} gave {:?}", len, max, other),
        }
        prop_assert_eq!(buf.capacity(), cap, "an oversized length made the decoder allocate");
        let eof_too_large = matches!(codec.decode_eof(&mut buf), Err(ProtocolError::TooLarge { .. }));
        prop_assert!(eof_too_large);
    }

    #[test]
    fn lengths_up_to_the_limit_are_accepted(max in MIN_MAX_FRAME..=DEFAULT_MAX_FRAME, len in 1u32..=DEFAULT_MAX_FRAME) {
        let codec = FrameCodec::new(max);
        let header = len.to_be_bytes();
        if len <= max {
            prop_assert_eq!(codec.frame_size(&header).unwrap(), Some(LENGTH_LEN + len as usize));
        } else {
            let is_too_large = matches!(codec.frame_size(&header), Err(ProtocolError::TooLarge { .. }));
            prop_assert!(is_too_large);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn encoder_refuses_frames_over_the_limit(
        max in MIN_MAX_FRAME..2048,
        body_len in 0usize..2400,
        prefix in vec(any::<u8>(), 0..8),
    ) {
        let frame = Frame::Send(Bytes::from(vec![0x5a; body_len]));
        let mut codec = FrameCodec::new(max);
        let mut dst = BytesMut::from(&prefix[..]);
        let result = codec.encode(frame.clone(), &mut dst);
        if body_len < max as usize {
            prop_assert!(result.is_ok());
            prop_assert_eq!(&dst[prefix.len()..], &frame.to_bytes()[..]);
        } else {
            let is_too_large = matches!(result, Err(ProtocolError::TooLarge { .. }));
            prop_assert!(is_too_large);
            prop_assert_eq!(&dst[..], &prefix[..], "a refused frame left bytes behind");
        }
    }
}

#[test]
fn zero_length_is_an_empty_frame_error() {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(err, ProtocolError::EmptyFrame), "{err:?}");
    assert_eq!(err.code(), ErrorCode::MALFORMED_FRAME);
}

#[test]
fn hello_names_are_truncated_on_a_char_boundary() {
    // 63 ASCII bytes then a 2-byte character: 65 bytes, cut back to 63.
    let name = format!("{}é", "a".repeat(63));
    let frame = Frame::Hello(Hello {
        name,
        ..Hello::new(Role::Listener)
    });
    let decoded = FrameCodec::default()
        .decode(&mut BytesMut::from(&frame.to_bytes()[..]))
        .unwrap()
        .unwrap();
    let Frame::Hello(hello) = decoded else {
        panic!("not a HELLO: {decoded:?}");
    };
    assert_eq!(hello.name, "a".repeat(63));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn hello_with_the_last_flag_needs_all_four_bytes_of_last(
        name in name(),
        last in any::<u32>(),
        cut in 1usize..=4,
    ) {
        let frame = Frame::Hello(Hello {
            name,
            last: Some(last),
            ..Hello::new(Role::Listener)
        });
        let bytes = frame.to_bytes();
        let payload = bytes.slice(HEADER_LEN..bytes.len() - cut);
        let result = Frame::parse(bytes[LENGTH_LEN], payload);
        let malformed = matches!(&result, Err(e @ ProtocolError::Malformed { .. }) if e.code() == ErrorCode::MALFORMED_FRAME);
        prop_assert!(malformed, "a HELLO cut {} bytes short parsed as {:?}", cut, result);
    }
}
