//! The broadcast log: the last `queue_frames` broadcasts, encoded once, shared by every
//! client.
//!
//! A broadcast is appended once, as the exact `BROADCAST` frame bytes; a client is only a
//! cursor (the next sequence number it must be sent). Its writer copies out refcounted
//! handles to a run of frames and sends them in one vectored write, so the cost of a
//! broadcast does not grow with the number of clients beyond one wake-up for each idle
//! one. The log is bounded by frame count and by bytes; a cursor older than the oldest
//! retained frame has missed exactly `oldest - cursor` broadcasts.
//!
//! An entry of the log is one broadcast: its `BROADCAST` frame, preceded by an `ORIGIN`
//! frame when the broadcast came from another hub over the bridge. Writers send whole
//! entries, so the two frames are never separated.
//!
//! The lock is held only to push a frame, to clone a run of `Bytes` handles, or across
//! one non-blocking vectored write straight from the log (`write_from`), never across an
//! `.await`.

use std::{
    collections::VecDeque,
    convert::Infallible,
    io::{self, IoSlice},
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use bytes::BytesMut;
use pipehub_protocol::{BROADCAST_BODY_OFFSET, ClientId, FrameType, LENGTH_LEN, Seq};
use tokio::sync::Notify;

/// The shared, bounded log of encoded broadcasts.
pub(crate) struct BroadcastLog {
    ring: RwLock<Ring>,
    /// The sequence number of the newest broadcast (0: none yet). Read without the lock
    /// by writers deciding whether to sleep.
    tail: AtomicU64,
    /// Woken after every append.
    appended: Notify,
    /// Bytes of broadcast bodies published, ever.
    body_bytes: AtomicU64,
    /// Broadcast frames taken by client writers, ever (one per client per broadcast).
    deliveries: AtomicU64,
    max_frames: usize,
    max_bytes: usize,
}

struct Ring {
    frames: VecDeque<Bytes>,
    /// The sequence number of `frames[0]`.
    first: u64,
    bytes: usize,
}

impl Ring {
    /// The oldest sequence number the log would keep once a frame of `size` bytes is
    /// added: the newest `max_frames` frames within `max_bytes`, and always the new one.
    fn first_kept_after_adding(&self, size: usize, max_frames: usize, max_bytes: usize) -> u64 {
        let mut frames = self.frames.len() + 1;
        let mut bytes = self.bytes + size;
        let mut first = self.first;
        for frame in &self.frames {
            if frames <= max_frames && bytes <= max_bytes {
                break;
            }
            frames -= 1;
            bytes -= frame.len();
            first += 1;
        }
        first
    }
}

/// [`BroadcastLog::try_publish`] found no room: appending would evict a broadcast a live
/// listener still needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full {
    /// The append fits once every live listener's cursor is at least this.
    pub(crate) needed: u64,
}

/// Where the log would start once an entry is added: the oldest sequence number it keeps
/// to stay within its bounds, and to stay within twice them.
#[derive(Clone, Copy)]
struct Keep {
    within_bounds: u64,
    within_twice_the_bounds: u64,
}

impl Keep {
    /// Evict whatever the bounds require, whoever still needs it.
    fn bounded(self) -> Result<u64, Infallible> {
        Ok(self.within_bounds)
    }
}

/// What [`BroadcastLog::read`] found at a cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// `n` frames were appended to the output; the cursor moves by `n`.
    Frames(usize),
    /// The cursor fell behind the oldest retained frame: `missed` broadcasts are gone,
    /// and reading continues at `next`.
    Lagged { missed: u64, next: u64 },
    /// Nothing at or after the cursor yet.
    Empty,
}

impl BroadcastLog {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> BroadcastLog {
        BroadcastLog {
            ring: RwLock::new(Ring {
                frames: VecDeque::new(),
                first: 1,
                bytes: 0,
            }),
            tail: AtomicU64::new(0),
            appended: Notify::new(),
            body_bytes: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// The sequence number of the newest broadcast (0 if none yet).
    pub(crate) fn tail(&self) -> u64 {
        self.tail.load(Ordering::Acquire)
    }

    /// How many frames the log holds now.
    pub(crate) fn len(&self) -> usize {
        self.ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .frames
            .len()
    }

    /// The sequence number of the oldest broadcast the log holds (`tail + 1` if none): a
    /// cursor below it has missed `first - cursor` broadcasts.
    pub(crate) fn first(&self) -> u64 {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).first
    }

    /// Bytes of broadcast bodies published so far.
    pub(crate) fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }

    /// Broadcast frames taken by client writers so far.
    pub(crate) fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::Relaxed)
    }

    /// Counts `n` frames taken by one client's writer.
    pub(crate) fn count_deliveries(&self, n: usize) {
        self.deliveries.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The oldest sequence number a connecting client may have replayed: within the
    /// newest `max_frames` broadcasts and `max_bytes` of them. `tail + 1` if none.
    pub(crate) fn replay_floor(&self, max_frames: usize, max_bytes: usize) -> u64 {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let mut floor = ring.first + ring.frames.len() as u64;
        let mut bytes = 0;
        for frame in ring.frames.iter().rev().take(max_frames) {
            bytes += frame.len();
            if bytes > max_bytes {
                break;
            }
            floor -= 1;
        }
        floor
    }

    /// A future that completes at the next append; see [`Notify::notified`] for the
    /// enable-then-check pattern that avoids missing one.
    pub(crate) fn appended(&self) -> &Notify {
        &self.appended
    }

    /// Encodes `body` as the next broadcast and appends it, whoever is behind. Returns its
    /// sequence number.
    pub(crate) fn publish(&self, sender: ClientId, body: &[u8]) -> Seq {
        let Ok(seq) = self.append(&[], sender, now_us(), body, Keep::bounded);
        seq
    }

    /// Encodes `body` as the next broadcast and appends it at once, but evicts nothing at
    /// or after `gate` unless the log is over twice its bounds: the log stretches to hold
    /// it rather than push a live listener's next broadcast out. For what may not wait and
    /// comes at a person's pace (a line typed at the console). Returns its sequence number.
    pub(crate) fn publish_stretching(&self, sender: ClientId, body: &[u8], gate: u64) -> Seq {
        let Ok(seq) = self.append(&[], sender, now_us(), body, |keep| {
            Ok::<_, Infallible>(
                keep.within_bounds
                    .min(gate)
                    .max(keep.within_twice_the_bounds),
            )
        });
        seq
    }

    /// Appends `body` as the next broadcast only if that evicts no broadcast at or after
    /// `gate` (the oldest one a live listener still needs); otherwise appends nothing and
    /// says how far the listeners must get first.
    pub(crate) fn try_publish(
        &self,
        sender: ClientId,
        body: &[u8],
        gate: u64,
    ) -> Result<Seq, Full> {
        self.append(&[], sender, now_us(), body, |keep| {
            if keep.within_bounds > gate {
                Err(Full {
                    needed: keep.within_bounds,
                })
            } else {
                Ok(keep.within_bounds)
            }
        })
    }

    /// Appends a broadcast that came from another hub: `origin_frame` (its `ORIGIN`
    /// frame), then the `BROADCAST` of `body` from [`ClientId::REMOTE`] with this hub's
    /// next sequence number and the origin's timestamp. Returns the sequence number.
    /// Never waits for listeners: the other hub cannot be paced.
    // Only the bridge appends other hubs' broadcasts (the `bridge` feature).
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    pub(crate) fn publish_remote(
        &self,
        origin_frame: &[u8],
        timestamp_us: u64,
        body: &[u8],
    ) -> Seq {
        let Ok(seq) = self.append(
            origin_frame,
            ClientId::REMOTE,
            timestamp_us,
            body,
            Keep::bounded,
        );
        seq
    }

    /// Appends one entry: `prefix` (empty, or an `ORIGIN` frame), then the broadcast.
    /// `keep_from` decides, from where the log would start within its bounds (and within
    /// twice them), the oldest sequence number to keep: everything before it is evicted.
    /// Or it refuses, and nothing is appended.
    fn append<E>(
        &self,
        prefix: &[u8],
        sender: ClientId,
        timestamp_us: u64,
        body: &[u8],
        keep_from: impl FnOnce(Keep) -> Result<u64, E>,
    ) -> Result<Seq, E> {
        let size = prefix.len() + BROADCAST_BODY_OFFSET + body.len();
        let seq = {
            let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
            let (frames, bytes) = (self.max_frames, self.max_bytes);
            let kept = keep_from(Keep {
                within_bounds: ring.first_kept_after_adding(size, frames, bytes),
                within_twice_the_bounds: ring.first_kept_after_adding(
                    size,
                    frames.saturating_mul(2),
                    bytes.saturating_mul(2),
                ),
            })?;
            let seq = ring.first + ring.frames.len() as u64;
            // Encoded under the lock: the frame carries the sequence number, and frames
            // must enter the log in sequence order.
            let frame = encode_entry(prefix, Seq(seq), sender, timestamp_us, body);
            ring.bytes += frame.len();
            ring.frames.push_back(frame);
            while ring.first < kept {
                if let Some(old) = ring.frames.pop_front() {
                    ring.bytes -= old.len();
                }
                ring.first += 1;
            }
            self.tail.store(seq, Ordering::Release);
            seq
        };
        self.body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.appended.notify_waiters();
        Ok(Seq(seq))
    }

    /// Appends to `out` handles to the frames from sequence number `cursor` on, at most
    /// `max_frames` of them and stopping once `max_bytes` is reached.
    pub(crate) fn read(
        &self,
        cursor: u64,
        out: &mut VecDeque<Bytes>,
        max_frames: usize,
        max_bytes: usize,
    ) -> Read {
        if cursor > self.tail() {
            return Read::Empty;
        }
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        if cursor < ring.first {
            return Read::Lagged {
                missed: ring.first - cursor,
                next: ring.first,
            };
        }
        let start = (cursor - ring.first) as usize;
        let mut taken = 0;
        let mut bytes = 0;
        for frame in ring.frames.range(start..).take(max_frames) {
            if taken > 0 && bytes + frame.len() > max_bytes {
                break;
            }
            bytes += frame.len();
            taken += 1;
            out.push_back(frame.clone());
        }
        if taken == 0 {
            Read::Empty
        } else {
            Read::Frames(taken)
        }
    }
}

/// What [`BroadcastLog::write_from`] did.
#[derive(Debug)]
pub(crate) enum Written {
    /// `frames` whole frames went out; `rest` is what is left of a frame the write cut
    /// short (the caller owns it now and sends it next).
    Frames { frames: usize, rest: Option<Bytes> },
    /// The cursor fell behind the log (see [`Read::Lagged`]); nothing was written.
    Behind,
    /// Nothing at or after the cursor yet.
    Empty,
}

impl BroadcastLog {
    /// Writes up to `max_frames` frames from `cursor` on straight out of the log with
    /// one vectored `write`, without taking a handle to any of them: the common case of
    /// a writer that keeps up costs no reference counting per frame. Only a frame the
    /// write cuts short is handed back, as an owned rest.
    ///
    /// The read lock is held across `write`, which must be a non-blocking call (a
    /// `try_write_vectored`): it never waits, and a publisher waits at most for the
    /// writes already in progress.
    pub(crate) fn write_from(
        &self,
        cursor: u64,
        max_frames: usize,
        write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<Written> {
        if cursor > self.tail() {
            return Ok(Written::Empty);
        }
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        if cursor < ring.first {
            return Ok(Written::Behind);
        }
        let start = (cursor - ring.first) as usize;
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let mut count = 0;
        for (slot, frame) in slices
            .iter_mut()
            .zip(ring.frames.range(start..).take(max_frames))
        {
            *slot = IoSlice::new(frame);
            count += 1;
        }
        if count == 0 {
            return Ok(Written::Empty);
        }
        let mut written = write(&slices[..count])?;
        let mut frames = 0;
        for frame in ring.frames.range(start..start + count) {
            if written >= frame.len() {
                written -= frame.len();
                frames += 1;
            } else {
                let rest = (written > 0).then(|| frame.slice(written..));
                return Ok(Written::Frames { frames, rest });
            }
        }
        Ok(Written::Frames { frames, rest: None })
    }
}

/// One log entry: `prefix`, then a `BROADCAST` frame, in one buffer.
fn encode_entry(
    prefix: &[u8],
    seq: Seq,
    sender: ClientId,
    timestamp_us: u64,
    body: &[u8],
) -> Bytes {
    let mut dst = BytesMut::with_capacity(prefix.len() + BROADCAST_BODY_OFFSET + body.len());
    dst.extend_from_slice(prefix);
    pipehub_protocol::put_broadcast_frame(&mut dst, seq, sender, timestamp_us, body);
    dst.freeze()
}

/// The `BROADCAST` frame of a log entry: the entry without its `ORIGIN` frame, if any.
pub(crate) fn broadcast_of(entry: &[u8]) -> &[u8] {
    if entry.get(LENGTH_LEN) == Some(&(FrameType::Origin as u8)) {
        let len = entry
            .first_chunk::<LENGTH_LEN>()
            .map_or(0, |len| u32::from_be_bytes(*len) as usize);
        entry.get(LENGTH_LEN + len..).unwrap_or_default()
    } else {
        entry
    }
}

/// Most frames in one vectored write.
pub(crate) const WRITE_SLICES: usize = 128;

/// Microseconds since the Unix epoch: the protocol's timestamps.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use pipehub_protocol::{Frame, FrameCodec};

    /// Decodes the frames in `frames` with the protocol's own parser.
    fn decode_all(frames: &VecDeque<Bytes>) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        for f in frames {
            buf.extend_from_slice(f);
        }
        let codec = FrameCodec::default();
        let mut out = Vec::new();
        while let Some(size) = codec.frame_size(&buf).expect("valid frames") {
            let frame = buf.split_to(size).freeze();
            out.push(Frame::parse(frame[4], frame.slice(5..)).expect("parse"));
        }
        out
    }

    fn seqs(frames: &[Frame]) -> Vec<u64> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Broadcast(b) => b.seq.0,
                other => panic!("not a broadcast: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn sequence_numbers_start_at_one_and_are_consecutive() {
        let log = BroadcastLog::new(16, usize::MAX);
        assert_eq!(log.tail(), 0);
        for i in 1..=5 {
            assert_eq!(log.publish(ClientId::OPERATOR, b"x"), Seq(i));
        }
        let mut out = VecDeque::new();
        assert_eq!(log.read(1, &mut out, 100, usize::MAX), Read::Frames(5));
        assert_eq!(seqs(&decode_all(&out)), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn read_past_the_tail_is_empty() {
        let log = BroadcastLog::new(16, usize::MAX);
        let mut out = VecDeque::new();
        assert_eq!(log.read(1, &mut out, 10, usize::MAX), Read::Empty);
        log.publish(ClientId(3), b"hello");
        assert_eq!(log.read(2, &mut out, 10, usize::MAX), Read::Empty);
        assert!(out.is_empty());
    }

    #[test]
    fn a_cursor_behind_the_oldest_frame_is_told_the_exact_loss() {
        let log = BroadcastLog::new(4, usize::MAX);
        for _ in 0..10 {
            log.publish(ClientId::OPERATOR, b"m");
        }
        let mut out = VecDeque::new();
        // Frames 7..=10 remain; a cursor at 2 missed 2..=6.
        assert_eq!(
            log.read(2, &mut out, 10, usize::MAX),
            Read::Lagged { missed: 5, next: 7 }
        );
        assert_eq!(log.read(7, &mut out, 10, usize::MAX), Read::Frames(4));
        assert_eq!(seqs(&decode_all(&out)), vec![7, 8, 9, 10]);
    }

    #[test]
    fn the_byte_bound_evicts_but_keeps_the_newest_frame() {
        let log = BroadcastLog::new(100, 100);
        log.publish(ClientId::OPERATOR, &[0; 60]);
        log.publish(ClientId::OPERATOR, &[0; 60]);
        assert_eq!(log.len(), 1);
        log.publish(ClientId::OPERATOR, &[0; 500]);
        assert_eq!(log.len(), 1);
        let mut out = VecDeque::new();
        assert_eq!(log.read(3, &mut out, 10, usize::MAX), Read::Frames(1));
    }

    #[test]
    fn replay_reaches_back_by_count_and_by_bytes() {
        let log = BroadcastLog::new(100, usize::MAX);
        assert_eq!(log.replay_floor(10, usize::MAX), 1, "nothing to replay yet");
        for _ in 0..20 {
            log.publish(ClientId::OPERATOR, &[1; 71]); // 100-byte frames
        }
        assert_eq!(log.replay_floor(5, usize::MAX), 16);
        assert_eq!(log.replay_floor(0, usize::MAX), 21, "replay disabled");
        assert_eq!(log.replay_floor(50, usize::MAX), 1, "only what is retained");
        assert_eq!(
            log.replay_floor(50, 350),
            18,
            "three frames fit in 350 bytes"
        );
    }

    #[test]
    fn write_from_sends_whole_frames_and_hands_back_a_cut_one() {
        let log = BroadcastLog::new(16, usize::MAX);
        for _ in 0..3 {
            log.publish(ClientId::OPERATOR, &[7; 71]); // 100-byte frames
        }
        let mut sent = Vec::new();
        let written = log
            .write_from(1, 10, |slices| {
                assert_eq!(slices.len(), 3);
                for s in slices {
                    sent.extend_from_slice(s);
                }
                Ok(250)
            })
            .unwrap();
        match written {
            Written::Frames {
                frames: 2,
                rest: Some(rest),
            } => {
                assert_eq!(rest.len(), 50);
                assert_eq!(&rest[..], &sent[250..300]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            log.write_from(4, 10, |_| unreachable!("nothing to write"))
                .unwrap(),
            Written::Empty
        ));
        let would_block = log.write_from(1, 10, |_| Err(io::ErrorKind::WouldBlock.into()));
        assert_eq!(would_block.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_paced_append_evicts_nothing_at_or_after_the_gate() {
        let log = BroadcastLog::new(4, usize::MAX);
        for _ in 0..4 {
            log.publish(ClientId::OPERATOR, b"m");
        }
        // The log is full: the next append evicts #1, which a cursor at 1 still needs.
        assert_eq!(
            log.try_publish(ClientId(5), b"m", 1),
            Err(Full { needed: 2 })
        );
        assert_eq!(log.tail(), 4, "nothing was appended");
        assert_eq!(log.try_publish(ClientId(5), b"m", 2), Ok(Seq(5)));
        assert_eq!(log.first(), 2);
    }

    #[test]
    fn a_paced_append_respects_the_byte_bound_too() {
        let log = BroadcastLog::new(100, 250);
        log.publish(ClientId::OPERATOR, &[0; 71]); // 100-byte frames
        log.publish(ClientId::OPERATOR, &[0; 71]);
        assert_eq!(
            log.try_publish(ClientId(5), &[0; 171], 2),
            Err(Full { needed: 3 }),
            "a 200-byte frame fits only once both others are gone"
        );
        assert_eq!(log.try_publish(ClientId(5), &[0; 171], 3), Ok(Seq(3)));
        assert_eq!((log.first(), log.len()), (3, 1));
    }

    #[test]
    fn a_stretching_append_keeps_what_the_gate_protects_up_to_twice_the_bounds() {
        let log = BroadcastLog::new(4, usize::MAX);
        for _ in 0..8 {
            log.publish_stretching(ClientId::OPERATOR, b"m", 1);
        }
        assert_eq!(
            (log.first(), log.len()),
            (1, 8),
            "stretched, nothing evicted"
        );
        log.publish_stretching(ClientId::OPERATOR, b"m", 1);
        assert_eq!(
            (log.first(), log.len()),
            (2, 8),
            "never past twice the bounds"
        );
        log.publish_stretching(ClientId::OPERATOR, b"m", 10);
        assert_eq!(
            (log.first(), log.len()),
            (7, 4),
            "back within bounds once allowed"
        );
    }

    #[test]
    fn reads_stop_at_the_frame_and_byte_limits() {
        let log = BroadcastLog::new(100, usize::MAX);
        for _ in 0..10 {
            log.publish(ClientId::OPERATOR, &[1; 71]); // 100-byte frames
        }
        let mut out = VecDeque::new();
        assert_eq!(log.read(1, &mut out, 3, usize::MAX), Read::Frames(3));
        out.clear();
        assert_eq!(log.read(1, &mut out, 100, 250), Read::Frames(2));
        out.clear();
        // At least one frame, even if it alone is over the byte limit.
        assert_eq!(log.read(1, &mut out, 100, 10), Read::Frames(1));
    }
}
