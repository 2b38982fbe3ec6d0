//! The start of a connection: wait for `HELLO` (or decide the client is a plain text
//! listener), decide whether to serve it (credentials, role, client cap), and place a
//! listener's cursor (live, resumed, or "the last K").

use std::io;

use pipehub_protocol::{
    ErrorCode, Frame, Hello, ProtocolError, RefuseCode, Role, Seq, VERSION, Welcome,
};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Connection, End, HANDSHAKE_CHUNK};
use crate::registry::ClientKind;

impl Connection {
    /// Waits for the client's `HELLO`, or decides it is a text listener. Returns the
    /// client's kind and `HELLO`, `None` if it left before saying anything.
    pub(super) async fn handshake(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<(ClientKind, Option<Hello>)>, End> {
        let grace = tokio::time::sleep(self.hub.config().text_grace);
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Err(End::Closed(None)),
            _ = grace => return Ok(Some((ClientKind::Text, None))),
            read = self.read_more() => read?,
        };
        if first == 0 {
            self.read_closed = true;
            if self.peer_gone() {
                return Ok(None); // connected and left at once, e.g. a liveness probe
            }
            // Half-closed before a single byte: a plain tool that only reads.
            return Ok(Some((ClientKind::Text, None)));
        }
        // A HELLO's length field is below 256, so it starts with a zero byte. Anything
        // else is text from a client that wrote before the grace period ended, such as a
        // .NET InOut client writing right after it connected.
        if self.rbuf.first() != Some(&0) {
            return Ok(Some((ClientKind::Text, None)));
        }
        let hello = tokio::time::timeout(self.hub.config().handshake_timeout, self.read_frame())
            .await
            .map_err(|_| {
                End::Protocol(
                    ErrorCode::MALFORMED_FRAME,
                    format!(
                        "HELLO not completed within {:?}",
                        self.hub.config().handshake_timeout
                    ),
                )
            })?;
        let hello = match hello {
            Ok(Frame::Hello(hello)) => hello,
            Ok(other) => return Err(ProtocolError::NotHello(other.frame_type()).into()),
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
        Ok(Some((ClientKind::Framed(hello.role), Some(hello))))
    }

    /// Decides whether the hub serves this client: its credentials, its role, the
    /// client cap. On success a framed client's `WELCOME` is queued.
    pub(super) fn admit(&mut self, kind: ClientKind, hello: Option<&Hello>) -> Result<(), End> {
        let has_place = self.place.is_some();
        let access = &self.hub.config().access;
        let refusal = if let Err(reason) = access.check_connect(self.peer) {
            Some((RefuseCode::NOT_PERMITTED, reason))
        } else if kind.broadcasts()
            && let Err(reason) = access.check_publish(self.peer)
        {
            Some((RefuseCode::NOT_PERMITTED, reason))
        } else if !has_place {
            Some((
                RefuseCode::HUB_FULL,
                format!(
                    "the hub is full ({} clients, --max-clients); try again later",
                    self.hub.config().max_clients
                ),
            ))
        } else {
            None
        };
        if let Some((code, reason)) = refusal {
            self.kind = kind;
            return Err(End::Refused(code, reason));
        }
        if let Some(hello) = hello {
            self.welcome(hello);
        }
        Ok(())
    }

    /// Queues `WELCOME` and places a listener's cursor: right after the latest
    /// broadcast; or, when the client asks for replay, right after its resume point (same
    /// hub instance only) or at the last K broadcasts, as far back as the history
    /// reaches. A resume point older than the history gets a `LAGGED` with the exact
    /// count first.
    pub(super) fn welcome(&mut self, hello: &Hello) {
        let tail = self.hub.log().tail();
        let welcome = Frame::Welcome(Welcome {
            version: VERSION,
            client_id: self.id,
            hub_instance: self.hub.instance(),
            current_seq: Seq(tail),
            max_frame: self.hub.config().max_frame,
            queue_frames: u32::try_from(self.hub.config().queue_frames).unwrap_or(u32::MAX),
        });
        self.control.push_back(welcome.to_bytes());
        if hello.role != Role::Listener {
            return;
        }
        let resume = match hello.resume {
            Some((instance, Seq(after))) if instance == self.hub.instance() => {
                Some(after.min(tail) + 1)
            }
            _ => None,
        };
        let last = hello
            .last
            .map(|k| (tail + 1).saturating_sub(u64::from(k)).max(1));
        let config = &self.hub.config();
        let floor = || {
            self.hub
                .log()
                .replay_floor(config.history_frames, config.history_bytes)
        };
        let start = match (resume, last) {
            (Some(wanted), _) => {
                let floor = floor();
                if wanted < floor {
                    let lagged = Frame::Lagged {
                        missed: floor - wanted,
                        next_seq: Seq(floor),
                    };
                    self.control.push_back(lagged.to_bytes());
                    warn!(
                        client_id = %self.id,
                        missed = floor - wanted,
                        "resume point is older than the history"
                    );
                }
                wanted.max(floor)
            }
            (None, Some(wanted)) => wanted.max(floor()),
            (None, None) => tail + 1,
        };
        self.cursor = Some(start);
    }

    /// Reads until the read buffer holds the connection's first frame, complete. Checks
    /// what has arrived after each read (`FrameCodec::decode_first`): a bad length or a
    /// `HELLO` longer than a version-1 `HELLO` can be is refused without waiting for the
    /// rest. Bytes after the frame (frames pipelined behind the `HELLO`) stay in the buffer.
    pub(super) async fn read_frame(&mut self) -> Result<Frame, ProtocolError> {
        loop {
            if let Some(frame) = self.codec.decode_first(&mut self.rbuf)? {
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
    pub(super) async fn read_more(&mut self) -> io::Result<usize> {
        loop {
            self.stream.readable().await?;
            if self.rbuf.capacity() == self.rbuf.len() {
                self.rbuf.reserve(HANDSHAKE_CHUNK);
            }
            match self.stream.try_read_buf(&mut self.rbuf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }
}
