//! The broadcast log: the last `queue_frames` broadcasts, encoded once, shared by every
//! client.
//!
//! A broadcast is appended once, as the exact `BROADCAST` frame bytes; a client is only a
//! cursor (the next sequence number it must be sent). The log's entries follow each other
//! in one byte stream, stored in segments: small entries are packed one after another
//! into segments of [`SEGMENT_BYTES`], a large one has a segment of its own. A writer
//! that is behind sends everything from its cursor on with one vectored write of a few
//! long slices straight out of the log, however many broadcasts that is: no handle is
//! taken and nothing is copied per broadcast or per client, and the kernel copies a few
//! long runs instead of one short slice per broadcast (which cost more than the copying
//! itself). So the cost of a broadcast does not grow with the number of clients beyond
//! one wake-up for each idle one. The log is bounded by entry count and by bytes; a
//! cursor older than the oldest retained entry has missed exactly `oldest - cursor`
//! broadcasts.
//!
//! An entry of the log is one broadcast: its `BROADCAST` frame, preceded by an `ORIGIN`
//! frame when the broadcast came from another hub over the bridge. Writers count whole
//! entries, so the two frames are never separated.
//!
//! The lock is held only to append an entry, to look at a run of entries, or across one
//! non-blocking vectored write straight from the log (`write_from`), never across an
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

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{BROADCAST_BODY_OFFSET, ClientId, FrameType, LENGTH_LEN, Seq};
use tokio::sync::Notify;

/// The size of a segment small entries are packed into.
pub(crate) const SEGMENT_BYTES: usize = 64 * 1024;

/// The largest entry packed into a shared segment; a larger one has a segment of its
/// own. What is left of a packed entry that a write cut short is copied, so a client
/// never holds a whole shared segment for the sake of one entry.
const PACKED_MAX: usize = 16 * 1024;

/// Most slices in one vectored write straight from the log: with segments of 64 KiB,
/// far more than a socket buffer takes.
const WRITE_SLICES: usize = 64;

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

/// The retained entries, as positions in the log's byte stream and the segments that
/// hold those bytes.
struct Ring {
    /// Where each retained entry starts in the stream; `starts[0]` is entry `first`.
    starts: VecDeque<u64>,
    /// The sequence number of `starts[0]` (of the next entry, while none is retained).
    first: u64,
    /// Where the stream ends: just past the newest entry.
    end: u64,
    /// Segments no longer appended to, oldest first, each with where it starts.
    sealed: VecDeque<(u64, Bytes)>,
    /// The segment small entries are packed into now; it ends at `end`. Never grown
    /// past its capacity: a full one is sealed and a new one begun.
    open: Vec<u8>,
}

impl Ring {
    /// Where the open segment starts in the stream.
    fn open_start(&self) -> u64 {
        self.end - self.open.len() as u64
    }

    /// Where entry `index` (counted from `first`) ends.
    fn end_of(&self, index: usize) -> u64 {
        self.starts.get(index + 1).copied().unwrap_or(self.end)
    }

    /// The sealed segment holding stream position `at`, with where it starts; `None` if
    /// `at` is in the open segment.
    fn sealed_at(&self, at: u64) -> Option<&(u64, Bytes)> {
        if at >= self.open_start() {
            return None;
        }
        let i = self
            .sealed
            .partition_point(|(start, segment)| start + segment.len() as u64 <= at);
        self.sealed.get(i)
    }

    /// The stream's bytes from `from` to `to`, both within one entry.
    fn bytes(&self, from: u64, to: u64) -> &[u8] {
        let (start, segment): (u64, &[u8]) = match self.sealed_at(from) {
            Some((start, segment)) => (*start, segment),
            None => (self.open_start(), &self.open),
        };
        segment
            .get((from - start) as usize..(to - start) as usize)
            .unwrap_or_default()
    }

    /// The bytes from `from` to the end of entry `index`, owned: a handle to a large
    /// entry's own segment, a copy of (part of) a packed one.
    fn owned_rest(&self, from: u64, index: usize) -> Bytes {
        let (start, to) = (self.starts[index], self.end_of(index));
        match self.sealed_at(from) {
            Some((segment_start, segment)) if (to - start) as usize > PACKED_MAX => {
                segment.slice((from - segment_start) as usize..(to - segment_start) as usize)
            }
            _ => Bytes::copy_from_slice(self.bytes(from, to)),
        }
    }

    /// Fills `out` with the stream's bytes from `from` to its end, one slice per
    /// segment, as many as fit; returns how many it filled.
    fn slices_from<'a>(&'a self, from: u64, out: &mut [IoSlice<'a>]) -> usize {
        let first = self
            .sealed
            .partition_point(|(start, segment)| start + segment.len() as u64 <= from);
        let segments = self
            .sealed
            .range(first..)
            .map(|(start, segment)| (*start, &segment[..]))
            .chain((!self.open.is_empty()).then(|| (self.open_start(), &self.open[..])));
        let mut count = 0;
        for (slot, (start, segment)) in out.iter_mut().zip(segments) {
            let skip = from.saturating_sub(start) as usize;
            *slot = IoSlice::new(segment.get(skip..).unwrap_or_default());
            count += 1;
        }
        count
    }

    /// The oldest sequence number the log would keep once an entry of `size` bytes is
    /// added: the newest `max_frames` entries within `max_bytes`, and always the new one.
    fn first_kept_after_adding(&self, size: usize, max_frames: usize, max_bytes: usize) -> u64 {
        let retained = self.starts.len();
        let by_count = (retained + 1).saturating_sub(max_frames);
        let end = self.end + size as u64;
        let by_bytes = self
            .starts
            .partition_point(|&start| end - start > max_bytes as u64);
        self.first + by_count.max(by_bytes).min(retained) as u64
    }

    /// Appends one entry, `prefix` then the `BROADCAST` frame: packed into the open
    /// segment if it is small, in a segment of its own if not.
    fn push(&mut self, prefix: &[u8], seq: Seq, sender: ClientId, timestamp_us: u64, body: &[u8]) {
        let size = prefix.len() + BROADCAST_BODY_OFFSET + body.len();
        let start = self.end;
        if size > PACKED_MAX {
            self.seal();
            let mut own = BytesMut::with_capacity(size);
            own.extend_from_slice(prefix);
            pipehub_protocol::put_broadcast_frame(&mut own, seq, sender, timestamp_us, body);
            self.sealed.push_back((start, own.freeze()));
        } else {
            if self.open.len() + size > self.open.capacity() {
                self.seal();
                self.open.reserve_exact(SEGMENT_BYTES);
            }
            self.open.extend_from_slice(prefix);
            pipehub_protocol::put_broadcast_frame(&mut self.open, seq, sender, timestamp_us, body);
        }
        self.end = start + size as u64;
        self.starts.push_back(start);
    }

    /// Seals the open segment, if it holds anything; the next small entry begins a new one.
    fn seal(&mut self) {
        if !self.open.is_empty() {
            let start = self.open_start();
            self.sealed
                .push_back((start, Bytes::from(std::mem::take(&mut self.open))));
        }
    }

    /// Drops the entries before sequence number `kept`, and the segments that held only them.
    fn evict_before(&mut self, kept: u64) {
        while self.first < kept && self.starts.pop_front().is_some() {
            self.first += 1;
        }
        let oldest = self.starts.front().copied().unwrap_or(self.end);
        while self
            .sealed
            .front()
            .is_some_and(|(start, segment)| start + segment.len() as u64 <= oldest)
        {
            self.sealed.pop_front();
        }
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
    /// `n` entries were read; the cursor moves by `n`.
    Frames(usize),
    /// The cursor fell behind the oldest retained entry: `missed` broadcasts are gone,
    /// and reading continues at `next`.
    Lagged { missed: u64, next: u64 },
    /// Nothing at or after the cursor yet.
    Empty,
}

/// What [`BroadcastLog::write_from`] did.
#[derive(Debug)]
pub(crate) enum Written {
    /// `frames` whole entries went out; `rest` is what is left of one the write cut
    /// short (the caller owns it now and sends it next).
    Frames { frames: usize, rest: Option<Bytes> },
    /// The cursor fell behind the log (see [`Read::Lagged`]); nothing was written.
    Lagged { missed: u64, next: u64 },
    /// Nothing at or after the cursor yet.
    Empty,
}

impl BroadcastLog {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> BroadcastLog {
        BroadcastLog {
            ring: RwLock::new(Ring {
                starts: VecDeque::new(),
                first: 1,
                end: 0,
                sealed: VecDeque::new(),
                open: Vec::new(),
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

    /// How many entries the log holds now.
    pub(crate) fn len(&self) -> usize {
        self.ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .starts
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
        let by_count = ring.starts.len().saturating_sub(max_frames);
        let by_bytes = ring
            .starts
            .partition_point(|&start| ring.end - start > max_bytes as u64);
        ring.first + by_count.max(by_bytes) as u64
    }

    /// A future that completes at the next append; see [`Notify::notified`] for the
    /// enable-then-check pattern that avoids missing one.
    pub(crate) fn appended(&self) -> &Notify {
        &self.appended
    }

    /// Encodes `body` as the next broadcast and appends it, whoever is behind, and wakes
    /// the listeners. Returns its sequence number.
    pub(crate) fn publish(&self, sender: ClientId, body: &[u8]) -> Seq {
        let Ok(seq) = self.append(&[], sender, now_us(), body, Keep::bounded);
        self.wake_listeners();
        seq
    }

    /// Encodes `body` as the next broadcast and appends it at once, but evicts nothing at
    /// or after `gate` unless the log is over twice its bounds: the log stretches to hold
    /// it rather than push a live listener's next broadcast out. For what may not wait and
    /// comes at a person's pace (a line typed at the console). Wakes the listeners;
    /// returns its sequence number.
    pub(crate) fn publish_stretching(&self, sender: ClientId, body: &[u8], gate: u64) -> Seq {
        let Ok(seq) = self.append(&[], sender, now_us(), body, |keep| {
            Ok::<_, Infallible>(
                keep.within_bounds
                    .min(gate)
                    .max(keep.within_twice_the_bounds),
            )
        });
        self.wake_listeners();
        seq
    }

    /// Appends `body` as the next broadcast only if that evicts no broadcast at or after
    /// `gate` (the oldest one a live listener still needs; `None`: whoever is behind);
    /// otherwise appends nothing and says how far the listeners must get first.
    ///
    /// Does not wake the listeners: a publisher appends everything it has read, then
    /// wakes them once ([`BroadcastLog::wake_listeners`]), so that each writes the whole
    /// batch at once rather than a broadcast at a time as they come.
    pub(crate) fn try_publish(
        &self,
        sender: ClientId,
        body: &[u8],
        gate: Option<u64>,
    ) -> Result<Seq, Full> {
        self.append(&[], sender, now_us(), body, |keep| match gate {
            Some(gate) if keep.within_bounds > gate => Err(Full {
                needed: keep.within_bounds,
            }),
            _ => Ok(keep.within_bounds),
        })
    }

    /// Wakes every listener waiting for a broadcast after those appended.
    pub(crate) fn wake_listeners(&self) {
        self.appended.notify_waiters();
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
        self.wake_listeners();
        seq
    }

    /// Appends one entry: `prefix` (empty, or an `ORIGIN` frame), then the broadcast, and
    /// wakes nobody. `keep_from` decides, from where the log would start within its bounds (and within
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
            let seq = ring.first + ring.starts.len() as u64;
            // Encoded under the lock: the frame carries the sequence number, and entries
            // must enter the log in sequence order.
            ring.push(prefix, Seq(seq), sender, timestamp_us, body);
            ring.evict_before(kept);
            self.tail.store(seq, Ordering::Release);
            seq
        };
        self.body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(Seq(seq))
    }

    /// Shows `visit` the entries from sequence number `cursor` on, at most `max_frames`
    /// of them and stopping once `max_bytes` is reached (at least one is shown). The
    /// lock is held meanwhile: `visit` must be quick.
    pub(crate) fn read(
        &self,
        cursor: u64,
        max_frames: usize,
        max_bytes: usize,
        mut visit: impl FnMut(&[u8]),
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
        let stop = ring.starts.len().min(start.saturating_add(max_frames));
        let mut taken = 0;
        let mut bytes = 0;
        for index in start..stop {
            let (from, to) = (ring.starts[index], ring.end_of(index));
            let size = (to - from) as usize;
            if taken > 0 && bytes + size > max_bytes {
                break;
            }
            visit(ring.bytes(from, to));
            bytes += size;
            taken += 1;
        }
        if taken == 0 {
            Read::Empty
        } else {
            Read::Frames(taken)
        }
    }

    /// Writes everything from `cursor` on straight out of the log with one vectored
    /// `write` (one slice per segment), without taking a handle to any entry: a writer
    /// that keeps up costs no reference counting and no copy per broadcast. Only an entry
    /// the write cuts short is handed back, as an owned rest.
    ///
    /// The read lock is held across `write`, which must be a non-blocking call (a
    /// `try_write_vectored`): it never waits, and a publisher waits at most for the
    /// writes already in progress.
    pub(crate) fn write_from(
        &self,
        cursor: u64,
        write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<Written> {
        if cursor > self.tail() {
            return Ok(Written::Empty);
        }
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        if cursor < ring.first {
            return Ok(Written::Lagged {
                missed: ring.first - cursor,
                next: ring.first,
            });
        }
        let index = (cursor - ring.first) as usize;
        let Some(&from) = ring.starts.get(index) else {
            return Ok(Written::Empty);
        };
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let count = ring.slices_from(from, &mut slices);
        let at = from + write(&slices[..count])? as u64;
        // Entries that start at or before `at`: every one before the last is written
        // whole, and so is the last if `at` is where it starts.
        let started = ring.starts.partition_point(|&start| start <= at);
        let last = started - 1;
        if at == ring.end {
            return Ok(Written::Frames {
                frames: started - index,
                rest: None,
            });
        }
        let rest = (ring.starts[last] < at).then(|| ring.owned_rest(at, last));
        Ok(Written::Frames {
            frames: last - index,
            rest,
        })
    }
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

/// Microseconds since the Unix epoch: the protocol's timestamps.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipehub_protocol::{Frame, FrameCodec};

    /// Decodes the frames in `frames` with the protocol's own parser.
    fn decode_all(frames: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(frames);
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
        let mut out = Vec::new();
        assert_eq!(
            log.read(1, 100, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Frames(5)
        );
        assert_eq!(seqs(&decode_all(&out)), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn read_past_the_tail_is_empty() {
        let log = BroadcastLog::new(16, usize::MAX);
        let mut out = Vec::new();
        assert_eq!(
            log.read(1, 10, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Empty
        );
        log.publish(ClientId(3), b"hello");
        assert_eq!(
            log.read(2, 10, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Empty
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_cursor_behind_the_oldest_frame_is_told_the_exact_loss() {
        let log = BroadcastLog::new(4, usize::MAX);
        for _ in 0..10 {
            log.publish(ClientId::OPERATOR, b"m");
        }
        let mut out = Vec::new();
        // Frames 7..=10 remain; a cursor at 2 missed 2..=6.
        assert_eq!(
            log.read(2, 10, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Lagged { missed: 5, next: 7 }
        );
        assert_eq!(
            log.read(7, 10, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Frames(4)
        );
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
        let mut out = Vec::new();
        assert_eq!(
            log.read(3, 10, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Frames(1)
        );
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

    /// Everything `write_from` offers at `cursor`, with a writer that takes `take` bytes.
    fn write_some(log: &BroadcastLog, cursor: u64, take: usize) -> (Vec<u8>, usize, Written) {
        let mut offered = Vec::new();
        let mut slices_used = 0;
        let written = log
            .write_from(cursor, |slices| {
                slices_used = slices.len();
                for s in slices {
                    offered.extend_from_slice(s);
                }
                Ok(take.min(offered.len()))
            })
            .unwrap();
        (offered, slices_used, written)
    }

    #[test]
    fn write_from_sends_whole_frames_and_hands_back_a_cut_one() {
        let log = BroadcastLog::new(16, usize::MAX);
        for _ in 0..3 {
            log.publish(ClientId::OPERATOR, &[7; 71]); // 100-byte frames
        }
        let (sent, slices, written) = write_some(&log, 1, 250);
        assert_eq!(slices, 1, "packed frames go out as one slice");
        assert_eq!(seqs(&decode_all(&sent)), vec![1, 2, 3]);
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
            write_some(&log, 2, 200).2,
            Written::Frames {
                frames: 2,
                rest: None
            }
        ));
        assert!(matches!(
            log.write_from(4, |_| unreachable!("nothing to write"))
                .unwrap(),
            Written::Empty
        ));
        let would_block = log.write_from(1, |_| Err(io::ErrorKind::WouldBlock.into()));
        assert_eq!(would_block.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_write_spans_segments_in_order_one_slice_each() {
        let log = BroadcastLog::new(100_000, usize::MAX);
        // 1,000-byte frames: 65 fill a segment, so 200 take four.
        for _ in 0..200 {
            log.publish(ClientId(9), &[3; 971]);
        }
        let (sent, slices, written) = write_some(&log, 1, usize::MAX);
        assert_eq!(slices, 4);
        assert_eq!(seqs(&decode_all(&sent)), (1..=200).collect::<Vec<_>>());
        assert!(matches!(
            written,
            Written::Frames {
                frames: 200,
                rest: None
            }
        ));
        // From the middle of the second segment on.
        let (sent, slices, _) = write_some(&log, 100, usize::MAX);
        assert_eq!(slices, 3);
        assert_eq!(seqs(&decode_all(&sent)), (100..=200).collect::<Vec<_>>());
    }

    #[test]
    fn a_large_entry_has_its_own_segment_and_its_rest_is_a_handle() {
        let log = BroadcastLog::new(100, usize::MAX);
        log.publish(ClientId(1), b"small");
        log.publish(ClientId(1), &[5; 100_000]);
        log.publish(ClientId(1), b"small again");
        let (sent, slices, written) = write_some(&log, 1, 50_000);
        assert_eq!(slices, 3, "small, large, small: three segments");
        assert_eq!(seqs(&decode_all(&sent)), vec![1, 2, 3]);
        let Written::Frames {
            frames: 1,
            rest: Some(rest),
        } = written
        else {
            panic!("{written:?}");
        };
        // "small" is a 34-byte frame, the large one 100,029 bytes.
        assert!(
            rest[..] == sent[50_000..34 + 100_029],
            "the rest of entry 2"
        );
        let ring = log.ring.read().unwrap();
        let (_, own) = &ring.sealed[1];
        assert_eq!(
            rest.as_ptr_range().end,
            own.as_ptr_range().end,
            "the rest of a large entry points into its segment"
        );
    }

    #[test]
    fn evicted_entries_free_their_segments() {
        let log = BroadcastLog::new(10, usize::MAX);
        for _ in 0..1_000 {
            log.publish(ClientId(1), &[1; 971]);
        }
        let ring = log.ring.read().unwrap();
        assert_eq!(ring.starts.len(), 10);
        assert!(
            ring.sealed.len() <= 1,
            "only the segments holding the last 10 entries are kept, not {}",
            ring.sealed.len()
        );
        drop(ring);
        let (sent, _, _) = write_some(&log, 991, usize::MAX);
        assert_eq!(seqs(&decode_all(&sent)), (991..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_paced_append_evicts_nothing_at_or_after_the_gate() {
        let log = BroadcastLog::new(4, usize::MAX);
        for _ in 0..4 {
            log.publish(ClientId::OPERATOR, b"m");
        }
        // The log is full: the next append evicts #1, which a cursor at 1 still needs.
        assert_eq!(
            log.try_publish(ClientId(5), b"m", Some(1)),
            Err(Full { needed: 2 })
        );
        assert_eq!(log.tail(), 4, "nothing was appended");
        assert_eq!(log.try_publish(ClientId(5), b"m", Some(2)), Ok(Seq(5)));
        assert_eq!(log.first(), 2);
    }

    #[test]
    fn a_paced_append_respects_the_byte_bound_too() {
        let log = BroadcastLog::new(100, 250);
        log.publish(ClientId::OPERATOR, &[0; 71]); // 100-byte frames
        log.publish(ClientId::OPERATOR, &[0; 71]);
        assert_eq!(
            log.try_publish(ClientId(5), &[0; 171], Some(2)),
            Err(Full { needed: 3 }),
            "a 200-byte frame fits only once both others are gone"
        );
        assert_eq!(log.try_publish(ClientId(5), &[0; 171], Some(3)), Ok(Seq(3)));
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
        let mut out = Vec::new();
        assert_eq!(
            log.read(1, 3, usize::MAX, |e| out.extend_from_slice(e)),
            Read::Frames(3)
        );
        out.clear();
        assert_eq!(
            log.read(1, 100, 250, |e| out.extend_from_slice(e)),
            Read::Frames(2)
        );
        out.clear();
        // At least one frame, even if it alone is over the byte limit.
        assert_eq!(
            log.read(1, 100, 10, |e| out.extend_from_slice(e)),
            Read::Frames(1)
        );
    }
}
