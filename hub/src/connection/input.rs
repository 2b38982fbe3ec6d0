//! What a client sends: reading without holding a buffer while the client is quiet,
//! frames from framed clients, lines from text clients, and telling a half-close (a
//! read-only tool) from a client that is gone; a publisher's messages are taken as
//! broadcasts when the listeners have room for them, and the client is paused until then.

use std::{io, sync::atomic::Ordering, time::Duration};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{ErrorCode, Frame, FrameType, ProtocolError};
use tokio_util::codec::Decoder;

use super::{Connection, End, READ_CHUNK};
use crate::{event::ConsoleEvent, registry::ClientKind, transport};
use std::time::Instant;

use super::operator_pace::ToOperator;
use crate::{
    partial::{FREE_PARTIAL, frame_in_progress},
    registry::clock_us,
};

impl Connection {
    /// Reads what is available. Returns whether new bytes arrived; handles end of input.
    ///
    /// Reads into a chunk on the stack and keeps only what is pending, so a client that
    /// has nothing pending holds no read buffer (a spurious wake-up allocates nothing).
    pub(super) fn read_some(&mut self) -> Result<bool, End> {
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.try_read(&mut chunk) {
            Ok(n) if n > 0 => {
                self.rbuf.extend_from_slice(&chunk[..n]);
                if let Some(handle) = &self.handle {
                    handle.heard_from();
                }
                Ok(true)
            }
            Ok(_) => {
                self.read_closed = true;
                // No more input can answer a keepalive; writes will tell if it is gone.
                if let Some(handle) = &self.handle {
                    handle.stop_keepalive();
                }
                if self.kind != ClientKind::Text && !self.rbuf.is_empty() {
                    return Err(ProtocolError::Truncated(self.rbuf.len()).into());
                }
                // A peer that closed entirely (not just its sending side) is gone.
                if self.peer_gone() {
                    return Err(End::Closed(None));
                }
                // One that may still read: the hub asks now and then whether it is gone.
                if let Some(handle) = &self.handle {
                    handle.half_closed.store(true, Ordering::Relaxed);
                }
                Ok(self.kind == ClientKind::Text && !self.rbuf.is_empty())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the frame at the start of the read buffer may be read on: one larger than
    /// `FREE_PARTIAL` needs its whole length reserved in the hub's budget first. While it
    /// cannot have it, the client is not read (its frame timeout does not run) and is
    /// woken when room is given back. What the connection reserved beyond the frame it is
    /// reading now is given back.
    pub(super) fn reserve_for_frame(&mut self) -> bool {
        let need = match self.kind {
            ClientKind::Text => 0,
            ClientKind::Framed(_) => Some(frame_in_progress(&self.rbuf))
                .filter(|&len| len > FREE_PARTIAL)
                .unwrap_or(0),
        };
        if need <= self.reserved {
            self.hub.partial().give_back(self.reserved - need);
            self.reserved = need;
            return true;
        }
        let Some(handle) = &self.handle else {
            return true; // not yet a session: a HELLO is small
        };
        if self.hub.partial().reserve(need - self.reserved, handle) {
            self.reserved = need;
            // The frame is coming whole: one allocation of its size, not doubling steps.
            self.rbuf.reserve(need.saturating_sub(self.rbuf.len()));
            handle.note_unfinished_frame(true);
            true
        } else {
            handle.note_unfinished_frame(false);
            false
        }
    }

    /// Whether the peer is gone entirely, asked right after its sending side closed (a
    /// read-only tool that only shut down its sending side is still there).
    pub(super) fn peer_gone(&self) -> bool {
        transport::peer_closed(&self.stream)
    }

    /// Handles every complete frame (or line, for text clients) in the read buffer.
    pub(super) async fn consume_input(&mut self, name: &str) -> Result<(), End> {
        if self.kind == ClientKind::Text {
            self.consume_lines(name).await;
        } else {
            // A paused publisher's later frames wait, in order, behind its pending message.
            while self.pending.is_none()
                && !self.waits_for_operator()
                && let Some(frame) = self.codec.decode(&mut self.rbuf)?
            {
                self.handle_frame(frame, name).await?;
            }
            // What is left is a frame begun; while the hub reads the client (it is not
            // paused), it must be finished within the frame timeout.
            if let Some(handle) = &self.handle {
                let waits = self.pending.is_some() || self.waits_for_operator();
                handle.note_unfinished_frame(!waits && !self.rbuf.is_empty());
            }
        }
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        Ok(())
    }

    pub(super) async fn handle_frame(&mut self, frame: Frame, name: &str) -> Result<(), End> {
        match frame {
            Frame::Send(body) => {
                if self.kind.broadcasts() {
                    let max = self.hub.max_body();
                    if body.len() > max {
                        return Err(End::Protocol(
                            ErrorCode::FRAME_TOO_LARGE,
                            format!(
                                "a broadcast body of {} bytes exceeds the largest this hub carries ({max} bytes: the maximum frame minus 25)",
                                body.len()
                            ),
                        ));
                    }
                    self.take_broadcast(body, name);
                } else {
                    self.tell_operator(name, body).await;
                }
            }
            Frame::Ping(nonce) => self.control.push_back(Frame::Pong(nonce).to_bytes()),
            // The answer to a keepalive PING; that it arrived is all that matters.
            Frame::Pong(_) => {}
            Frame::StatusRequest => {
                self.control.extend(self.hub.status_frames(self.id));
            }
            Frame::Hello(_) => {
                return Err(End::Protocol(
                    ErrorCode::UNEXPECTED_FRAME,
                    "HELLO sent twice: the session is already open".into(),
                ));
            }
            other => {
                let t: FrameType = other.frame_type();
                return Err(End::Protocol(
                    ErrorCode::UNEXPECTED_FRAME,
                    format!(
                        "{} is a hub-to-client frame; after HELLO a client sends only SEND, PING, PONG and STATUS_REQUEST",
                        t.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Text clients: each complete line is a message to the operator. A line longer
    /// than 32 KiB (or the frame limit, if smaller) is shown in parts of at most that size.
    pub(super) async fn consume_lines(&mut self, name: &str) {
        // Cut at FREE_PARTIAL: a text client's line in progress holds little of the hub.
        let max = (self.hub.config().max_frame as usize).min(FREE_PARTIAL);
        while !self.waits_for_operator() {
            let line = match self.rbuf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let mut line = self.rbuf.split_to(i + 1);
                    line.truncate(i);
                    if line.last() == Some(&b'\r') {
                        line.truncate(i - 1);
                    }
                    line.freeze()
                }
                None if self.rbuf.len() >= max => self.rbuf.split_to(max).freeze(),
                None if self.read_closed && !self.rbuf.is_empty() => self.rbuf.split().freeze(),
                None => return,
            };
            self.tell_operator(name, line).await;
        }
    }

    /// Passes a message to the operator, at the client's pace: past it, the client is
    /// not read until its next message is due, and the operator is told so once.
    async fn tell_operator(&mut self, name: &str, body: Bytes) {
        self.hub
            .tell_operator(self.message(name, body, false))
            .await;
        let per_second = self.hub.config().operator_rate;
        if per_second == 0 {
            return;
        }
        let now = Instant::now();
        let to_operator = self
            .to_operator
            .get_or_insert_with(|| Box::new(ToOperator::new(per_second, now)));
        if to_operator.sent(now) {
            self.hub.show_event(ConsoleEvent::Slowed {
                id: self.id,
                name: name.to_owned(),
                per_second,
            });
        }
    }

    /// Whether the client waits for its next message to the operator to be due.
    pub(super) fn waits_for_operator(&self) -> bool {
        self.to_operator.as_ref().is_some_and(|t| t.waits())
    }

    /// Takes a publisher's message as a broadcast or, when the listeners have no room for
    /// it, keeps it pending: the client is not read again until it is taken. The
    /// listeners are woken at the end of the batch, before the session waits again.
    fn take_broadcast(&mut self, body: Bytes, name: &str) {
        match self.hub.append_from(self.id, &body) {
            Ok(_) => {
                self.appended = true;
                self.end_pause();
                if self.hub.console_takes_broadcast() {
                    self.hub.show_event(self.message(name, body, true));
                }
            }
            Err(full) => {
                if let Some(handle) = &self.handle {
                    let now = clock_us().max(1);
                    let _ = handle.paused_since_us.compare_exchange(
                        0,
                        now,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                self.hub.pacer().ask(full.needed);
                self.pending = Some(body);
            }
        }
    }

    /// Tries the pending message again; returns whether it was taken (then the client
    /// may be read again).
    pub(super) fn retry_pending(&mut self, name: &str) -> bool {
        match self.pending.take() {
            Some(body) => {
                self.take_broadcast(body, name);
                self.pending.is_none()
            }
            None => true,
        }
    }

    /// Counts the time the publisher was paused, if it was; it is heard from again.
    pub(super) fn end_pause(&mut self) {
        let Some(handle) = &self.handle else {
            return;
        };
        if handle.paused_since_us.load(Ordering::Relaxed) == 0 {
            return;
        }
        let since = handle.paused_since_us.swap(0, Ordering::Relaxed);
        if since != 0 {
            let paused = Duration::from_micros(clock_us().saturating_sub(since));
            self.hub.pacer().add_paused(paused);
            // Its silence was the hub's doing, not the client's.
            handle.heard_from();
        }
    }

    pub(super) fn message(&self, name: &str, body: Bytes, broadcast: bool) -> ConsoleEvent {
        ConsoleEvent::Message {
            from: self.id,
            name: name.to_owned(),
            body,
            broadcast,
        }
    }
}
