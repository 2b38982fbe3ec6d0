//! The seed corpora of the fuzz targets, committed under `fuzz/seeds/TARGET/` and written
//! by `cargo run --example write_seeds` (run from `fuzz/`).
//!
//! Seeds give the fuzzer a head start: inputs that already reach deep states, which
//! random bytes would take long to find. They are the test vectors and invalid examples
//! of `docs/protocol.md`, one valid frame of every type, whole client sessions (a
//! `HELLO`, then `SEND`s, `PING`s, `PONG`s, mistakes), text clients, and truncated frames.

use bytes::Bytes;
use pipehub_protocol::{
    Broadcast, ByeReason, ClientId, ErrorCode, Frame, Hello, HubInstance, Origin, RefuseCode, Role,
    Seq, VERSION, Welcome,
};

use crate::{ConnectionInput, DecoderInput, Ending};

/// One seed's data (without the settings bytes), and the file name it is stored under.
#[derive(Clone, Debug)]
pub struct Seed {
    pub name: String,
    pub data: Vec<u8>,
}

fn seed(name: impl Into<String>, data: impl AsRef<[u8]>) -> Seed {
    Seed {
        name: name.into(),
        data: data.as_ref().to_vec(),
    }
}

/// The body size at which a publisher's `SEND` is refused by the fuzzed hub, whose
/// `max_frame` is 4096: a broadcast frame is 24 bytes longer than the `SEND`.
pub const FUZZ_HUB_MAX_FRAME: u32 = 4096;

/// Every `### vector: NAME` and `### invalid: NAME` block of the protocol document
/// (`docs/protocol.md`), named `vector-NAME` and `invalid-NAME`.
pub fn doc_examples(doc: &str) -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut name = None;
    let mut hex: Option<String> = None;
    for line in doc.lines() {
        if let Some(text) = hex.as_mut() {
            if line.trim() == "```" {
                let data = parse_hex(text);
                if let Some(name) = name.take() {
                    seeds.push(seed(name, data));
                }
                hex = None;
            } else {
                text.push_str(line);
                text.push(' ');
            }
        } else if let Some(rest) = line.strip_prefix("### vector: ") {
            name = Some(format!("vector-{}", rest.trim()));
        } else if let Some(rest) = line.strip_prefix("### invalid: ") {
            name = Some(format!("invalid-{}", rest.trim()));
        } else if line.trim() == "```hex" && name.is_some() {
            hex = Some(String::new());
        }
    }
    seeds
}

fn parse_hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|pair| u8::from_str_radix(pair, 16).expect("the document's hex is valid"))
        .collect()
}

/// One valid frame of every type, in both directions.
pub fn frames() -> Vec<Seed> {
    let instance = HubInstance(0x0123_4567_89ab_cdef);
    let frames = [
        ("hello-listener", Frame::Hello(Hello::new(Role::Listener))),
        (
            "hello-publisher",
            Frame::Hello(Hello::new(Role::Publisher).with_name("fuzz")),
        ),
        (
            "hello-resume-last",
            Frame::Hello(
                Hello::new(Role::Listener)
                    .with_resume(instance, Seq(3))
                    .with_last(5),
            ),
        ),
        ("send", Frame::Send(Bytes::from_static(b"hello"))),
        ("ping", Frame::Ping(42)),
        ("pong", Frame::Pong(42)),
        (
            "welcome",
            Frame::Welcome(Welcome {
                version: VERSION,
                client_id: ClientId(1),
                hub_instance: instance,
                current_seq: Seq(0),
                max_frame: FUZZ_HUB_MAX_FRAME,
                queue_frames: 64,
            }),
        ),
        (
            "refused",
            Frame::Refused {
                code: RefuseCode::HUB_FULL,
                text: "full".into(),
            },
        ),
        (
            "broadcast",
            Frame::Broadcast(Broadcast {
                seq: Seq(1),
                sender: ClientId(2),
                timestamp_us: 1_700_000_000_000_000,
                body: Bytes::from_static(b"hi"),
            }),
        ),
        (
            "lagged",
            Frame::Lagged {
                missed: 3,
                next_seq: Seq(9),
            },
        ),
        (
            "bye",
            Frame::Bye {
                reason: ByeReason::SHUTDOWN,
                text: "bye".into(),
            },
        ),
        (
            "error",
            Frame::Error {
                code: ErrorCode::MALFORMED_FRAME,
                text: "bad".into(),
            },
        ),
        (
            "direct",
            Frame::Direct {
                sender: ClientId::OPERATOR,
                timestamp_us: 1,
                body: Bytes::from_static(b"just you"),
            },
        ),
        (
            "origin",
            Frame::Origin(Origin {
                hub_instance: HubInstance(7),
                seq: Seq(3),
                sender: ClientId::OPERATOR,
                hub_name: "far".into(),
            }),
        ),
    ];
    frames
        .into_iter()
        .map(|(name, frame)| seed(format!("frame-{name}"), frame.to_bytes()))
        .collect()
}

/// The bytes of `frames`, back to back.
fn stream(frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.to_bytes().to_vec()).collect()
}

/// What clients send from their first byte: framed sessions of both roles, with and
/// without mistakes, and text clients.
pub fn sessions() -> Vec<Seed> {
    let listener = || Frame::Hello(Hello::new(Role::Listener));
    let publisher = || Frame::Hello(Hello::new(Role::Publisher).with_name("pub"));
    let send = |body: &'static [u8]| Frame::Send(Bytes::from_static(body));
    let largest = FUZZ_HUB_MAX_FRAME as usize - 25;
    let mut many_pings = vec![listener()];
    many_pings.extend((0..100).map(Frame::Ping));
    let mut seeds = vec![
        seed("session-listener", stream(&[listener()])),
        seed(
            "session-listener-named-ping",
            stream(&[
                Frame::Hello(Hello::new(Role::Listener).with_name("tail-ü")),
                Frame::Ping(1),
            ]),
        ),
        seed(
            "session-listener-says",
            stream(&[listener(), send(b"hi operator"), Frame::Ping(2)]),
        ),
        seed(
            "session-listener-pong",
            stream(&[listener(), Frame::Pong(5), Frame::Ping(6)]),
        ),
        seed(
            "session-listener-resume",
            stream(&[Frame::Hello(
                Hello::new(Role::Listener).with_resume(HubInstance(7), Seq(5)),
            )]),
        ),
        seed(
            "session-listener-last",
            stream(&[Frame::Hello(Hello::new(Role::Listener).with_last(10))]),
        ),
        seed(
            "session-publisher-sends",
            stream(&[
                publisher(),
                send(b"hello"),
                send(b""),
                send(&[0, 0xff, b'\n']),
                Frame::Ping(7),
            ]),
        ),
        seed(
            "session-publisher-largest",
            stream(&[
                publisher(),
                Frame::Send(Bytes::from(vec![b'x'; largest])),
                Frame::Ping(8),
            ]),
        ),
        seed(
            "session-publisher-too-large",
            stream(&[
                publisher(),
                Frame::Send(Bytes::from(vec![b'x'; largest + 1])),
            ]),
        ),
        seed("session-many-pings", stream(&many_pings)),
        seed("session-second-hello", stream(&[listener(), listener()])),
        seed("session-send-before-hello", stream(&[send(b"early")])),
        seed(
            "session-hub-frame-from-client",
            stream(&[
                listener(),
                Frame::Lagged {
                    missed: 1,
                    next_seq: Seq(2),
                },
            ]),
        ),
        seed("text-line", b"hello from a text client\n"),
        seed("text-lines-crlf", b"one\r\ntwo\r\nunterminated"),
        seed("text-http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        seed("empty", b""),
    ];
    let mut too_large = stream(&[listener()]);
    too_large.extend_from_slice(&[0, 0x10, 0, 1]);
    seeds.push(seed("session-too-large-length", too_large));
    seeds
}

/// `seed` cut short: after its first byte, within and right after the length field, and
/// one byte before its end.
pub fn truncations(seed_to_cut: &Seed) -> Vec<Seed> {
    let len = seed_to_cut.data.len();
    let mut cuts: Vec<usize> = [1, 3, 4, 5, len / 2, len.saturating_sub(1)]
        .into_iter()
        .filter(|&cut| cut > 0 && cut < len)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.into_iter()
        .map(|cut| {
            seed(
                format!("cut{cut}-{}", seed_to_cut.name),
                &seed_to_cut.data[..cut],
            )
        })
        .collect()
}

/// Seeds of the `frame_decoder` target: every document example, frame and session,
/// whole and cut, all at once; a few in small reads, with the client-side codec, or
/// with the smallest limit.
pub fn decoder_seeds(doc: &str) -> Vec<Seed> {
    let mut base = doc_examples(doc);
    base.extend(frames());
    base.extend(sessions());
    let cut: Vec<Seed> = base.iter().flat_map(truncations).collect();
    let mut seeds: Vec<Seed> = base
        .iter()
        .chain(&cut)
        .map(|s| seed(&s.name, DecoderInput::encode(false, 0, 0, &s.data)))
        .collect();
    let all_frames: Vec<u8> = frames().into_iter().flat_map(|s| s.data).collect();
    for (name, skip, limit, chunk) in [
        ("all-frames", false, 0, 0),
        ("all-frames-reads-of-3", false, 0, 3),
        ("all-frames-client-codec", true, 0, 0),
        ("all-frames-limit-256", false, 1, 0),
        ("all-frames-reads-of-1-client-codec", true, 2, 1),
    ] {
        seeds.push(seed(
            name,
            DecoderInput::encode(skip, limit, chunk, &all_frames),
        ));
    }
    let mut unknown = vec![0, 0, 0, 3, 0x9f, 1, 2];
    unknown.extend_from_slice(&Frame::Pong(1).to_bytes());
    seeds.push(seed(
        "unknown-hub-frame-client-codec",
        DecoderInput::encode(true, 0, 0, &unknown),
    ));
    seeds
}

/// Seeds of the `hub_connection` target: every session and text client, cut and whole,
/// and every document example as a connection's first bytes and after a valid `HELLO`;
/// most end with a half-close, some are dropped at once or kept open, some are written
/// in small pieces.
pub fn connection_seeds(doc: &str) -> Vec<Seed> {
    let hello = Frame::Hello(Hello::new(Role::Listener)).to_bytes().to_vec();
    let publisher = Frame::Hello(Hello::new(Role::Publisher))
        .to_bytes()
        .to_vec();
    let examples = doc_examples(doc);
    let mut base = sessions();
    base.extend(examples.iter().cloned());
    for example in &examples {
        // After HELLO, a client's own frames open a real session; the rest are errors.
        let first = if example.name.starts_with("vector-send") {
            &publisher
        } else {
            &hello
        };
        let mut data = first.clone();
        data.extend_from_slice(&example.data);
        base.push(seed(format!("after-hello-{}", example.name), data));
    }
    let cut: Vec<Seed> = sessions().iter().flat_map(truncations).collect();
    let mut seeds: Vec<Seed> = base
        .iter()
        .chain(&cut)
        .map(|s| {
            seed(
                &s.name,
                ConnectionInput::encode(Ending::HalfClose, 0, &s.data),
            )
        })
        .collect();
    for s in sessions() {
        for (suffix, ending, chunk) in [
            ("dropped", Ending::Drop, 0),
            ("stays", Ending::Stay, 0),
            ("in-pieces-of-3", Ending::HalfClose, 3),
        ] {
            seeds.push(seed(
                format!("{}-{suffix}", s.name),
                ConnectionInput::encode(ending, chunk, &s.data),
            ));
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../docs/protocol.md");

    #[test]
    fn the_document_gives_vectors_and_invalid_examples() {
        let examples = doc_examples(DOC);
        assert!(examples.iter().any(|s| s.name == "vector-hello-listener"));
        assert!(examples.iter().any(|s| s.name == "invalid-too-large"));
        let hello = examples
            .iter()
            .find(|s| s.name == "vector-hello-listener")
            .unwrap();
        assert_eq!(
            hello.data,
            Frame::Hello(Hello::new(Role::Listener)).to_bytes().to_vec()
        );
    }

    #[test]
    fn seed_names_are_unique() {
        for seeds in [decoder_seeds(DOC), connection_seeds(DOC)] {
            let mut names: Vec<_> = seeds.iter().map(|s| s.name.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len());
        }
    }
}
