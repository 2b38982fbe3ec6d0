//! The receivers' frame scanner: finds the frame boundaries in a block of bytes read from
//! a hub and takes from each frame what the load test needs, in place, with no allocation
//! per message.
//!
//! A receiver reads as much as a socket holds (up to [`READ_SIZE`] bytes at once) into
//! its thread's buffer, behind what the previous read of the same listener left over
//! ([`ListenerScan::stage`]), then scans the block ([`ListenerScan::scan_block`]): for
//! each whole frame it reads the length and type; for a `BROADCAST`, the sequence number
//! (checked by a [`SeqTracker`], so no loss goes unnoticed) and the load header of the
//! body (run, kind, send time); everything else the hub may send is handled as
//! `pipehub-client listen` handles it (a `PING` is answered, `LAGGED` is counted, `BYE`
//! and `ERROR` end the session). The partial frame at the end of the block is kept for
//! the next read, typically a few dozen bytes.
//!
//! Per measured message the cost is a few loads and compares: no decoding into a frame
//! value, no copy, no lock, no clock read (all frames of one read share its receive
//! time), and latencies of consecutive messages sent together (a publisher stamps a
//! whole batch at once) go into the histogram as one entry.

use bytes::{Bytes, BytesMut};
use pipehub_client::protocol::{
    ByeReason, Frame, FrameType, HEADER_LEN, LENGTH_LEN, ProtocolError, Seq,
};
use pipehub_client::{ClientError, SeqTracker};

use crate::payload::{self, Kind};
use crate::stats::Latency;

/// Bytes a receiver asks for in one read.
pub const READ_SIZE: usize = 256 * 1024;

/// Offset of a `BROADCAST`'s sequence number in the frame.
const SEQ_AT: usize = HEADER_LEN;

/// Offset of a `BROADCAST`'s body in the frame.
const BODY_AT: usize = pipehub_client::protocol::BROADCAST_BODY_OFFSET;

/// What one listener has seen so far, and the start of a frame its last read cut short.
#[derive(Debug)]
pub struct ListenerScan {
    run: u32,
    max_frame: u32,
    tracker: SeqTracker,
    /// Bytes of an incomplete frame, from the end of the last block.
    carry: Vec<u8>,
    /// Whether a warm-up marker of this run arrived.
    pub warm: bool,
    /// Measured messages of this run received.
    pub received: u64,
    /// Receive time of the first and last measured message, ns since the epoch.
    pub first_receive_ns: Option<u64>,
    pub last_receive_ns: Option<u64>,
}

/// Why a listener's session is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The end marker of this run arrived: everything before it was received or
    /// announced as missed.
    Finished,
    /// The hub ended the session (`BYE`, `ERROR`), or sent something a client cannot
    /// read; the text says which, as `pipehub-client` would.
    Failed(String),
}

/// What scanning one block found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Measured messages of this run in the block.
    pub measured: u64,
    /// Whether this block brought the listener's first warm-up marker.
    pub warmed: bool,
    /// The session ended with a frame of this block; frames after it were not looked at.
    pub ended: Option<End>,
}

/// What the frames of a block ask of the receiver beyond counting: latencies to record
/// and `PONG`s to send. One per receiver thread, reused for every block.
#[derive(Debug, Default)]
pub struct Effects {
    /// The latency histogram of the receiver thread.
    pub latency: Latency,
    /// `PONG` frames answering the hub's keepalive `PING`s, to be written.
    pub pongs: BytesMut,
}

impl ListenerScan {
    /// A listener of run `run` whose `WELCOME` said `current_seq` and `max_frame`.
    pub fn new(run: u32, current_seq: Seq, max_frame: u32) -> ListenerScan {
        ListenerScan {
            run,
            max_frame,
            tracker: SeqTracker::starting_after(current_seq),
            carry: Vec::new(),
            warm: false,
            received: 0,
            first_receive_ns: None,
            last_receive_ns: None,
        }
    }

    /// Broadcasts the hub said this listener missed (`LAGGED`).
    pub fn lagged(&self) -> u64 {
        self.tracker.missed()
    }

    /// Jumps in sequence numbers that no `LAGGED` explained.
    pub fn unexplained_gaps(&self) -> u64 {
        self.tracker.unexplained_gaps()
    }

    /// Bytes of an incomplete frame waiting for the next read.
    pub fn carried(&self) -> usize {
        self.carry.len()
    }

    /// Puts what the last block left over at the start of `buf`, making `buf` large
    /// enough for it and a read of [`READ_SIZE`] bytes after it (or, for a frame larger
    /// than that, for the whole frame). Returns where the next read goes.
    pub fn stage(&self, buf: &mut Vec<u8>) -> usize {
        let carried = self.carry.len();
        let frame = self
            .carry
            .get(..LENGTH_LEN)
            .map_or(0, |len| LENGTH_LEN + be_u32(len) as usize);
        let needed = (carried + READ_SIZE).max(frame);
        if buf.len() < needed {
            buf.resize(needed, 0);
        }
        buf[..carried].copy_from_slice(&self.carry);
        carried
    }

    /// Scans `block`, which starts with what [`ListenerScan::stage`] put there, and keeps
    /// its incomplete last frame for the next block. `received_ns` is when the block was
    /// read.
    pub fn scan_block(&mut self, block: &[u8], received_ns: u64, effects: &mut Effects) -> Scanned {
        let mut scanned = Scanned::default();
        let mut latencies = LatencyRun::default();
        let mut at = 0;
        while let Some(len) = block.get(at..at + LENGTH_LEN).map(be_u32) {
            if len == 0 || len > self.max_frame {
                let err = if len == 0 {
                    ProtocolError::EmptyFrame
                } else {
                    ProtocolError::TooLarge {
                        len,
                        max: self.max_frame,
                    }
                };
                scanned.ended = Some(End::Failed(ClientError::Protocol(err).to_string()));
                break;
            }
            let end = at + LENGTH_LEN + len as usize;
            let Some(frame) = block.get(at..end) else {
                break;
            };
            at = end;
            let ended = if frame[LENGTH_LEN] == FrameType::Broadcast as u8 {
                self.broadcast(frame, received_ns, &mut scanned, &mut latencies, effects)
            } else {
                self.other(frame, effects)
            };
            if ended.is_some() {
                scanned.ended = ended;
                break;
            }
        }
        latencies.flush(&mut effects.latency, received_ns);
        self.carry.clear();
        if scanned.ended.is_none() {
            self.carry.extend_from_slice(&block[at..]);
        }
        scanned
    }

    /// One `BROADCAST` frame.
    fn broadcast(
        &mut self,
        frame: &[u8],
        received_ns: u64,
        scanned: &mut Scanned,
        latencies: &mut LatencyRun,
        effects: &mut Effects,
    ) -> Option<End> {
        let Some(body) = frame.get(BODY_AT..) else {
            return Some(malformed("BROADCAST", "shorter than its fixed part"));
        };
        self.tracker
            .observe_broadcast(Seq(be_u64(&frame[SEQ_AT..SEQ_AT + 8])));
        let Some(header) = body.get(..payload::HEADER_LEN) else {
            return None; // not a load message
        };
        if be_u32(&header[16..20]) != self.run {
            return None;
        }
        match header[20] {
            kind if kind == Kind::Measured as u8 => {
                latencies.add(be_u64(&header[..8]), &mut effects.latency, received_ns);
                self.received += 1;
                scanned.measured += 1;
                self.first_receive_ns.get_or_insert(received_ns);
                self.last_receive_ns = Some(received_ns);
                None
            }
            kind if kind == Kind::Marker as u8 => {
                if !self.warm {
                    self.warm = true;
                    scanned.warmed = true;
                }
                None
            }
            kind if kind == Kind::End as u8 => Some(End::Finished),
            _ => None,
        }
    }

    /// Any frame but a `BROADCAST`: rare, so parsed by the protocol crate.
    fn other(&mut self, frame: &[u8], effects: &mut Effects) -> Option<End> {
        let type_byte = frame[LENGTH_LEN];
        let payload = Bytes::copy_from_slice(&frame[HEADER_LEN..]);
        let parsed = match Frame::parse(type_byte, payload) {
            Ok(parsed) => parsed,
            // A later hub may send frame types this client does not know: skipped, as
            // the protocol asks of clients.
            Err(ProtocolError::UnknownType(t)) if t >= 0x80 => return None,
            Err(err) => return Some(End::Failed(ClientError::Protocol(err).to_string())),
        };
        match parsed {
            Frame::Lagged { missed, next_seq } => {
                self.tracker.observe_lagged(missed, next_seq);
                None
            }
            Frame::Ping(nonce) => {
                Frame::Pong(nonce).encode(&mut effects.pongs);
                None
            }
            Frame::Bye { reason, text } => Some(End::Failed(bye(reason, text))),
            Frame::Error { code, text } => Some(End::Failed(
                ClientError::HubError { code, text }.to_string(),
            )),
            // Messages for this client alone, answers, status parts, and the origin of
            // a bridged broadcast: not part of the load.
            Frame::Direct { .. } | Frame::Pong(_) | Frame::Status { .. } | Frame::Origin(_) => None,
            other => Some(End::Failed(
                ClientError::UnexpectedFrame {
                    frame: other.frame_type(),
                    during: "after WELCOME",
                }
                .to_string(),
            )),
        }
    }
}

fn bye(reason: ByeReason, text: String) -> String {
    ClientError::Bye { reason, text }.to_string()
}

fn malformed(frame: &'static str, reason: &'static str) -> End {
    End::Failed(ClientError::Protocol(ProtocolError::Malformed { frame, reason }).to_string())
}

/// Consecutive measured messages with the same send time, recorded in the histogram
/// together.
#[derive(Default)]
struct LatencyRun {
    sent_ns: u64,
    count: u64,
}

impl LatencyRun {
    fn add(&mut self, sent_ns: u64, latency: &mut Latency, received_ns: u64) {
        if sent_ns != self.sent_ns {
            self.flush(latency, received_ns);
            self.sent_ns = sent_ns;
        }
        self.count += 1;
    }

    fn flush(&mut self, latency: &mut Latency, received_ns: u64) {
        if self.count > 0 {
            latency.record_n(received_ns.saturating_sub(self.sent_ns) / 1000, self.count);
            self.count = 0;
        }
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use pipehub_client::protocol::{Broadcast, ClientId, DEFAULT_MAX_FRAME, Origin};
    use proptest::prelude::*;

    use super::*;
    use crate::payload::Encoder;

    const RUN: u32 = 0xfeed_f00d;
    const RECEIVED_NS: u64 = 2_000_000_000_000;

    /// What the hub sends a listener, as the test describes it.
    #[derive(Clone, Debug)]
    enum Item {
        /// A measured message sent at `sent_us` microseconds before [`RECEIVED_NS`].
        Measured {
            sent_us: u64,
            size: usize,
        },
        Marker,
        /// A broadcast of another run, or not a load message at all.
        Foreign {
            len: usize,
        },
        Lagged {
            missed: u64,
        },
        /// A broadcast numbered `skip` too far, with no `LAGGED` to explain it.
        Gap {
            skip: u64,
        },
        Ping {
            nonce: u64,
        },
        Direct,
        /// A bridged broadcast: `ORIGIN`, then a measured message.
        Bridged,
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            8 => (0..4u64, 24..200usize).prop_map(|(sent_us, size)| Item::Measured { sent_us, size }),
            1 => Just(Item::Marker),
            1 => (0..60usize).prop_map(|len| Item::Foreign { len }),
            1 => (1..5u64).prop_map(|missed| Item::Lagged { missed }),
            1 => (1..3u64).prop_map(|skip| Item::Gap { skip }),
            1 => any::<u64>().prop_map(|nonce| Item::Ping { nonce }),
            1 => Just(Item::Direct),
            1 => Just(Item::Bridged),
        ]
    }

    /// What a listener must have seen after `items`.
    #[derive(Debug, Default, PartialEq)]
    struct Expected {
        received: u64,
        warm: bool,
        lagged: u64,
        gaps: u64,
        pongs: BytesMut,
    }

    fn broadcast(out: &mut BytesMut, seq: u64, body: &[u8]) {
        Frame::Broadcast(Broadcast {
            seq: Seq(seq),
            sender: ClientId(3),
            timestamp_us: 1,
            body: Bytes::copy_from_slice(body),
        })
        .encode(out);
    }

    /// The bytes a hub sends for `items` after a `WELCOME` with `current_seq` 10, and
    /// what they must add up to.
    fn stream(items: &[Item], end: bool) -> (BytesMut, Expected) {
        let mut out = BytesMut::new();
        let mut expected = Expected::default();
        let mut seq = 10;
        let mut encoder = Encoder::new(24);
        let sent_ns = |sent_us: u64| RECEIVED_NS - sent_us * 1000;
        for item in items {
            match *item {
                Item::Measured { sent_us, size } => {
                    seq += 1;
                    let body =
                        Encoder::new(size).encode(sent_ns(sent_us), seq, RUN, Kind::Measured);
                    broadcast(&mut out, seq, &body);
                    expected.received += 1;
                }
                Item::Marker => {
                    seq += 1;
                    broadcast(&mut out, seq, &encoder.encode(1, 0, RUN, Kind::Marker));
                    expected.warm = true;
                }
                Item::Foreign { len } => {
                    seq += 1;
                    let mut body = encoder.encode(1, 0, RUN ^ 1, Kind::Measured).to_vec();
                    body.resize(len, b'x');
                    broadcast(&mut out, seq, &body);
                }
                Item::Lagged { missed } => {
                    Frame::Lagged {
                        missed,
                        next_seq: Seq(seq + missed + 1),
                    }
                    .encode(&mut out);
                    seq += missed;
                    expected.lagged += missed;
                }
                Item::Gap { skip } => {
                    seq += skip + 1;
                    broadcast(&mut out, seq, b"after a gap");
                    expected.gaps += 1;
                }
                Item::Ping { nonce } => {
                    Frame::Ping(nonce).encode(&mut out);
                    Frame::Pong(nonce).encode(&mut expected.pongs);
                }
                Item::Direct => Frame::Direct {
                    sender: ClientId::OPERATOR,
                    timestamp_us: 1,
                    body: Bytes::from_static(b"for you alone"),
                }
                .encode(&mut out),
                Item::Bridged => {
                    Frame::Origin(Origin {
                        hub_instance: pipehub_client::protocol::HubInstance(5),
                        seq: Seq(77),
                        sender: ClientId(9),
                        hub_name: "hub-b".into(),
                    })
                    .encode(&mut out);
                    seq += 1;
                    let body = encoder.encode(sent_ns(1), seq, RUN, Kind::Measured);
                    broadcast(&mut out, seq, &body);
                    expected.received += 1;
                }
            }
        }
        if end {
            seq += 1;
            broadcast(&mut out, seq, &encoder.encode(1, 0, RUN, Kind::End));
            // Anything after the end marker is not looked at.
            broadcast(
                &mut out,
                seq + 1,
                &encoder.encode(1, 0, RUN, Kind::Measured),
            );
        }
        (out, expected)
    }

    /// Feeds `bytes` to a listener as reads of the sizes in `cuts` (then the rest), the
    /// way a receiver does: stage, read behind the carry, scan.
    fn feed(bytes: &[u8], cuts: &[usize]) -> (ListenerScan, Effects, Vec<Scanned>) {
        let mut listener = ListenerScan::new(RUN, Seq(10), DEFAULT_MAX_FRAME);
        let mut effects = Effects::default();
        let mut buf = Vec::new();
        let mut scans = Vec::new();
        let mut rest = bytes;
        let mut cuts = cuts.iter();
        while !rest.is_empty() {
            let n = cuts.next().map_or(rest.len(), |&n| n.clamp(1, rest.len()));
            let at = listener.stage(&mut buf);
            buf[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            let scanned = listener.scan_block(&buf[..at + n], RECEIVED_NS, &mut effects);
            let ended = scanned.ended.is_some();
            scans.push(scanned);
            if ended {
                break;
            }
        }
        (listener, effects, scans)
    }

    proptest! {
        #[test]
        fn reads_cut_anywhere_count_what_the_frames_say(
            items in proptest::collection::vec(item(), 0..60),
            cuts in proptest::collection::vec(1..300usize, 0..80),
            end in any::<bool>(),
        ) {
            let (bytes, expected) = stream(&items, end);
            let (listener, effects, scans) = feed(&bytes, &cuts);
            let measured: u64 = scans.iter().map(|s| s.measured).sum();
            let warmed = scans.iter().filter(|s| s.warmed).count();
            let ended: Vec<&End> = scans.iter().filter_map(|s| s.ended.as_ref()).collect();
            prop_assert_eq!(measured, expected.received);
            prop_assert_eq!(listener.received, expected.received);
            prop_assert_eq!(listener.warm, expected.warm);
            prop_assert_eq!(warmed, usize::from(expected.warm));
            prop_assert_eq!(listener.lagged(), expected.lagged);
            prop_assert_eq!(listener.unexplained_gaps(), expected.gaps);
            prop_assert_eq!(&effects.pongs, &expected.pongs);
            prop_assert_eq!(effects.latency.count(), expected.received);
            if end {
                prop_assert_eq!(ended, vec![&End::Finished]);
            } else {
                prop_assert!(ended.is_empty());
                prop_assert_eq!(listener.carried(), 0);
            }
        }
    }

    #[test]
    fn latencies_are_measured_from_the_send_time_in_the_body() {
        let items = [
            Item::Measured {
                sent_us: 3,
                size: 64,
            },
            Item::Measured {
                sent_us: 3,
                size: 64,
            },
            Item::Measured {
                sent_us: 1,
                size: 64,
            },
        ];
        let (bytes, _) = stream(&items, false);
        let (_, effects, _) = feed(&bytes, &[]);
        assert_eq!(effects.latency.count(), 3);
        assert_eq!(effects.latency.quantile(0.5), 3);
        assert_eq!(effects.latency.quantile(1.0), 3);
        assert_eq!(effects.latency.quantile(0.0), 1);
    }

    #[test]
    fn a_message_larger_than_a_read_is_put_together() {
        let size = READ_SIZE + READ_SIZE / 2;
        let (bytes, expected) = stream(&[Item::Measured { sent_us: 1, size }], true);
        let (listener, _, scans) = feed(&bytes, &[READ_SIZE, READ_SIZE]);
        assert_eq!(listener.received, expected.received);
        assert_eq!(
            scans.last().and_then(|s| s.ended.clone()),
            Some(End::Finished)
        );
    }

    #[test]
    fn a_frame_longer_than_the_hubs_limit_ends_the_session() {
        let mut listener = ListenerScan::new(RUN, Seq(0), 256);
        let mut bytes = BytesMut::new();
        broadcast(&mut bytes, 1, &[0; 300]);
        let scanned = listener.scan_block(&bytes[..8], RECEIVED_NS, &mut Effects::default());
        let Some(End::Failed(why)) = scanned.ended else {
            panic!("{scanned:?}");
        };
        assert!(
            why.contains("exceeds the maximum frame size of 256"),
            "{why}"
        );
    }

    #[test]
    fn the_hubs_bye_ends_the_session_with_its_reason() {
        let mut bytes = BytesMut::new();
        Frame::Bye {
            reason: ByeReason::KICKED,
            text: "maintenance".into(),
        }
        .encode(&mut bytes);
        let (_, _, scans) = feed(&bytes, &[]);
        let Some(End::Failed(why)) = scans.last().and_then(|s| s.ended.clone()) else {
            panic!("{scans:?}");
        };
        assert!(why.contains("maintenance"), "{why}");
    }

    #[test]
    fn a_broadcast_shorter_than_its_fixed_part_is_a_protocol_error() {
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&[0, 0, 0, 9, FrameType::Broadcast as u8]);
        bytes.extend_from_slice(&[0; 8]);
        let (_, _, scans) = feed(&bytes, &[]);
        assert!(
            matches!(scans.last().and_then(|s| s.ended.clone()), Some(End::Failed(why)) if why.contains("malformed BROADCAST")),
            "{scans:?}"
        );
    }
}
