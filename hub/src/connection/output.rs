//! What a client receives: control frames at frame boundaries, then runs of broadcasts
//! from the shared log, written with vectored writes that may stop anywhere in a frame.

use std::{collections::VecDeque, io, io::IoSlice, sync::atomic::Ordering, time::Duration};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{Frame, Seq};
use tracing::{debug, warn};

use super::{BATCH_BYTES, BATCH_FRAMES, Connection, End, TEXT_BATCH_BYTES, WRITES_PER_TURN};
use crate::log::{WRITE_SLICES, Written};
use crate::{log::Read, registry::ClientKind, text::put_text_line};

impl Connection {
    /// Moves the next output into `out`: control frames first, then broadcasts from the
    /// cursor (with a `LAGGED` first if the cursor fell behind the log).
    pub(super) fn refill(&mut self) {
        self.out.extend(self.control.drain(..));
        let text = self.kind == ClientKind::Text;
        let start = self.out.len();
        // A text listener's lines are copies, not handles into the log: take less at a
        // time, so one that stops reading holds little beyond its socket buffer.
        let batch_bytes = if text { TEXT_BATCH_BYTES } else { BATCH_BYTES };
        while let Some(cursor) = self.cursor {
            match self
                .hub
                .log()
                .read(cursor, &mut self.out, BATCH_FRAMES, batch_bytes)
            {
                Read::Frames(n) => self.advance_cursor(n),
                Read::Lagged { missed, next } => {
                    warn!(client_id = %self.id, missed, next_seq = next, "client fell behind the log");
                    if let Some(handle) = &self.handle {
                        handle.missed.fetch_add(missed, Ordering::Relaxed);
                    }
                    if !text {
                        let lagged = Frame::Lagged {
                            missed,
                            next_seq: Seq(next),
                        };
                        self.out.push_back(lagged.to_bytes());
                    }
                    self.move_cursor(next);
                    continue;
                }
                Read::Empty => {}
            }
            break;
        }
        if text && self.out.len() > start {
            // One buffer for the batch's lines: one allocation, not one per line.
            let mut lines = BytesMut::new();
            for entry in self.out.drain(start..) {
                put_text_line(&mut lines, &entry);
            }
            self.out.push_back(lines.freeze());
        }
    }

    /// Writes as much as the socket takes now: a framed listener with nothing else
    /// pending writes straight from the log; everything else goes through `out`.
    pub(super) fn write_some(&mut self) -> Result<(), End> {
        for _ in 0..WRITES_PER_TURN {
            if self.out.is_empty()
                && self.control.is_empty()
                && self.kind != ClientKind::Text
                && let Some(cursor) = self.cursor
            {
                let stream = &self.stream;
                let written = self.hub.log().write_from(cursor, WRITE_SLICES, |slices| {
                    stream.try_write_vectored(slices)
                });
                match written {
                    Ok(Written::Frames { frames, rest }) => {
                        let taken = frames + usize::from(rest.is_some());
                        self.advance_cursor(taken);
                        self.out.extend(rest);
                        if taken == 0 {
                            return Ok(());
                        }
                        self.took_bytes();
                        continue;
                    }
                    Ok(Written::Empty) => return Ok(()),
                    // LAGGED is told through `out`, like any other control frame.
                    Ok(Written::Behind) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            if self.out.is_empty() {
                self.refill();
                if self.out.is_empty() {
                    return Ok(());
                }
            }
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let mut count = 0;
            for (i, frame) in self.out.iter().take(slices.len()).enumerate() {
                let skip = if i == 0 { self.offset } else { 0 };
                slices[i] = IoSlice::new(&frame[skip..]);
                count += 1;
            }
            match self.stream.try_write_vectored(&slices[..count]) {
                Ok(n) => {
                    self.advance(n);
                    if n > 0 {
                        self.took_bytes();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
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
                if self.out.is_empty() {
                    self.refill();
                }
                if self.out.is_empty() {
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
