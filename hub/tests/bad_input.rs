//! Hostile and broken clients: each gets an `ERROR` (or `REFUSED`) where it still reads,
//! is disconnected, and nobody else notices anything.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::{RawClient, TestHub, test_config, within};
use pipehub::Config;
use pipehub_protocol::{
    Broadcast, ByeReason, ClientId, DEFAULT_MAX_FRAME, ErrorCode, Frame, FrameType, Hello,
    HubInstance, Origin, RefuseCode, Role, Seq, Welcome,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Sends `bytes` on a fresh connection and returns every frame the hub sends back
/// before closing it. Meanwhile a healthy listener must receive every broadcast.
async fn misbehave(bytes: &[u8]) -> Vec<Frame> {
    let hub = TestHub::start().await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.hub.publish(b"before").unwrap();
    let mut bad = RawClient::connect(&hub.endpoint).await;
    bad.send_raw(bytes).await;
    let answer = bad.recv_until_closed().await;
    hub.hub.publish(b"after").unwrap();
    assert_eq!(
        healthy.recv_broadcast().await,
        (1, Bytes::from_static(b"before"))
    );
    assert_eq!(
        healthy.recv_broadcast().await,
        (2, Bytes::from_static(b"after"))
    );
    // The hub still accepts new clients.
    let (mut late, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.hub.publish(b"later").unwrap();
    assert_eq!(late.recv_broadcast().await.0, 3);
    answer
}

fn error_code(frames: &[Frame]) -> ErrorCode {
    match frames {
        [Frame::Error { code, text }] => {
            assert!(!text.is_empty(), "ERROR frames explain themselves");
            *code
        }
        other => panic!("expected exactly one ERROR frame, got {other:?}"),
    }
}

fn hello_bytes(mutate: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut bytes = BytesMut::new();
    Frame::Hello(Hello::new(Role::Listener)).encode(&mut bytes);
    mutate(&mut bytes);
    bytes.to_vec()
}

#[tokio::test]
async fn random_bytes_get_an_error_and_a_close() {
    // A fixed pseudo-random sequence: reproducible, and not a valid frame.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut garbage = garbage;
    garbage[0] = 0; // a first byte other than 0 makes a text client, not a bad frame
    let frames = misbehave(&garbage).await;
    let code = error_code(&frames);
    assert!(
        [
            ErrorCode::FRAME_TOO_LARGE,
            ErrorCode::UNKNOWN_FRAME_TYPE,
            ErrorCode::MALFORMED_FRAME
        ]
        .contains(&code),
        "unexpected code {code}"
    );
}

#[tokio::test]
async fn a_length_over_the_limit_is_refused_before_it_is_read() {
    let mut bytes = BytesMut::new();
    bytes.put_u32(pipehub_protocol::DEFAULT_MAX_FRAME + 1);
    bytes.put_u8(0x01);
    assert_eq!(
        error_code(&misbehave(&bytes).await),
        ErrorCode::FRAME_TOO_LARGE
    );
}

#[tokio::test]
async fn a_frame_cut_off_then_disconnect_leaves_everyone_else_alone() {
    let hub = TestHub::start().await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    {
        let (mut vanishing, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
        let send = Frame::Send(Bytes::from_static(b"never finished")).to_bytes();
        vanishing.send_raw(&send[..send.len() - 3]).await;
        // Dropped here: the peer vanishes mid-frame.
    }
    hub.wait_for_clients(1).await;
    hub.hub.publish(b"still here").unwrap();
    assert_eq!(
        healthy.recv_broadcast().await,
        (1, Bytes::from_static(b"still here"))
    );
}

/// Unix only: a named pipe has no half-close.
#[cfg(unix)]
#[tokio::test]
async fn a_frame_cut_off_then_half_close_gets_an_error() {
    let send = Frame::Send(Bytes::from_static(b"never finished")).to_bytes();
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    client.send_raw(&send[..send.len() - 3]).await;
    client.stream.shutdown().await.unwrap();
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::MALFORMED_FRAME
    );
}

#[tokio::test]
async fn wrong_magic_is_an_error() {
    let bytes = hello_bytes(|b| b[5..9].copy_from_slice(b"HTTP"));
    assert_eq!(error_code(&misbehave(&bytes).await), ErrorCode::BAD_MAGIC);
}

#[tokio::test]
async fn a_hello_announcing_more_than_a_hello_holds_is_an_error_before_the_rest() {
    // A version-1 HELLO announcing 1 MiB: only its first 11 bytes are sent, and the
    // hub answers without waiting (or holding room) for the rest.
    let mut bytes = BytesMut::new();
    bytes.put_u32(1024 * 1024);
    bytes.put_u8(0x01);
    bytes.put_slice(b"PHUB");
    bytes.put_u16(1);
    let started = std::time::Instant::now();
    let answer = misbehave(&bytes).await;
    assert_eq!(error_code(&answer), ErrorCode::MALFORMED_FRAME);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered at once, not at the 10 s handshake timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_longer_hello_of_another_version_is_refused_for_its_version() {
    // Only length, type, magic and version keep their places across versions: a later
    // version's HELLO may be longer, and is refused for what it is.
    let mut bytes = hello_bytes(|b| b[9..11].copy_from_slice(&2u16.to_be_bytes()));
    bytes.extend_from_slice(&[0; 200]);
    let len = (bytes.len() - 4) as u32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    match misbehave(&bytes).await.as_slice() {
        [Frame::Refused { code, .. }] => assert_eq!(*code, RefuseCode::UNSUPPORTED_VERSION),
        other => panic!("expected REFUSED, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unsupported_version_is_refused() {
    let bytes = hello_bytes(|b| b[9..11].copy_from_slice(&99u16.to_be_bytes()));
    match misbehave(&bytes).await.as_slice() {
        [Frame::Refused { code, text }] => {
            assert_eq!(*code, RefuseCode::UNSUPPORTED_VERSION);
            assert!(text.contains("99"), "names the version: {text}");
        }
        other => panic!("expected REFUSED, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_frame_type_is_an_error() {
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    client.send_raw(&[0, 0, 0, 3, 0x7e, 1, 2]).await;
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::UNKNOWN_FRAME_TYPE
    );
}

#[tokio::test]
async fn an_unknown_frame_type_instead_of_hello_is_an_error() {
    assert_eq!(
        error_code(&misbehave(&[0, 0, 0, 1, 0x44]).await),
        ErrorCode::UNKNOWN_FRAME_TYPE
    );
}

#[tokio::test]
async fn send_before_the_handshake_is_an_error() {
    let bytes = Frame::Send(Bytes::from_static(b"too early")).to_bytes();
    assert_eq!(
        error_code(&misbehave(&bytes).await),
        ErrorCode::UNEXPECTED_FRAME
    );
}

#[tokio::test]
async fn a_second_hello_is_an_error() {
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    client.send(&Frame::Hello(Hello::new(Role::Listener))).await;
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::UNEXPECTED_FRAME
    );
}

#[tokio::test]
async fn a_hub_frame_sent_by_a_client_is_an_error() {
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    client
        .send(&Frame::Lagged {
            missed: 1,
            next_seq: pipehub_protocol::Seq(2),
        })
        .await;
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::UNEXPECTED_FRAME
    );
}

#[tokio::test]
async fn a_zero_length_frame_is_an_error() {
    assert_eq!(
        error_code(&misbehave(&[0, 0, 0, 0]).await),
        ErrorCode::MALFORMED_FRAME
    );
}

/// A well-formed frame of each type, as its sender would write it. The match is
/// exhaustive: a new frame type does not compile here until it has a sample.
fn sample(frame_type: FrameType) -> Frame {
    let text = || "text".to_owned();
    let body = || Bytes::from_static(b"body");
    match frame_type {
        FrameType::Hello => Frame::Hello(Hello::new(Role::Listener)),
        FrameType::Send => Frame::Send(body()),
        FrameType::Ping => Frame::Ping(1),
        FrameType::StatusRequest => Frame::StatusRequest,
        FrameType::Welcome => Frame::Welcome(Welcome {
            version: 1,
            client_id: ClientId(1),
            hub_instance: HubInstance(1),
            current_seq: Seq(0),
            max_frame: DEFAULT_MAX_FRAME,
            queue_frames: 64,
        }),
        FrameType::Refused => Frame::Refused {
            code: RefuseCode::HUB_FULL,
            text: text(),
        },
        FrameType::Broadcast => Frame::Broadcast(Broadcast {
            seq: Seq(1),
            sender: ClientId(0),
            timestamp_us: 0,
            body: body(),
        }),
        FrameType::Pong => Frame::Pong(1),
        FrameType::Lagged => Frame::Lagged {
            missed: 1,
            next_seq: Seq(2),
        },
        FrameType::Bye => Frame::Bye {
            reason: ByeReason::SHUTDOWN,
            text: text(),
        },
        FrameType::Error => Frame::Error {
            code: ErrorCode::MALFORMED_FRAME,
            text: text(),
        },
        FrameType::Direct => Frame::Direct {
            sender: ClientId(0),
            timestamp_us: 0,
            body: body(),
        },
        FrameType::Status => Frame::Status {
            more: false,
            part: body(),
        },
        FrameType::Origin => Frame::Origin(Origin {
            hub_instance: HubInstance(1),
            seq: Seq(1),
            sender: ClientId(0),
            hub_name: "far".into(),
        }),
    }
}

/// Section 5.4's one rule, for every type byte a client may not send: code 4 for a
/// frame type that exists but only the hub sends (`0x81` to `0x83`, `0x85` to `0x8a`),
/// code 5 for a byte that names no frame type (`0x80` and `0x8b` up among them); the same
/// as a connection's first frame and in an open session.
#[tokio::test]
async fn a_type_only_the_hub_sends_earns_4_and_a_type_that_names_no_frame_earns_5() {
    let hub = TestHub::start().await;
    let mut checked = 0;
    for byte in 0..=u8::MAX {
        let (bytes, expected) = match FrameType::from_byte(byte) {
            Some(t) if t.is_client_to_hub() => continue,
            Some(t) => (sample(t).to_bytes().to_vec(), ErrorCode::UNEXPECTED_FRAME),
            None => (vec![0, 0, 0, 1, byte], ErrorCode::UNKNOWN_FRAME_TYPE),
        };
        let mut first = RawClient::connect(&hub.endpoint).await;
        first.send_raw(&bytes).await;
        assert_eq!(
            error_code(&first.recv_until_closed().await),
            expected,
            "type 0x{byte:02x} as the first frame"
        );
        let (mut open, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
        open.send_raw(&bytes).await;
        assert_eq!(
            error_code(&open.recv_until_closed().await),
            expected,
            "type 0x{byte:02x} in an open session"
        );
        checked += 1;
    }
    // Every byte but the five a client sends: HELLO, SEND, PING, STATUS_REQUEST, PONG.
    assert_eq!(checked, 256 - 5);
}

#[tokio::test]
async fn a_malformed_ping_before_hello_is_malformed_not_unexpected() {
    // The body is checked before the state: a PING is not allowed before HELLO, but
    // this one is not even a PING.
    assert_eq!(
        error_code(&misbehave(&[0, 0, 0, 5, 0x03, 0, 0, 0, 0]).await),
        ErrorCode::MALFORMED_FRAME
    );
}

#[tokio::test]
async fn a_malformed_frame_of_a_hub_type_is_malformed_not_unexpected() {
    // An ORIGIN without its fixed fields, in an open session.
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    client.send_raw(&[0, 0, 0, 1, 0x8a]).await;
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::MALFORMED_FRAME
    );
}

#[tokio::test]
async fn a_hello_over_the_frame_limit_is_too_large_even_with_its_magic_and_version() {
    // The length is checked first, from its 4 bytes alone, so the answer does not depend
    // on whether the magic and version arrive in the same read.
    let mut bytes = BytesMut::new();
    bytes.put_u32(DEFAULT_MAX_FRAME + 1);
    bytes.put_u8(0x01);
    bytes.put_slice(b"PHUB");
    bytes.put_u16(1);
    assert_eq!(
        error_code(&misbehave(&bytes).await),
        ErrorCode::FRAME_TOO_LARGE
    );
}

#[tokio::test]
async fn a_version_1_hello_one_byte_over_94_is_malformed_from_its_first_11_bytes() {
    let mut bytes = BytesMut::new();
    bytes.put_u32(pipehub_protocol::MAX_HELLO_LEN + 1);
    bytes.put_u8(0x01);
    bytes.put_slice(b"PHUB");
    bytes.put_u16(1);
    let started = std::time::Instant::now();
    assert_eq!(
        error_code(&misbehave(&bytes).await),
        ErrorCode::MALFORMED_FRAME
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered at once, not at the handshake timeout: {:?}",
        started.elapsed()
    );
}

/// A first frame longer than any `HELLO` is answered from its first bytes, without the
/// hub reading (or holding) the rest: what it announces is never sent here.
#[tokio::test]
async fn a_first_frame_longer_than_any_hello_is_answered_from_its_first_bytes() {
    let start = |len: u32, rest: &[u8]| {
        let mut bytes = BytesMut::new();
        bytes.put_u32(len);
        bytes.put_slice(rest);
        bytes
    };
    let big = DEFAULT_MAX_FRAME;
    let cases: [(&str, BytesMut, ErrorCode); 3] = [
        ("a SEND", start(big, &[0x02]), ErrorCode::UNEXPECTED_FRAME),
        (
            "an unknown type",
            start(big, &[0x7f]),
            ErrorCode::UNKNOWN_FRAME_TYPE,
        ),
        (
            "a HELLO with a bad magic",
            start(big, b"\x01PHUX\x00\x01"),
            ErrorCode::BAD_MAGIC,
        ),
    ];
    for (what, bytes, code) in cases {
        let started = std::time::Instant::now();
        assert_eq!(error_code(&misbehave(&bytes).await), code, "{what}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what}: answered at once, not at the handshake timeout: {:?}",
            started.elapsed()
        );
    }
    // A HELLO of another version is refused for its version, from its first 11 bytes.
    let started = std::time::Instant::now();
    match misbehave(&start(big, b"\x01PHUB\x00\x02")).await.as_slice() {
        [Frame::Refused { code, .. }] => assert_eq!(*code, RefuseCode::UNSUPPORTED_VERSION),
        other => panic!("expected REFUSED, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_first_length_of_ff_ff_ff_ff_makes_a_text_listener_not_a_frame_too_large() {
    // Only a first byte of 00 makes a framed connection (every HELLO starts with one);
    // the length limit applies from then on.
    let mut hub = TestHub::start().await;
    let mut stream = common::connect(&hub.endpoint).await;
    stream.write_all(&[0xff; 4]).await.unwrap();
    hub.wait_for_clients(1).await;
    hub.hub.publish(b"to text").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    within(reader.read_until(b'\n', &mut line)).await.unwrap();
    assert_eq!(line, b"to text\n");
    // Its four bytes were the start of a line for the operator.
    reader.get_mut().write_all(b"\n").await.unwrap();
    assert_eq!(hub.next_message().await.1, Bytes::from_static(&[0xff; 4]));
}

#[tokio::test]
async fn a_text_listener_gets_one_replacement_character_per_maximal_subpart() {
    let hub = TestHub::start().await;
    let stream = common::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    let (mut publisher, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    // `ed a0 80` (a surrogate's encoding): no valid sequence starts `ed a0`, so each of
    // the three bytes is replaced alone. `e2 82` (a 3-byte sequence cut short) is one
    // maximal subpart: one replacement.
    let body = Bytes::from_static(b"a\xed\xa0\x80b\xe2\x82c");
    publisher.send(&Frame::Send(body)).await;
    let mut line = Vec::new();
    within(BufReader::new(stream).read_until(b'\n', &mut line))
        .await
        .unwrap();
    assert_eq!(line, "a\u{fffd}\u{fffd}\u{fffd}b\u{fffd}c\n".as_bytes());
}

#[tokio::test]
async fn hello_send_and_ping_in_one_write_are_all_handled() {
    let hub = TestHub::start().await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let mut publisher = RawClient::connect(&hub.endpoint).await;
    let mut bytes = BytesMut::new();
    Frame::Hello(Hello::new(Role::Publisher)).encode(&mut bytes);
    Frame::Send(Bytes::from_static(b"early")).encode(&mut bytes);
    Frame::Ping(7).encode(&mut bytes);
    publisher.send_raw(&bytes).await;
    assert!(
        matches!(publisher.recv().await, Some(Frame::Welcome(_))),
        "WELCOME first"
    );
    assert_eq!(publisher.recv().await, Some(Frame::Pong(7)));
    assert_eq!(
        listener.recv_broadcast().await,
        (1, Bytes::from_static(b"early"))
    );
}

#[tokio::test]
async fn frames_sent_behind_a_refused_hello_are_discarded_unread() {
    let hub = TestHub::with_config(Config {
        max_clients: 1,
        ..test_config()
    })
    .await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let mut publisher = RawClient::connect(&hub.endpoint).await;
    let mut bytes = BytesMut::new();
    Frame::Hello(Hello::new(Role::Publisher)).encode(&mut bytes);
    Frame::Send(Bytes::from_static(b"never")).encode(&mut bytes);
    Frame::Ping(7).encode(&mut bytes);
    bytes.put_u32(0); // an empty frame: ERROR code 1, were it read
    publisher.send_raw(&bytes).await;
    match publisher.recv_until_closed().await.as_slice() {
        [Frame::Refused { code, .. }] => assert_eq!(*code, RefuseCode::HUB_FULL),
        other => panic!("expected REFUSED alone, got {other:?}"),
    }
    hub.hub.publish(b"after").unwrap();
    assert_eq!(
        listener.recv_broadcast().await,
        (1, Bytes::from_static(b"after")),
        "the refused client's SEND was not broadcast"
    );
}

#[tokio::test]
async fn a_second_hello_of_another_version_earns_code_6() {
    // Its body is checked before whether a HELLO is allowed, and the version is part of
    // its body: code 6 (unsupported version), not code 4 (a second HELLO).
    let hub = TestHub::start().await;
    let (mut client, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    client
        .send_raw(&hello_bytes(|b| {
            b[9..11].copy_from_slice(&2u16.to_be_bytes())
        }))
        .await;
    assert_eq!(
        error_code(&client.recv_until_closed().await),
        ErrorCode::UNSUPPORTED_VERSION
    );
}
