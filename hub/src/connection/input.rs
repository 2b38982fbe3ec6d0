//! What a client sends: reading without holding a buffer while the client is quiet,
//! frames from framed clients, lines from text clients, and telling a half-close (a
//! read-only tool) from a client that is gone.

use super::*;

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
                Ok(self.kind == ClientKind::Text && !self.rbuf.is_empty())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
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
            while let Some(frame) = self.codec.decode(&mut self.rbuf)? {
                self.handle_frame(frame, name).await?;
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
                                "a broadcast body of {} bytes exceeds the largest this hub carries ({max} bytes: the maximum frame minus 24)",
                                body.len()
                            ),
                        ));
                    }
                    self.hub.log.publish(self.id, &body);
                    if self.hub.console_takes_broadcast() {
                        self.hub.show_event(self.message(name, body, true));
                    }
                } else {
                    self.hub
                        .tell_operator(self.message(name, body, false))
                        .await;
                }
            }
            Frame::Ping(nonce) => self.control.push_back(Frame::Pong(nonce).to_bytes()),
            // The answer to a keepalive PING; that it arrived is all that matters.
            Frame::Pong(_) => {}
            Frame::StatusRequest => {
                let hub = crate::Hub {
                    shared: Arc::clone(&self.hub),
                };
                self.control.extend(hub.status_frames(self.id));
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
    /// than the frame limit is shown in parts of at most that size.
    pub(super) async fn consume_lines(&mut self, name: &str) {
        let max = self.hub.config.max_frame as usize;
        loop {
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
            self.hub
                .tell_operator(self.message(name, line, false))
                .await;
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
