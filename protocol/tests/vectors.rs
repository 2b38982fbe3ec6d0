//! Checks the test vectors of `docs/protocol.md` against this crate: every vector decodes
//! to the frame this file says it is and re-encodes to the same bytes, every frame type
//! has a vector, every invalid example earns the answer the document gives it, and the
//! frame type table gives each type the byte, name and direction the code gives it.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use pipehub_protocol::bridge::BridgeMessage;
use pipehub_protocol::status::{BridgeStatus, ClientStatus, HubStatus, StatusReport, StatusStats};
use pipehub_protocol::{
    Broadcast, ByeReason, ClientId, ErrorCode, Frame, FrameCodec, FrameType, Hello, HubInstance,
    Origin, ProtocolError, RefuseCode, Role, Seq, VERSION, Welcome,
};

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");

const VECTOR_HEADING: &str = "### vector: ";
const INVALID_HEADING: &str = "### invalid: ";

/// The frame each vector of the document must be.
fn expected_frames() -> Vec<(&'static str, Frame)> {
    let instance = HubInstance(0x0123_4567_89ab_cdef);
    vec![
        ("hello-listener", Frame::Hello(Hello::new(Role::Listener))),
        (
            "hello-publisher-named",
            Frame::Hello(Hello {
                version: VERSION,
                role: Role::Publisher,
                name: "sensor-7".into(),
                resume: None,
                last: None,
            }),
        ),
        (
            "hello-listener-resume",
            Frame::Hello(Hello {
                version: VERSION,
                role: Role::Listener,
                name: "tail-ü".into(),
                resume: Some((instance, Seq(41))),
                last: None,
            }),
        ),
        (
            "hello-listener-last",
            Frame::Hello(Hello {
                last: Some(10),
                ..Hello::new(Role::Listener)
            }),
        ),
        (
            "hello-listener-resume-last",
            Frame::Hello(
                Hello::new(Role::Listener)
                    .with_name("tail")
                    .with_resume(instance, Seq(41))
                    .with_last(100),
            ),
        ),
        ("send-hello", Frame::Send(Bytes::from_static(b"hello"))),
        ("send-empty", Frame::Send(Bytes::new())),
        (
            "send-binary",
            Frame::Send(Bytes::from_static(&[0x00, 0xff, 0x0a])),
        ),
        ("ping-42", Frame::Ping(42)),
        (
            "welcome",
            Frame::Welcome(Welcome {
                version: VERSION,
                client_id: ClientId(7),
                hub_instance: instance,
                current_seq: Seq(41),
                max_frame: 1_048_576,
                queue_frames: 1024,
            }),
        ),
        (
            "welcome-first-client",
            Frame::Welcome(Welcome {
                version: VERSION,
                client_id: ClientId(1),
                hub_instance: HubInstance(0xfedc_ba98_7654_3210),
                current_seq: Seq(0),
                max_frame: 4096,
                queue_frames: 64,
            }),
        ),
        (
            "refused-unsupported-version",
            Frame::Refused {
                code: RefuseCode::UNSUPPORTED_VERSION,
                text: "unsupported protocol version 2".into(),
            },
        ),
        (
            "refused-hub-full",
            Frame::Refused {
                code: RefuseCode::HUB_FULL,
                text: String::new(),
            },
        ),
        (
            "broadcast-hello",
            Frame::Broadcast(Broadcast {
                seq: Seq(42),
                sender: ClientId(7),
                timestamp_us: 1_700_000_000_000_000,
                body: Bytes::from_static(b"hello"),
            }),
        ),
        (
            "broadcast-operator",
            Frame::Broadcast(Broadcast {
                seq: Seq(1),
                sender: ClientId::OPERATOR,
                timestamp_us: 1_700_000_000_123_456,
                body: Bytes::from_static(b"two\nlines"),
            }),
        ),
        ("pong-42", Frame::Pong(42)),
        (
            "lagged",
            Frame::Lagged {
                missed: 100,
                next_seq: Seq(142),
            },
        ),
        (
            "bye-shutdown",
            Frame::Bye {
                reason: ByeReason::SHUTDOWN,
                text: "hub shutting down".into(),
            },
        ),
        (
            "bye-kicked",
            Frame::Bye {
                reason: ByeReason::KICKED,
                text: "kicked by the operator".into(),
            },
        ),
        (
            "error-bad-magic",
            Frame::Error {
                code: ErrorCode::BAD_MAGIC,
                text: "bad magic in HELLO".into(),
            },
        ),
        (
            "error-unexpected-frame",
            Frame::Error {
                code: ErrorCode::UNEXPECTED_FRAME,
                text: "SEND before HELLO".into(),
            },
        ),
        (
            "direct",
            Frame::Direct {
                sender: ClientId::OPERATOR,
                timestamp_us: 1_700_000_000_123_456,
                body: Bytes::from_static(b"see me after the deploy"),
            },
        ),
        ("status-request", Frame::StatusRequest),
        (
            "status-first-part",
            Frame::Status {
                more: true,
                part: Bytes::from_static(br#"{"hub":{"version":"0.1.0","#),
            },
        ),
        (
            "status-last-part",
            Frame::Status {
                more: false,
                part: Bytes::from_static(br#""requested_by":7}"#),
            },
        ),
        (
            "origin",
            Frame::Origin(Origin {
                hub_instance: instance,
                seq: Seq(42),
                sender: ClientId(7),
                hub_name: "hub-a".into(),
            }),
        ),
    ]
}

/// The report the document's `status-example` JSON block must be.
fn expected_status_example() -> StatusReport {
    let started = 1_700_000_000_000_000;
    let client = |id, name: &str, pid, connected_at_us| ClientStatus {
        id,
        name: name.into(),
        role: "listener".into(),
        uid: Some(1000),
        gid: Some(1000),
        pid: Some(pid),
        connected_at_us,
        queued: 0,
        missed: 0,
        stalled: false,
        paused: false,
    };
    StatusReport {
        hub: HubStatus {
            version: "0.1.0".into(),
            instance: "0123456789abcdef".into(),
            pid: 4242,
            started_at_us: started,
            now_us: started + 75_000_000,
            max_clients: 100_000,
            max_frame: 1_048_576,
            queue_frames: 4096,
            history_frames: 1024,
            when_behind: "wait".into(),
            stall_timeout_ms: 1000,
        },
        stats: StatusStats {
            clients: 2,
            listeners: 2,
            publishers: 0,
            text_listeners: 0,
            broadcasts: 12,
            bytes_broadcast: 3000,
            deliveries: 20,
            broadcasts_per_s: Some(0.5),
            deliveries_per_s: Some(1.0),
            rate_window_s: 10.0,
            lagged_clients: 0,
            missed: 0,
            retained: 12,
            refused: 0,
            stalled_listeners: 0,
            paused_publishers: 0,
            paused_s: 0.0,
        },
        clients: vec![
            client(1, "alice", 31337, started + 5_000_000),
            client(7, "status", 31400, started + 74_990_000),
        ],
        requested_by: Some(7),
        bridge: Some(BridgeStatus {
            url: "nats://10.0.0.5:4222".into(),
            subject: "pipehub.broadcast".into(),
            hub_name: "build-host-1".into(),
            state: "connected".into(),
            since_us: 1_700_000_000_200_000,
            outages: 0,
            published: 1200,
            not_bridged: 0,
            received: 3,
            duplicates: 0,
            rejected: 0,
        }),
    }
}

/// One `### vector:` or `### invalid:` entry of the document.
struct Entry {
    name: String,
    /// The first line of text under the heading (the description).
    caption: String,
    bytes: Vec<u8>,
}

struct Doc {
    text: String,
    vectors: Vec<Entry>,
    invalid: Vec<Entry>,
}

fn read_doc() -> Doc {
    let text =
        std::fs::read_to_string(DOC_PATH).unwrap_or_else(|e| panic!("cannot read {DOC_PATH}: {e}"));
    let mut vectors = Vec::new();
    let mut invalid = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (list, name) = if let Some(name) = line.strip_prefix(VECTOR_HEADING) {
            (&mut vectors, name)
        } else if let Some(name) = line.strip_prefix(INVALID_HEADING) {
            (&mut invalid, name)
        } else {
            continue;
        };
        let name = name.trim().to_owned();
        assert!(
            !name.is_empty(),
            "a `{}` heading without a name",
            line.trim()
        );

        let mut caption = String::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("vector {name}: no ```hex block before the end"));
            let line = line.trim();
            if line == "```hex" {
                break;
            }
            assert!(
                !line.starts_with('#') && !line.starts_with("```"),
                "vector {name}: expected a ```hex block, found `{line}`"
            );
            if caption.is_empty() {
                caption = line.to_owned();
            }
        }

        let mut digits = String::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("vector {name}: unterminated ```hex block"));
            if line.trim() == "```" {
                break;
            }
            digits.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        list.push(Entry {
            bytes: parse_hex(&name, &digits),
            name,
            caption,
        });
    }
    Doc {
        text,
        vectors,
        invalid,
    }
}

fn parse_hex(name: &str, digits: &str) -> Vec<u8> {
    assert!(
        digits.len() % 2 == 0,
        "vector {name}: odd number of hex digits"
    );
    assert!(!digits.is_empty(), "vector {name}: empty hex block");
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            let pair = digits
                .get(i..i + 2)
                .unwrap_or_else(|| panic!("vector {name}: not hex near `{}`", &digits[i..]));
            u8::from_str_radix(pair, 16)
                .unwrap_or_else(|_| panic!("vector {name}: `{pair}` is not a hex byte"))
        })
        .collect()
}

fn unique_names<'a>(kind: &str, entries: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = BTreeMap::new();
    for name in entries {
        *seen.entry(name).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    assert!(
        duplicates.is_empty(),
        "duplicate {kind} names: {duplicates:?}"
    );
    seen.into_keys().collect()
}

#[test]
fn document_and_table_name_the_same_vectors() {
    let doc = read_doc();
    let table = expected_frames();
    let in_doc = unique_names(
        "document vector",
        doc.vectors.iter().map(|v| v.name.as_str()),
    );
    let in_table = unique_names("table vector", table.iter().map(|(name, _)| *name));

    let missing_from_table: Vec<_> = in_doc.iter().filter(|n| !in_table.contains(n)).collect();
    let missing_from_doc: Vec<_> = in_table.iter().filter(|n| !in_doc.contains(n)).collect();
    assert!(
        missing_from_table.is_empty(),
        "vectors in docs/protocol.md with no entry in the table of tests/vectors.rs: {missing_from_table:?}"
    );
    assert!(
        missing_from_doc.is_empty(),
        "vectors in the table of tests/vectors.rs missing from docs/protocol.md: {missing_from_doc:?}"
    );
}

#[test]
fn vectors_decode_to_their_frames() {
    let doc = read_doc();
    let table: BTreeMap<_, _> = expected_frames().into_iter().collect();
    assert!(!doc.vectors.is_empty(), "no vectors found in {DOC_PATH}");
    for vector in &doc.vectors {
        let name = &vector.name;
        let Some(expected) = table.get(name.as_str()) else {
            continue; // reported by document_and_table_name_the_same_vectors
        };
        let mut codec = FrameCodec::default();

        // All at once: exactly one frame, every byte consumed.
        let mut buf = BytesMut::from(&vector.bytes[..]);
        let decoded = match codec.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("vector {name}: decoder wants more bytes"),
            Err(e) => panic!("vector {name}: does not decode: {e}"),
        };
        assert_eq!(
            &decoded, expected,
            "vector {name}: decodes to the wrong frame"
        );
        assert!(
            buf.is_empty(),
            "vector {name}: {} bytes left after its frame",
            buf.len()
        );
        assert!(
            matches!(codec.decode_eof(&mut buf), Ok(None)),
            "vector {name}: decode_eof after the frame is not Ok(None)"
        );

        // One byte at a time: nothing until the last byte.
        let mut buf = BytesMut::new();
        for (i, byte) in vector.bytes.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let result = codec.decode(&mut buf).unwrap_or_else(|e| {
                panic!("vector {name}: byte-by-byte decode failed at {i}: {e}")
            });
            if i + 1 < vector.bytes.len() {
                assert!(
                    result.is_none(),
                    "vector {name}: a frame after only {} bytes",
                    i + 1
                );
            } else {
                assert_eq!(
                    result.as_ref(),
                    Some(expected),
                    "vector {name}: byte-by-byte"
                );
            }
        }
    }
}

#[test]
fn vectors_reencode_to_the_same_bytes() {
    let doc = read_doc();
    let table: BTreeMap<_, _> = expected_frames().into_iter().collect();
    for vector in &doc.vectors {
        let name = &vector.name;
        let Some(frame) = table.get(name.as_str()) else {
            continue;
        };
        assert_eq!(
            frame.to_bytes().as_ref(),
            &vector.bytes[..],
            "vector {name}: Frame::to_bytes differs from the document"
        );
        let mut dst = BytesMut::new();
        FrameCodec::default()
            .encode(frame, &mut dst)
            .unwrap_or_else(|e| panic!("vector {name}: the encoder refused it: {e}"));
        assert_eq!(
            &dst[..],
            &vector.bytes[..],
            "vector {name}: the encoder's bytes differ from the document"
        );
    }
}

#[test]
fn every_frame_type_has_a_vector() {
    let doc = read_doc();
    let types: Vec<FrameType> = doc
        .vectors
        .iter()
        .filter_map(|v| v.bytes.get(4).and_then(|b| FrameType::from_byte(*b)))
        .collect();
    for frame_type in FrameType::ALL {
        assert!(
            types.contains(&frame_type),
            "no vector in docs/protocol.md for {} (0x{:02x})",
            frame_type.name(),
            frame_type as u8
        );
    }
}

/// The answer an invalid example's caption promises: `ERROR code=N` or `REFUSED code=N`.
fn promised_answer(entry: &Entry) -> (String, u16) {
    let name = &entry.name;
    let inner = entry
        .caption
        .strip_prefix('`')
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("invalid example {name}: the caption must start with `ERROR code=N` or `REFUSED code=N`"));
    let mut words = inner.split_whitespace();
    let kind = words.next().unwrap_or_default().to_owned();
    let code = words
        .next()
        .and_then(|w| w.strip_prefix("code="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("invalid example {name}: no `code=N` in `{inner}`"));
    assert!(
        kind == "ERROR" || kind == "REFUSED",
        "invalid example {name}: the answer must be ERROR or REFUSED, not `{kind}`"
    );
    (kind, code)
}

#[test]
fn invalid_examples_earn_their_answers() {
    let doc = read_doc();
    unique_names(
        "invalid example",
        doc.invalid.iter().map(|e| e.name.as_str()),
    );
    assert!(
        !doc.invalid.is_empty(),
        "no invalid examples found in {DOC_PATH}"
    );
    for entry in &doc.invalid {
        let name = &entry.name;
        let (kind, code) = promised_answer(entry);
        // Read as the hub reads a connection's first frame: the length, a HELLO's size
        // from its first 11 bytes, then the whole frame.
        let mut buf = BytesMut::from(&entry.bytes[..]);
        let err = match FrameCodec::default().decode_first(&mut buf) {
            Err(e) => e,
            // Well-formed, but a frame only the hub sends: section 5.4's code 4.
            Ok(Some(frame)) if !frame.frame_type().is_client_to_hub() => {
                assert_eq!(
                    (kind.as_str(), ErrorCode(code)),
                    ("ERROR", ErrorCode::UNEXPECTED_FRAME),
                    "invalid example {name}: a {} from a client earns ERROR code 4",
                    frame.frame_type().name()
                );
                continue;
            }
            Ok(frame) => panic!("invalid example {name}: decoded without error to {frame:?}"),
        };
        match (kind.as_str(), &err) {
            ("REFUSED", ProtocolError::UnsupportedVersion(_)) => assert_eq!(
                RefuseCode(code),
                RefuseCode::UNSUPPORTED_VERSION,
                "invalid example {name}: an unsupported version earns REFUSED code 1"
            ),
            ("REFUSED", _) => panic!("invalid example {name}: promises REFUSED but gives {err}"),
            (_, ProtocolError::UnsupportedVersion(_)) => {
                panic!("invalid example {name}: an unsupported version earns REFUSED, not ERROR")
            }
            _ => assert_eq!(
                err.code(),
                ErrorCode(code),
                "invalid example {name}: promises ERROR code {code} but gives {err}"
            ),
        }
    }
}

#[test]
fn the_status_example_is_the_report_the_code_reads_and_writes() {
    let doc = read_doc().text;
    let json = fenced_block(&doc, "```json status-example");
    let report: StatusReport = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("the status example does not parse as a report: {e}"));
    assert_eq!(report, expected_status_example());
    let written = serde_json::to_string_pretty(&report).expect("serialize");
    assert_eq!(
        written.trim(),
        json.trim(),
        "the status example differs from what the code writes"
    );
}

/// The text of the fenced block that opens with `fence`.
fn fenced_block<'a>(doc: &'a str, fence: &str) -> &'a str {
    let start = doc
        .find(fence)
        .unwrap_or_else(|| panic!("no `{fence}` block in {DOC_PATH}"))
        + fence.len();
    let end = start
        + doc[start..]
            .find("\n```")
            .unwrap_or_else(|| panic!("the `{fence}` block is not closed"));
    &doc[start..end]
}

#[test]
fn the_bridge_example_is_the_message_the_code_reads_and_writes() {
    let doc = read_doc().text;
    let digits: String = fenced_block(&doc, "```hex bridge-example")
        .split_whitespace()
        .collect();
    let bytes = parse_hex("bridge-example", &digits);
    let origin = Origin {
        hub_instance: HubInstance(0x0123_4567_89ab_cdef),
        seq: Seq(42),
        sender: ClientId::OPERATOR,
        hub_name: "hub-a".into(),
    };
    let message = BridgeMessage::parse(Bytes::from(bytes.clone())).expect("a bridge message");
    assert_eq!(message.origin, origin);
    assert_eq!(&message.body[..], b"hello");
    let broadcast = pipehub_protocol::broadcast_frame(
        Seq(42),
        ClientId::OPERATOR,
        message.timestamp_us,
        b"hello",
    );
    assert_eq!(&BridgeMessage::encode(&origin, &broadcast)[..], &bytes[..]);
    assert!(
        doc.contains(&format!("publishes these {} bytes", bytes.len())),
        "the bridge example's caption gives the wrong size"
    );
}

#[test]
fn frame_type_and_code_tables_match_the_code() {
    let doc = read_doc().text;
    for frame_type in FrameType::ALL {
        let direction = match (frame_type.is_client_to_hub(), frame_type.is_hub_to_client()) {
            (true, true) => "both ways",
            (true, false) => "client → hub",
            (false, true) => "hub → client",
            (false, false) => panic!("{} goes neither way", frame_type.name()),
        };
        let row = format!(
            "| `0x{:02x}` | `{}` | {direction} |",
            frame_type as u8,
            frame_type.name()
        );
        assert!(
            doc.contains(&row),
            "the frame type table lacks the row `{row}`"
        );
    }
    let rows = (0..=u16::MAX).filter_map(|v| ErrorCode(v).name().map(|n| (v, n)));
    let rows = rows.chain((0..=u16::MAX).filter_map(|v| RefuseCode(v).name().map(|n| (v, n))));
    let rows = rows.chain((0..=u8::MAX).filter_map(|v| ByeReason(v).name().map(|n| (v.into(), n))));
    for (value, name) in rows {
        let row = format!("| {value} | {name} |");
        assert!(doc.contains(&row), "a code table lacks the row `{row}`");
    }
}

/// The document's "a `HELLO` is at most 98 bytes (a `length` of at most 94)" is the
/// largest HELLO this crate encodes, and the bound the hub checks a HELLO's start against.
#[test]
fn the_largest_hello_is_the_documented_bound() {
    let mut hello = pipehub_protocol::Hello::new(pipehub_protocol::Role::Publisher);
    hello.name = "n".repeat(pipehub_protocol::MAX_NAME_LEN);
    hello.resume = Some((pipehub_protocol::HubInstance(1), pipehub_protocol::Seq(2)));
    hello.last = Some(3);
    let bytes = Frame::Hello(hello).to_bytes();
    assert_eq!(bytes.len(), 98);
    assert_eq!(pipehub_protocol::MAX_HELLO_LEN, 94);
    assert!(read_doc().text.contains("a `length` of at most 94"));
    assert!(pipehub_protocol::check_first_frame_start(&bytes).is_ok());
    let mut longer = bytes.to_vec();
    longer[..4].copy_from_slice(&95u32.to_be_bytes());
    assert!(pipehub_protocol::check_first_frame_start(&longer[..11]).is_err());
}

/// Section 5.4's rule for codes 4 and 5 lists the type bytes by range; they are the ones
/// `FrameType` knows (code 4: a type only the hub sends) and does not know (code 5).
#[test]
fn the_rule_for_codes_4_and_5_lists_the_type_bytes_of_the_code() {
    let doc = read_doc().text;
    let hub_only = byte_ranges(|b| FrameType::from_byte(b).is_some_and(|t| !t.is_client_to_hub()));
    let unknown = byte_ranges(|b| FrameType::from_byte(b).is_none());
    for row in [
        format!("| a frame only the hub sends (type {hub_only}), sent by a client | 4 |"),
        format!("| a type byte that names no frame type ({unknown}) | 5 |"),
    ] {
        assert!(doc.contains(&row), "section 5.4 lacks the row `{row}`");
    }
}

/// The bytes for which `pick` holds, as the document writes them: runs of consecutive
/// bytes as "`0x81` to `0x83`", single bytes as "`0x04`", separated by ", ".
fn byte_ranges(pick: impl Fn(u8) -> bool) -> String {
    let mut runs: Vec<(u8, u8)> = Vec::new();
    for b in (0..=u8::MAX).filter(|b| pick(*b)) {
        match runs.last_mut() {
            Some((_, end)) if u16::from(*end) + 1 == u16::from(b) => *end = b,
            _ => runs.push((b, b)),
        }
    }
    runs.iter()
        .map(|&(start, end)| {
            if start == end {
                format!("`0x{start:02x}`")
            } else {
                format!("`0x{start:02x}` to `0x{end:02x}`")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Section 3's replacement examples are what this crate's lenient `text` decoding gives
/// (`ERROR` text here), byte for byte: one U+FFFD per maximal subpart.
#[test]
fn the_replacement_examples_are_what_the_code_decodes() {
    let doc = read_doc().text;
    for (bytes, decoded, in_doc) in [
        (
            &b"\xed\xa0\x80"[..],
            "\u{fffd}\u{fffd}\u{fffd}",
            "`ed a0 80` becomes three U+FFFD",
        ),
        (
            &b"\xe2\x82\x41"[..],
            "\u{fffd}A",
            "`e2 82 41` becomes U+FFFD then `A`",
        ),
    ] {
        assert!(doc.contains(in_doc), "section 3 lacks `{in_doc}`");
        let mut payload = vec![0, 1];
        payload.extend_from_slice(bytes);
        let frame = Frame::parse(FrameType::Error as u8, Bytes::from(payload)).expect("ERROR");
        assert_eq!(
            frame,
            Frame::Error {
                code: ErrorCode::MALFORMED_FRAME,
                text: decoded.into(),
            },
            "{bytes:02x?}"
        );
    }
}
