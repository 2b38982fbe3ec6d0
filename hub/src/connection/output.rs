//! What a client receives: control frames at frame boundaries, then broadcasts from the
//! shared log, written with vectored writes that may stop anywhere in a frame. A framed
//! listener's broadcasts go out straight from the log; what is queued per client is only
//! control frames, the rest of a broadcast a write cut short, and a text listener's lines.

use std::{collections::VecDeque, io, io::IoSlice, sync::atomic::Ordering, time::Duration};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{Frame, Seq};
use tracing::{debug, warn};

use super::{Connection, End, TEXT_BATCH_BYTES, TEXT_BATCH_FRAMES, WRITES_PER_TURN};
use crate::{
    log::{Read, Written},
    registry::ClientKind,
    text::put_text_line,
};

/// Most queued frames in one vectored write.
const QUEUED_SLICES: usize = 64;

impl Connection {
    /// Whether anything waits to be written: queued output (control frames, `LAGGED`,
    /// what is left of a broadcast a write cut short, a text listener's lines) or, for a
    /// framed listener, broadcasts at its cursor.
    pub(super) fn has_output(&mut self) -> bool {
        if self.out.is_empty() {
            self.refill();
        }
        !self.out.is_empty()
            || (self.kind != ClientKind::Text
                && self.cursor.is_some_and(|c| c <= self.hub.log().tail()))
    }

    /// Moves the next output into `out`: control frames first; for a text listener, then
    /// its next lines from the log. A framed listener's broadcasts are not queued: they
    /// are written straight from the log (`write_some`).
    fn refill(&mut self) {
        self.out.extend(self.control.drain(..));
        if self.kind != ClientKind::Text {
            return;
        }
        while let Some(cursor) = self.cursor {
            // One buffer for the batch's lines: one allocation, not one per line. Lines
            // are copies, not the log's bytes: take a little at a time, so a text
            // listener that stops reading holds little beyond its socket buffer.
            let mut lines = BytesMut::new();
            let read = self
                .hub
                .log()
                .read(cursor, TEXT_BATCH_FRAMES, TEXT_BATCH_BYTES, |entry| {
                    put_text_line(&mut lines, entry)
                });
            match read {
                Read::Frames(n) => {
                    self.advance_cursor(n);
                    self.out.push_back(lines.freeze());
                }
                Read::Lagged { missed, next } => {
                    self.lagged(missed, next);
                    continue;
                }
                Read::Empty => {}
            }
            break;
        }
    }

    /// The cursor fell behind the log: `missed` broadcasts are gone, the next is `next`.
    /// A framed client is told so, at the next frame boundary.
    fn lagged(&mut self, missed: u64, next: u64) {
        warn!(client_id = %self.id, missed, next_seq = next, "client fell behind the log");
        if let Some(handle) = &self.handle {
            handle.missed.fetch_add(missed, Ordering::Relaxed);
        }
        if self.kind != ClientKind::Text {
            let lagged = Frame::Lagged {
                missed,
                next_seq: Seq(next),
            };
            self.out.push_back(lagged.to_bytes());
        }
        self.move_cursor(next);
    }

    /// Writes as much as the socket takes now: what is queued in `out` first; then a
    /// framed listener's broadcasts, straight from the log.
    pub(super) fn write_some(&mut self) -> Result<(), End> {
        for _ in 0..WRITES_PER_TURN {
            if self.out.is_empty() {
                self.refill();
            }
            let written = if self.out.is_empty() {
                self.write_from_log()
            } else {
                self.write_queued()
            };
            match written {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// One vectored write of everything from the cursor on, straight from the log.
    /// Returns whether there may be more to write.
    fn write_from_log(&mut self) -> io::Result<bool> {
        let Some(cursor) = self.cursor.filter(|_| self.kind != ClientKind::Text) else {
            return Ok(false);
        };
        let stream = &self.stream;
        let written = self
            .hub
            .log()
            .write_from(cursor, |slices| stream.try_write_vectored(slices))?;
        match written {
            Written::Frames { frames, rest } => {
                let taken = frames + usize::from(rest.is_some());
                self.advance_cursor(taken);
                self.out.extend(rest);
                if taken > 0 {
                    self.took_bytes();
                }
                Ok(taken > 0)
            }
            // LAGGED goes out through `out`, like any other control frame.
            Written::Lagged { missed, next } => {
                self.lagged(missed, next);
                Ok(true)
            }
            Written::Empty => Ok(false),
        }
    }

    /// One vectored write of what is queued in `out`. Returns whether it took anything.
    fn write_queued(&mut self) -> io::Result<bool> {
        let mut slices = [IoSlice::new(&[]); QUEUED_SLICES];
        let mut count = 0;
        for (slot, frame) in slices.iter_mut().zip(&self.out) {
            let skip = if count == 0 { self.offset } else { 0 };
            *slot = IoSlice::new(&frame[skip..]);
            count += 1;
        }
        let n = self.stream.try_write_vectored(&slices[..count])?;
        self.advance(n);
        if n > 0 {
            self.took_bytes();
        }
        Ok(n > 0)
    }

    /// Moves the cursor past `n` frames taken from the log.
    fn advance_cursor(&mut self, n: usize) {
        if let Some(cursor) = self.cursor {
            self.hub.log().count_deliveries(n);
            self.move_cursor(cursor + n as u64);
        }
    }

    /// Moves the cursor forward to `to`, and says so to the registry and to pacing.
    fn move_cursor(&mut self, to: u64) {
        let Some(from) = self.cursor.replace(to) else {
            return;
        };
        if let Some(handle) = &self.handle {
            // SeqCst: pacing reads cursors after publishing what it waits for, and
            // `advanced` reads that after this store; one of the two sees the other.
            handle.cursor.store(to, Ordering::SeqCst);
            self.hub.pacer().advanced(from, to);
        }
    }

    /// The client took bytes: progress that tells pacing it is reading.
    fn took_bytes(&self) {
        if let (Some(handle), Some(cursor)) = (&self.handle, self.cursor) {
            // Only this task writes the count: no read-modify-write needed.
            let writes = handle.watch.writes.load(Ordering::Relaxed);
            handle
                .watch
                .writes
                .store(writes.wrapping_add(1), Ordering::Relaxed);
            self.hub.pacer().took(handle, cursor);
        }
    }

    /// Drops `n` written bytes from the front of `out`.
    pub(super) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.out.front() else {
                return;
            };
            let left = front.len() - self.offset;
            if n >= left {
                n -= left;
                self.offset = 0;
                self.out.pop_front();
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }

    /// Frees the output queues' memory before sleeping: an idle client holds none.
    pub(super) fn release_idle_memory(&mut self) {
        if self.out.capacity() > 0 {
            self.out = VecDeque::new();
        }
        if self.control.is_empty() && self.control.capacity() > 0 {
            self.control = VecDeque::new();
        }
    }

    /// Writes everything queued (control frames, then broadcasts up to the log's tail),
    /// then `last`, giving up after `limit`.
    pub(super) async fn flush(&mut self, last: Option<Bytes>, limit: Duration) {
        let mut last = last;
        let drained = tokio::time::timeout(limit, async {
            loop {
                if !self.has_output() {
                    match last.take() {
                        Some(frame) => {
                            self.out.push_back(frame);
                            continue;
                        }
                        None => return,
                    }
                }
                if self.stream.writable().await.is_err() || self.write_some().is_err() {
                    return;
                }
            }
        })
        .await;
        if drained.is_err() {
            debug!("gave up flushing after {limit:?}");
        }
    }
}
