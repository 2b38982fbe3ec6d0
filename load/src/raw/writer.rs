//! The raw baseline's writer: one thread, one log, a place in the log per listener.
//!
//! The log is a list of frozen segments, each the frames publishers appended between two
//! passes, addressed by absolute byte offsets. A pass takes the new segment and the new
//! listeners, then gives every listener that is behind one non-blocking vectored write
//! of everything from its place to the end of the log (its `WELCOME` first, once), and
//! moves its place by what the socket took. Segments every listener has passed are
//! dropped, and publishers waiting for room are woken.
//!
//! Between passes the writer waits: on the publishers' condition variable when every
//! listener has everything, or, when those that are behind could not take a byte, in
//! `poll` for their sockets to drain (briefly, so that new frames for the others do not
//! wait long).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::PoisonError;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::{Buf, Bytes};

use super::Shared;

/// Most log slices one vectored write takes (the `WELCOME` may add one).
const WRITE_SLICES: usize = 64;

/// How long the writer waits in `poll` for a full socket before it looks again at
/// everything else.
const BLOCKED_WAIT_MS: i32 = 2;

/// How long the writer waits for news when it has nothing to do, before it looks anyway.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// One listener: its socket, its place in the log, and its `WELCOME` until sent.
struct Listener {
    stream: UnixStream,
    welcome: Bytes,
    at: u64,
    /// Its socket took less than it was given: no more writes until `poll` says it has
    /// room again.
    full: bool,
}

/// The frames not every listener has yet.
#[derive(Default)]
struct Log {
    /// Segments in order, each with its offset.
    segments: VecDeque<(u64, Bytes)>,
    /// The offset just past the last segment.
    end: u64,
}

impl Log {
    fn push(&mut self, segment: Bytes, end: u64) {
        if !segment.is_empty() {
            self.segments
                .push_back((end - segment.len() as u64, segment));
        }
        self.end = end;
    }

    /// The bytes from offset `at` to the end, as slices put in `out` after the `used`
    /// already there, as many as fit; returns how many `out` then holds.
    fn slices_from<'a>(&'a self, at: u64, out: &mut [IoSlice<'a>], mut used: usize) -> usize {
        // The first segment that ends after `at`; a listener far behind may have many
        // segments before it.
        let first = self
            .segments
            .partition_point(|(start, segment)| start + segment.len() as u64 <= at);
        for (start, segment) in self.segments.range(first..) {
            if used >= out.len() {
                break;
            }
            let skip = usize::try_from(at.saturating_sub(*start)).unwrap_or(usize::MAX);
            out[used] = IoSlice::new(&segment[skip.min(segment.len())..]);
            used += 1;
        }
        used
    }

    /// Drops the segments that end at or before `oldest`.
    fn trim(&mut self, oldest: u64) {
        while let Some((start, segment)) = self.segments.front() {
            if start + segment.len() as u64 > oldest {
                return;
            }
            self.segments.pop_front();
        }
    }
}

/// Runs the writer until the process ends.
pub(super) fn run(shared: &Shared) {
    let mut log = Log::default();
    let mut listeners: Vec<Listener> = Vec::new();
    let mut full: Vec<libc::pollfd> = Vec::new();
    let mut full_ones: Vec<usize> = Vec::new();
    loop {
        take_news(shared, &mut log, &mut listeners);
        let wrote = pass(&log, &mut listeners);
        let oldest = listeners.iter().map(|l| l.at).min().unwrap_or(log.end);
        log.trim(oldest);
        if shared.oldest.swap(oldest, Relaxed) != oldest {
            shared.room.notify_waiters();
        }
        full.clear();
        full_ones.clear();
        for (index, listener) in listeners.iter().enumerate().filter(|(_, l)| l.full) {
            full.push(pollfd(&listener.stream));
            full_ones.push(index);
        }
        if !full.is_empty() {
            // Which full sockets have room again: a glance while others are being
            // written, a short wait when nothing else could be.
            let wait = if wrote { 0 } else { BLOCKED_WAIT_MS };
            // SAFETY: `full` is a valid array of `full.len()` pollfds, and their
            // descriptors belong to sockets `listeners` keeps open meanwhile.
            unsafe { libc::poll(full.as_mut_ptr(), full.len() as libc::nfds_t, wait) };
            for (fd, &index) in full.iter().zip(&full_ones) {
                if fd.revents != 0 {
                    listeners[index].full = false;
                }
            }
        } else if !wrote {
            wait_for_news(shared);
        }
    }
}

/// Takes the frames published and the listeners joined since the last pass.
fn take_news(shared: &Shared, log: &mut Log, listeners: &mut Vec<Listener>) {
    let mut pending = shared.lock();
    let frames = std::mem::take(&mut pending.frames).freeze();
    log.push(frames, pending.head);
    listeners.extend(pending.joined.drain(..).map(|joining| Listener {
        stream: joining.stream,
        welcome: joining.welcome,
        at: joining.start,
        full: false,
    }));
}

/// Waits until something was published or someone joined (or a while has passed).
fn wait_for_news(shared: &Shared) {
    let pending = shared.lock();
    if pending.frames.is_empty() && pending.joined.is_empty() {
        let _ = shared
            .published
            .wait_timeout(pending, IDLE_WAIT)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Gives every listener that is behind and has room one write, and drops listeners that
/// are gone; returns whether anything was written.
fn pass(log: &Log, listeners: &mut Vec<Listener>) -> bool {
    let mut wrote = false;
    listeners.retain_mut(|listener| {
        if listener.full || (listener.at >= log.end && listener.welcome.is_empty()) {
            return true;
        }
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES + 1];
        let mut used = 0;
        if !listener.welcome.is_empty() {
            slices[0] = IoSlice::new(&listener.welcome);
            used = 1;
        }
        let used = log.slices_from(listener.at, &mut slices, used);
        let slices = &slices[..used];
        let offered: usize = slices.iter().map(|s| s.len()).sum();
        match (&listener.stream).write_vectored(slices) {
            Ok(written) => {
                wrote |= written > 0;
                listener.full = written < offered;
                let welcome = written.min(listener.welcome.len());
                listener.welcome.advance(welcome);
                listener.at += (written - welcome) as u64;
                true
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                listener.full = true;
                true
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => true,
            // The listener is gone.
            Err(_) => false,
        }
    });
    wrote
}

fn pollfd(stream: &UnixStream) -> libc::pollfd {
    libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(segments: &[&'static [u8]]) -> Log {
        let mut log = Log::default();
        let mut end = 0;
        for segment in segments {
            end += segment.len() as u64;
            log.push(Bytes::from_static(segment), end);
        }
        log
    }

    fn bytes_from(log: &Log, at: u64) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let used = log.slices_from(at, &mut slices, 0);
        slices[..used]
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn a_listener_gets_the_log_from_its_place_on() {
        let log = log_of(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(log.end, 8);
        assert_eq!(bytes_from(&log, 0), b"abcdefgh");
        assert_eq!(bytes_from(&log, 4), b"efgh");
        assert_eq!(bytes_from(&log, 3), b"defgh");
        assert_eq!(bytes_from(&log, 8), b"");
    }

    #[test]
    fn segments_everyone_passed_are_dropped() {
        let mut log = log_of(&[b"abc", b"defg", b"h"]);
        log.trim(5);
        assert_eq!(log.segments.len(), 2);
        assert_eq!(bytes_from(&log, 5), b"fgh");
        log.trim(8);
        assert!(log.segments.is_empty());
        assert_eq!(log.end, 8);
    }
}
