//! One client's connection, from its first byte to its last: the handshake, then one
//! task that both reads the client's frames and writes its output.
//!
//! A single task drives both directions through readiness (`readable`/`writable` and
//! non-blocking `try_*` calls) rather than a reader task and a writer task, so an idle
//! client costs one small task and no buffers: the read buffer is allocated only while
//! bytes are arriving, and the output queue holds only handles into the shared log.
//!
//! Output, in order of priority at each frame boundary: control frames for this client
//! alone (`WELCOME`, `PONG`, `LAGGED`, `BYE`, `ERROR`), then broadcasts from the client's
//! cursor in the log. A writer that is busy never needs waking; an idle one sleeps on the
//! log's "appended" notification. A client that stops reading only stops its own cursor;
//! the log moves on, and the client is later told exactly how much it missed.

use std::{collections::VecDeque, io, io::IoSlice, sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{
    BROADCAST_BODY_OFFSET, ByeReason, ClientId, ErrorCode, Frame, FrameCodec, FrameType, Hello,
    ProtocolError, RefuseCode, Role, Seq, VERSION, Welcome,
};
use tokio::io::Interest;
use tokio_util::{codec::Decoder, sync::CancellationToken};
use tracing::{Instrument, debug, info, warn};

use crate::{
    ConsoleEvent,
    hub::Shared,
    log::Read,
    registry::{ClientInfo, ClientKind},
    transport::Stream,
};

/// Most frames taken from the log for one vectored write.
const BATCH_FRAMES: usize = 256;
/// Most bytes taken from the log for one vectored write (at least one frame is taken).
const BATCH_BYTES: usize = 256 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 4096;
/// A read buffer this large is released once it is empty again.
const KEEP_READ_BUFFER: usize = 64 * 1024;
/// Control frames that may wait before the hub stops reading from the client: a client
/// that sends `PING`s without reading the `PONG`s is slowed down, not buffered.
const CONTROL_LIMIT: usize = 64;
/// Write attempts per wake-up before yielding to other tasks.
const WRITES_PER_TURN: usize = 16;
/// How long a connection that broke the protocol gets to receive its `ERROR`.
const ERROR_FLUSH: Duration = Duration::from_secs(1);

/// Serves one accepted connection until it ends.
pub(crate) async fn serve(hub: Arc<Shared>, stream: Stream, shutdown: CancellationToken) {
    let id = hub.next_client_id();
    let span = tracing::info_span!("client", client_id = %id);
    let mut conn = Connection {
        codec: FrameCodec::new(hub.config.max_frame),
        hub,
        stream,
        id,
        rbuf: BytesMut::new(),
        out: VecDeque::new(),
        offset: 0,
        control: VecDeque::new(),
        cursor: None,
        kind: ClientKind::Text,
        read_closed: false,
    };
    async move {
        let end = match conn.handshake(&shutdown).await {
            Ok(Some((kind, name))) => conn.run_session(kind, name, &shutdown).await,
            Ok(None) => End::Closed(None),
            Err(end) => end,
        };
        conn.finish(end).await;
    }
    .instrument(span)
    .await;
}

/// Why a connection ends.
enum End {
    /// The peer went away, or its socket failed.
    Closed(Option<io::Error>),
    /// The client has nothing more to say and nothing to receive.
    Done,
    /// The hub is shutting down.
    Shutdown,
    /// The client broke the protocol; it gets an `ERROR` if it still reads.
    Protocol(ErrorCode, String),
    /// The hub will not serve the client; it gets a `REFUSED`.
    Refused(RefuseCode, String),
}

impl From<ProtocolError> for End {
    fn from(e: ProtocolError) -> End {
        match e {
            ProtocolError::Io(e) => End::Closed(Some(e)),
            other => End::Protocol(other.code(), other.to_string()),
        }
    }
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Closed(Some(e))
    }
}

struct Connection {
    hub: Arc<Shared>,
    stream: Stream,
    id: ClientId,
    codec: FrameCodec,
    /// Bytes read but not yet consumed; empty (unallocated) while the client is quiet.
    rbuf: BytesMut,
    /// Frames being written, in order; the first has had `offset` bytes written.
    out: VecDeque<Bytes>,
    offset: usize,
    /// Frames for this client alone, sent at the next frame boundary.
    control: VecDeque<Bytes>,
    /// The sequence number of the next broadcast to send; `None` for a client that
    /// receives no broadcasts.
    cursor: Option<u64>,
    kind: ClientKind,
    /// The client shut down its sending side; it may still be reading.
    read_closed: bool,
}

impl Connection {
    /// Waits for the client's `HELLO`, or decides it is a text listener. Returns the
    /// client's kind and name, `None` if it left before saying anything.
    async fn handshake(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<(ClientKind, String)>, End> {
        let grace = tokio::time::sleep(self.hub.config.text_grace);
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Err(End::Closed(None)),
            _ = grace => return Ok(Some((ClientKind::Text, String::new()))),
            read = self.read_more() => read?,
        };
        if first == 0 {
            self.read_closed = true;
            if self.peer_gone().await {
                return Ok(None); // connected and left at once, e.g. a liveness probe
            }
            // Half-closed before a single byte: a plain tool that only reads.
            return Ok(Some((ClientKind::Text, String::new())));
        }
        let hello = tokio::time::timeout(self.hub.config.handshake_timeout, self.read_frame())
            .await
            .map_err(|_| {
                End::Protocol(
                    ErrorCode::MALFORMED_FRAME,
                    format!(
                        "HELLO not completed within {} s",
                        self.hub.config.handshake_timeout.as_secs()
                    ),
                )
            })?;
        let hello = match hello {
            Ok(Frame::Hello(hello)) => hello,
            Ok(other) => {
                return Err(End::Protocol(
                    ErrorCode::UNEXPECTED_FRAME,
                    format!(
                        "the first frame must be HELLO, got {}",
                        other.frame_type().name()
                    ),
                ));
            }
            Err(ProtocolError::UnsupportedVersion(v)) => {
                return Err(End::Refused(
                    RefuseCode::UNSUPPORTED_VERSION,
                    format!(
                        "protocol version {v} is not supported; this hub speaks version {VERSION}"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if shutdown.is_cancelled() {
            return Err(End::Refused(
                RefuseCode::SHUTTING_DOWN,
                "the hub is shutting down".into(),
            ));
        }
        self.welcome(&hello);
        Ok(Some((ClientKind::Framed(hello.role), hello.name)))
    }

    /// Queues `WELCOME` and places a listener's cursor: right after the latest broadcast,
    /// or right after the resume point when the client resumes this same hub instance.
    fn welcome(&mut self, hello: &Hello) {
        let tail = self.hub.log.tail();
        if hello.role == Role::Listener {
            let start = match hello.resume {
                Some((instance, Seq(after))) if instance == self.hub.instance => after.min(tail),
                _ => tail,
            };
            self.cursor = Some(start + 1);
        }
        let welcome = Frame::Welcome(Welcome {
            version: VERSION,
            client_id: self.id,
            hub_instance: self.hub.instance,
            current_seq: Seq(tail),
            max_frame: self.hub.config.max_frame,
            queue_frames: u32::try_from(self.hub.config.queue_frames).unwrap_or(u32::MAX),
        });
        self.control.push_back(welcome.to_bytes());
    }

    /// Serves a client whose kind is known until the connection ends.
    async fn run_session(
        &mut self,
        kind: ClientKind,
        name: String,
        shutdown: &CancellationToken,
    ) -> End {
        self.kind = kind;
        if kind == ClientKind::Text {
            self.cursor = Some(self.hub.log.tail() + 1);
        }
        // The handshake's buffer is no longer needed; a quiet client holds none.
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        let hub = Arc::clone(&self.hub);
        let _registration = hub.registry.register(
            self.id,
            ClientInfo {
                kind,
                name: name.clone(),
                connected_at: std::time::SystemTime::now(),
            },
        );
        debug!(kind = kind.name(), name, "client joined");
        self.hub.show_event(ConsoleEvent::Joined {
            id: self.id,
            name: name.clone(),
            kind: kind.name(),
        });
        let end = match self.session_loop(&name, shutdown).await {
            Ok(()) => End::Done,
            Err(end) => end,
        };
        debug!(kind = kind.name(), name, "client left");
        self.hub
            .show_event(ConsoleEvent::Left { id: self.id, name });
        end
    }

    async fn session_loop(&mut self, name: &str, shutdown: &CancellationToken) -> Result<(), End> {
        let hub = Arc::clone(&self.hub);
        // Bytes that arrived with the HELLO.
        self.consume_input(name).await?;
        loop {
            if self.out.is_empty() {
                self.refill();
            }
            let want_write = !self.out.is_empty();
            let can_read = !self.read_closed && self.control.len() < CONTROL_LIMIT;
            if !want_write && !can_read && self.cursor.is_none() {
                return Ok(()); // a publisher that stopped sending and has everything
            }
            let appended = hub.log.appended().notified();
            tokio::pin!(appended);
            let idle = !want_write && self.cursor.is_some();
            if idle {
                appended.as_mut().enable();
                if self.cursor.is_some_and(|c| c <= hub.log.tail()) {
                    continue;
                }
                self.release_idle_memory();
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(End::Shutdown),
                ready = self.stream.writable(), if want_write => {
                    ready?;
                    self.write_some()?;
                }
                ready = self.stream.readable(), if can_read => {
                    ready?;
                    if self.read_some().await? {
                        self.consume_input(name).await?;
                    }
                }
                _ = &mut appended, if idle => {}
            }
        }
    }

    /// Reads what is available. Returns whether new bytes arrived; handles end of input.
    async fn read_some(&mut self) -> Result<bool, End> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match self.stream.try_read_buf(&mut self.rbuf) {
            Ok(0) => {
                self.read_closed = true;
                if self.kind != ClientKind::Text && !self.rbuf.is_empty() {
                    return Err(ProtocolError::Truncated(self.rbuf.len()).into());
                }
                // A peer that closed entirely (not just its sending side) is gone.
                if self.peer_gone().await {
                    return Err(End::Closed(None));
                }
                Ok(self.kind == ClientKind::Text && !self.rbuf.is_empty())
            }
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the peer has closed both directions, asked right after its sending side
    /// closed: a peer that closed entirely has also closed our writing side, while one
    /// that only shut down its sending side (a read-only tool) has not.
    async fn peer_gone(&self) -> bool {
        match tokio::time::timeout(Duration::ZERO, self.stream.ready(Interest::WRITABLE)).await {
            Ok(Ok(ready)) => ready.is_write_closed(),
            Ok(Err(_)) => true,
            Err(_) => false, // not writable right now: the peer is there, just not reading
        }
    }

    /// Handles every complete frame (or line, for text clients) in the read buffer.
    async fn consume_input(&mut self, name: &str) -> Result<(), End> {
        if self.kind == ClientKind::Text {
            self.consume_lines(name).await;
        } else {
            while let Some(frame) = self.codec.decode(&mut self.rbuf)? {
                self.handle_frame(frame, name).await?;
            }
        }
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_READ_BUFFER {
            self.rbuf = BytesMut::new();
        }
        Ok(())
    }

    async fn handle_frame(&mut self, frame: Frame, name: &str) -> Result<(), End> {
        match frame {
            Frame::Send(body) => {
                if self.kind.broadcasts() {
                    self.hub.log.publish(self.id, &body);
                    self.hub.show_event(self.message(name, body, true));
                } else {
                    self.hub
                        .tell_operator(self.message(name, body, false))
                        .await;
                }
            }
            Frame::Ping(nonce) => self.control.push_back(Frame::Pong(nonce).to_bytes()),
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
                        "{} is a hub-to-client frame; after HELLO a client sends only SEND and PING",
                        t.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Text clients: each complete line is a message to the operator. A line longer
    /// than the frame limit is shown in parts of at most that size.
    async fn consume_lines(&mut self, name: &str) {
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

    fn message(&self, name: &str, body: Bytes, broadcast: bool) -> ConsoleEvent {
        ConsoleEvent::Message {
            from: self.id,
            name: name.to_owned(),
            body,
            broadcast,
        }
    }

    /// Moves the next output into `out`: control frames first, then broadcasts from the
    /// cursor (with a `LAGGED` first if the cursor fell behind the log).
    fn refill(&mut self) {
        self.out.extend(self.control.drain(..));
        let Some(cursor) = self.cursor.as_mut() else {
            return;
        };
        let text = self.kind == ClientKind::Text;
        let start = self.out.len();
        loop {
            match self
                .hub
                .log
                .read(*cursor, &mut self.out, BATCH_FRAMES, BATCH_BYTES)
            {
                Read::Frames(n) => *cursor += n as u64,
                Read::Lagged { missed, next } => {
                    warn!(missed, next_seq = next, "client fell behind the log");
                    if !text {
                        let lagged = Frame::Lagged {
                            missed,
                            next_seq: Seq(next),
                        };
                        self.out.push_back(lagged.to_bytes());
                    }
                    *cursor = next;
                    continue;
                }
                Read::Empty => {}
            }
            break;
        }
        if text {
            for frame in self.out.range_mut(start..) {
                *frame = text_line(frame);
            }
        }
    }

    /// Writes as much of `out` as the socket takes now.
    fn write_some(&mut self) -> Result<(), End> {
        for _ in 0..WRITES_PER_TURN {
            if self.out.is_empty() {
                self.refill();
                if self.out.is_empty() {
                    return Ok(());
                }
            }
            let mut slices = [IoSlice::new(&[]); 128];
            let mut count = 0;
            for (i, frame) in self.out.iter().take(slices.len()).enumerate() {
                let skip = if i == 0 { self.offset } else { 0 };
                slices[i] = IoSlice::new(&frame[skip..]);
                count += 1;
            }
            match self.stream.try_write_vectored(&slices[..count]) {
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Drops `n` written bytes from the front of `out`.
    fn advance(&mut self, mut n: usize) {
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

    /// Frees the output queue's memory before sleeping, after a burst grew it.
    fn release_idle_memory(&mut self) {
        if self.out.capacity() > 64 {
            self.out = VecDeque::new();
        }
    }

    /// Reads until the read buffer holds a complete frame.
    async fn read_frame(&mut self) -> Result<Frame, ProtocolError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.rbuf)? {
                return Ok(frame);
            }
            if self.read_more().await? == 0 {
                return Err(match self.rbuf.len() {
                    0 => ProtocolError::Io(io::ErrorKind::UnexpectedEof.into()),
                    n => ProtocolError::Truncated(n),
                });
            }
        }
    }

    /// Waits for and reads more bytes; 0 means end of input.
    async fn read_more(&mut self) -> io::Result<usize> {
        loop {
            self.stream.readable().await?;
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            match self.stream.try_read_buf(&mut self.rbuf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }

    /// Says the last words the ending calls for, within a bounded time.
    async fn finish(&mut self, end: End) {
        match end {
            End::Closed(err) => {
                if let Some(err) = err {
                    debug!(%err, "connection failed");
                }
            }
            End::Done => {}
            End::Shutdown => {
                let bye = (self.kind != ClientKind::Text).then(|| {
                    Frame::Bye {
                        reason: ByeReason::SHUTDOWN,
                        text: "the hub is shutting down".into(),
                    }
                    .to_bytes()
                });
                self.flush(bye, self.hub.config.shutdown_timeout).await;
            }
            End::Protocol(code, text) => {
                warn!(%code, %text, "closing a connection that broke the protocol");
                self.cursor = None;
                let error = Frame::Error { code, text }.to_bytes();
                self.flush(Some(error), ERROR_FLUSH).await;
            }
            End::Refused(code, text) => {
                info!(%code, %text, "refused a client");
                self.cursor = None;
                let refused = Frame::Refused { code, text }.to_bytes();
                self.flush(Some(refused), ERROR_FLUSH).await;
            }
        }
    }

    /// Writes everything queued (control frames, then broadcasts up to the log's tail),
    /// then `last`, giving up after `limit`.
    async fn flush(&mut self, last: Option<Bytes>, limit: Duration) {
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

/// A text listener's line for one `BROADCAST` frame: the body, escaped so it stays one
/// line (`\` → `\\`, LF → `\n`, CR → `\r`), invalid UTF-8 replaced, then `\n`.
fn text_line(frame: &Bytes) -> Bytes {
    let body = frame.get(BROADCAST_BODY_OFFSET..).unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let mut line = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipehub_protocol::broadcast_frame;

    #[test]
    fn text_lines_escape_newlines_and_backslashes() {
        let frame = broadcast_frame(Seq(1), ClientId(0), 0, b"a\\b\nc\rd");
        assert_eq!(&text_line(&frame)[..], b"a\\\\b\\nc\\rd\n");
    }

    #[test]
    fn text_lines_replace_invalid_utf8() {
        let frame = broadcast_frame(Seq(1), ClientId(0), 0, b"ok\xff");
        assert_eq!(&text_line(&frame)[..], "ok\u{fffd}\n".as_bytes());
    }
}
