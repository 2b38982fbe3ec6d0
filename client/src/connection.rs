//! [`Connection`]: one session with a hub, from `HELLO` to `BYE`.
//!
//! A connection is a `Framed` stream over the platform [`Stream`] with the protocol's
//! [`FrameCodec`], set to skip hub frames of types it does not know (as the protocol asks
//! of clients). It owns the handshake (so nobody can send before `WELCOME`, and a peer
//! that never answers is given up after [`WELCOME_TIMEOUT`]), turns the hub's frames into
//! [`Event`]s (so callers never see frames a hub must not send them), and offers the one
//! delivery guarantee the protocol has: the hub answers `PING` only after it has handled
//! every frame sent before, so [`Connection::confirm`] returning `Ok` means the hub took
//! every message [`Connection::send`] was given.
//!
//! A broadcast that came from another hub over a bridge arrives as two frames, `ORIGIN`
//! then `BROADCAST` (protocol section 4.15). The connection holds the `ORIGIN` back and
//! hands out one [`Event::Broadcast`] carrying both; an `ORIGIN` followed by any other
//! frame describes nothing and is dropped, so a stale origin is never attached to a
//! later broadcast.
//!
//! Liveness works both ways, as the protocol's keepalive section says. A `PING` from the
//! hub is answered at once, inside [`Connection::next_event`], and never surfaces. And a
//! connection that has heard nothing from the hub for its keepalive interval
//! ([`DEFAULT_KEEPALIVE`], see [`Connection::set_keepalive`]) sends a `PING` of its own;
//! when another interval passes in silence, reading fails with
//! [`ClientError::HubSilent`]: a hub that hangs, or a peer gone without a close, is
//! noticed instead of waited for forever.
//!
//! Sending is buffered: [`Connection::send`] only queues the frame, and the queue is
//! written once it holds [`WRITE_BATCH`] bytes, on [`Connection::flush`], or on
//! [`Connection::confirm`]. Many small messages thus cost few system calls.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pipehub_protocol::status::{StatusAssembler, StatusReport};
use pipehub_protocol::{
    BROADCAST_BODY_OFFSET, Broadcast, ByeReason, ClientId, DEFAULT_MAX_FRAME, ErrorCode, Frame,
    FrameCodec, FrameType, Hello, LENGTH_LEN, Origin, Role, Seq, Welcome,
};
use tokio::time::Instant;
use tokio_util::codec::Framed;

use crate::ClientError;
use crate::transport::{self, Stream};

/// Queued outgoing bytes at which [`Connection::send`] writes them out.
pub const WRITE_BATCH: usize = 64 * 1024;

/// How often [`Connection::connect_wait`] tries again while no hub is there.
pub const CONNECT_RETRY: Duration = Duration::from_millis(100);

/// How long [`Connection::connect`] waits for the hub's answer to `HELLO`.
pub const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// The keepalive interval a new connection starts with, the same as the hub's default:
/// after this long without a frame from the hub, the connection sends a `PING`; after
/// twice this long, the hub is taken for gone.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);

/// Set in the nonces of keepalive `PING`s, so that their `PONG`s are told apart from
/// those [`Connection::confirm`] waits for (which count up from 1) and are not surfaced.
const KEEPALIVE_NONCE: u64 = 1 << 63;

/// How much longer a publisher's `BROADCAST` is than its `SEND`: a publisher's body must
/// leave room for it within the maximum frame size.
const BROADCAST_OVERHEAD: usize = BROADCAST_BODY_OFFSET - LENGTH_LEN - 1;

/// How long a failed write waits for the frame that explains it (`ERROR`, `BYE`,
/// `REFUSED`): a hub that closes a connection says why first, so the reason is normally
/// already in the receive buffer.
const EXPLAIN_WAIT: Duration = Duration::from_secs(1);

/// Something the hub told this client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A broadcast message (listeners only).
    Broadcast {
        /// The message, numbered in this hub's sequence like every other broadcast.
        broadcast: Broadcast,
        /// Where the message was first broadcast, when it came from another hub over a
        /// bridge (its `sender` is then [`ClientId::REMOTE`]): the `ORIGIN` frame the hub
        /// sent immediately before it. `None` for a message broadcast on this hub.
        origin: Option<Origin>,
    },
    /// This client fell behind and missed `missed` broadcasts; the next broadcast it
    /// receives is `next_seq`.
    Lagged { missed: u64, next_seq: Seq },
    /// The hub is closing this healthy session (shutdown, or the operator removed this
    /// client). The connection ends after it.
    Bye { reason: ByeReason, text: String },
    /// A message from the hub's operator to this client alone (`DIRECT`). It is not a
    /// broadcast: it has no sequence number and does not move this client's place in the
    /// broadcast sequence.
    Direct {
        /// Who sent it: [`ClientId::OPERATOR`] for the hub's console.
        sender: ClientId,
        /// When the hub took the message, in microseconds since the Unix epoch.
        timestamp_us: u64,
        /// The message, binary-safe.
        body: Bytes,
    },
    /// The answer to a `PING` this client sent with [`Connection::confirm`] (the answers
    /// to keepalive `PING`s are not surfaced).
    Pong(u64),
}

/// What one frame from the hub is to the reader: an event, or a part of a status report
/// (which only [`Connection::status`] wants).
enum Incoming {
    Event(Event),
    StatusPart { more: bool, part: Bytes },
}

/// An open session taken apart by [`Connection::into_parts`].
#[derive(Debug)]
pub struct Parts {
    /// The connected stream, past the handshake.
    pub stream: Stream,
    /// Bytes already read from `stream` and not yet parsed: the start of the frames
    /// after `WELCOME`.
    pub read: BytesMut,
    /// The hub's `WELCOME`.
    pub welcome: Welcome,
}

/// One open session with a hub.
#[derive(Debug)]
pub struct Connection {
    framed: Framed<Stream, FrameCodec>,
    endpoint: String,
    role: Role,
    welcome: Welcome,
    /// Events read while [`Connection::confirm`] waited for its `PONG`, handed out by
    /// [`Connection::next_event`] before anything newer.
    pending: VecDeque<Event>,
    next_nonce: u64,
    /// `None`: no keepalive (wait for the hub forever).
    keepalive: Option<Duration>,
    /// When the last frame from the hub arrived (or the session opened).
    last_heard: Instant,
    /// When a keepalive `PING` went out, if nothing has arrived since.
    probe_sent: Option<Instant>,
    /// An `ORIGIN` waiting for the `BROADCAST` it describes, which must be the very next
    /// frame; any other frame drops it.
    origin: Option<Origin>,
}

impl Connection {
    /// Connects to the hub at `endpoint`, sends `hello` and waits for `WELCOME`, at most
    /// [`WELCOME_TIMEOUT`].
    ///
    /// From then on frames are limited to the size the hub announced. Fails with
    /// [`ClientError::NoHub`] if nothing serves `endpoint` ([`ClientError::Unusable`] if
    /// no hub could serve it as it is), [`ClientError::Refused`] if the
    /// hub answers `REFUSED`, [`ClientError::WelcomeTimeout`] if no answer comes in time.
    /// The connection's keepalive starts at [`DEFAULT_KEEPALIVE`].
    pub async fn connect(endpoint: &str, hello: Hello) -> Result<Connection, ClientError> {
        Connection::connect_within(endpoint, hello, WELCOME_TIMEOUT).await
    }

    /// [`Connection::connect`], waiting `welcome_timeout` instead of [`WELCOME_TIMEOUT`]
    /// for the answer to `HELLO`.
    pub async fn connect_within(
        endpoint: &str,
        hello: Hello,
        welcome_timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let stream = transport::connect(endpoint).await.map_err(|err| {
            if let Some(problem) = transport::unusable(endpoint, &err) {
                tracing::debug!(endpoint, %err, "no hub can serve the endpoint");
                ClientError::Unusable {
                    endpoint: pipehub_protocol::endpoint::describe(
                        endpoint,
                        &pipehub_protocol::endpoint::resolve(endpoint),
                    ),
                    problem,
                }
            } else if transport::is_no_hub(&err) {
                tracing::debug!(endpoint, %err, "no hub");
                ClientError::NoHub {
                    endpoint: endpoint.to_owned(),
                }
            } else {
                ClientError::Io(err)
            }
        })?;
        let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
        codec.set_skip_unknown_hub_frames(true);
        let mut framed = Framed::new(stream, codec);
        framed.set_backpressure_boundary(WRITE_BATCH);
        let role = hello.role;
        let welcome = tokio::time::timeout(welcome_timeout, handshake(&mut framed, hello))
            .await
            .map_err(|_| ClientError::WelcomeTimeout {
                endpoint: endpoint.to_owned(),
                waited: welcome_timeout,
            })??;
        framed.codec_mut().set_max_frame(welcome.max_frame);
        tracing::debug!(
            endpoint,
            client_id = %welcome.client_id,
            hub_instance = %welcome.hub_instance,
            current_seq = %welcome.current_seq,
            max_frame = welcome.max_frame,
            queue_frames = welcome.queue_frames,
            "session open"
        );
        Ok(Connection {
            framed,
            endpoint: endpoint.to_owned(),
            role,
            welcome,
            pending: VecDeque::new(),
            next_nonce: 1,
            keepalive: Some(DEFAULT_KEEPALIVE),
            last_heard: Instant::now(),
            probe_sent: None,
            origin: None,
        })
    }

    /// Like [`Connection::connect`], but while no hub serves `endpoint`, tries again every
    /// [`CONNECT_RETRY`] until `wait` has passed. A zero `wait` tries once. Only a missing
    /// hub is retried ([`ClientError::NoHub`], or an endpoint whose directory does not
    /// exist yet): a hub that refuses means it, and a path no hub can serve stays so.
    pub async fn connect_wait(
        endpoint: &str,
        hello: Hello,
        wait: Duration,
    ) -> Result<Connection, ClientError> {
        // `None`: a wait too long to represent, i.e. forever.
        let deadline = Instant::now().checked_add(wait);
        let mut announced = false;
        loop {
            let err = match Connection::connect(endpoint, hello.clone()).await {
                Err(err @ ClientError::NoHub { .. }) => err,
                Err(err @ ClientError::Unusable { .. }) if err.is_transient() => err,
                other => return other,
            };
            let pause = match deadline {
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Err(err);
                    }
                    remaining.min(CONNECT_RETRY)
                }
                None => CONNECT_RETRY,
            };
            if !announced {
                tracing::info!(endpoint, ?wait, "no hub yet; waiting for one");
                announced = true;
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Hands the session over to a reader that parses the hub's frames itself, such as
    /// the load tool's receivers, which count frames in place instead of decoding each
    /// into an [`Event`]. Call it right after connecting: the connection then holds no
    /// event yet, and what it has read past `WELCOME` (broadcasts pipelined behind it)
    /// is in [`Parts::read`]. From then on the new owner answers the hub's `PING`s.
    pub fn into_parts(self) -> Parts {
        debug_assert!(
            self.pending.is_empty() && self.origin.is_none(),
            "into_parts after events were read"
        );
        let parts = self.framed.into_parts();
        Parts {
            stream: parts.io,
            read: parts.read_buf,
            welcome: self.welcome,
        }
    }

    /// The hub's `WELCOME`: this client's ID, the hub instance, limits.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The endpoint this connection was opened to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The longest message body the hub accepts from this client. A listener's message
    /// goes to the operator only and may fill a frame: the maximum frame size minus the
    /// type byte. A publisher's is broadcast in a frame 24 bytes longer than its `SEND`,
    /// which must fit too: the maximum frame size minus 25.
    pub fn max_message_len(&self) -> usize {
        let max_frame = usize::try_from(self.framed.codec().max_frame()).unwrap_or(usize::MAX);
        match self.role {
            Role::Listener => max_frame.saturating_sub(1),
            Role::Publisher => max_frame.saturating_sub(1 + BROADCAST_OVERHEAD),
        }
    }

    /// Sets the keepalive interval: after `interval` without a frame from the hub, the
    /// connection sends a `PING`; after another `interval` still without one, reading
    /// fails with [`ClientError::HubSilent`]. `None` (or zero) turns it off: the
    /// connection then waits for the hub as long as it takes. New connections start
    /// with [`DEFAULT_KEEPALIVE`].
    pub fn set_keepalive(&mut self, interval: Option<Duration>) {
        self.keepalive = interval.filter(|interval| !interval.is_zero());
    }

    /// The keepalive interval in force, if any.
    pub fn keepalive(&self) -> Option<Duration> {
        self.keepalive
    }

    /// The next thing the hub says. `Ok(None)` when the hub closed the connection on a
    /// frame boundary (after a [`Event::Bye`], that is the normal end).
    ///
    /// An `ERROR` frame is returned as [`ClientError::HubError`]; frames a hub must not
    /// send after `WELCOME` as [`ClientError::UnexpectedFrame`]; frames of unknown type
    /// are skipped. A `PING` from the hub is answered here and not returned. An `ORIGIN`
    /// is returned with the broadcast it describes. A hub silent for two keepalive
    /// intervals is [`ClientError::HubSilent`].
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        self.read_event().await
    }

    /// Whether [`Connection::next_event`] has an event (or an error) ready without waiting
    /// for the hub. A reader that prints events flushes its output when this is false,
    /// so output is batched while the hub is ahead and never held back while it is idle.
    pub fn event_ready(&self) -> bool {
        // A PING is answered without waiting and is no event, and an ORIGIN is only half
        // of one (its BROADCAST may not be here yet); anything else (an error included)
        // is returned at once.
        let (ping, origin) = (FrameType::Ping as u8, FrameType::Origin as u8);
        !self.pending.is_empty()
            || self
                .framed
                .codec()
                .buffered_types(self.framed.read_buffer())
                .any(|frame_type| frame_type.map_or(true, |t| t != ping && t != origin))
    }

    /// Queues one message (`SEND`). It is written once [`WRITE_BATCH`] bytes are queued,
    /// or by [`Connection::flush`] or [`Connection::confirm`].
    ///
    /// A publisher's message is broadcast to every listener; a listener's goes to the
    /// hub's operator. A body longer than [`Connection::max_message_len`] is refused with
    /// [`ClientError::MessageTooLarge`] before anything is written.
    pub async fn send(&mut self, body: Bytes) -> Result<(), ClientError> {
        let max = self.max_message_len();
        if body.len() > max {
            return Err(ClientError::MessageTooLarge {
                len: body.len(),
                max,
            });
        }
        match self.framed.feed(Frame::Send(body)).await {
            Ok(()) => Ok(()),
            Err(err) => Err(explain_write_failure(&mut self.framed, err.into()).await),
        }
    }

    /// Queues one message (`SEND`) from a borrowed body, like [`Connection::send`] but
    /// without a `Bytes` of its own: for senders that build many bodies in one reused
    /// buffer (the load tool's publishers). It is written once [`WRITE_BATCH`] bytes are
    /// queued, or by [`Connection::flush`] or [`Connection::confirm`].
    pub async fn send_slice(&mut self, body: &[u8]) -> Result<(), ClientError> {
        let max = self.max_message_len();
        if body.len() > max {
            return Err(ClientError::MessageTooLarge {
                len: body.len(),
                max,
            });
        }
        let queued = self.framed.write_buffer_mut();
        pipehub_protocol::put_send_frame(queued, body);
        if queued.len() >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes every queued message to the hub. This does not mean the hub has read them;
    /// [`Connection::confirm`] does.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        match SinkExt::<Frame>::flush(&mut self.framed).await {
            Ok(()) => Ok(()),
            Err(err) => Err(explain_write_failure(&mut self.framed, err.into()).await),
        }
    }

    /// Writes every queued message, then waits until the hub confirms it has handled them
    /// all: sends `PING` with a fresh nonce and reads until the matching `PONG`.
    ///
    /// Broadcasts and `LAGGED` notices that arrive meanwhile are kept for
    /// [`Connection::next_event`]. A `BYE` ([`ClientError::Bye`]), `ERROR` or the end of
    /// the connection ([`ClientError::Closed`]) before the `PONG` is an error: some
    /// messages may not have been taken.
    pub async fn confirm(&mut self) -> Result<(), ClientError> {
        let nonce = self.fresh_nonce();
        self.write_now(Frame::Ping(nonce)).await?;
        loop {
            match self.read_event().await? {
                Some(Event::Pong(answer)) if answer == nonce => return Ok(()),
                Some(Event::Pong(stale)) => {
                    tracing::debug!(stale, nonce, "ignoring the PONG of an earlier PING");
                }
                Some(Event::Bye { reason, text }) => return Err(ClientError::Bye { reason, text }),
                Some(event) => self.pending.push_back(event),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Asks the hub for its status report (`STATUS_REQUEST`) and waits for all of it.
    ///
    /// Broadcasts and other events that arrive meanwhile are kept for
    /// [`Connection::next_event`]. A hub older than status requests answers with an
    /// `ERROR` and closes: that is [`ClientError::NoStatus`].
    pub async fn status(&mut self) -> Result<StatusReport, ClientError> {
        let no_status = |endpoint: &str, err: ClientError| match err {
            ClientError::HubError { code, .. } if code == ErrorCode::UNKNOWN_FRAME_TYPE => {
                ClientError::NoStatus {
                    endpoint: endpoint.to_owned(),
                }
            }
            err => err,
        };
        if let Err(err) = self.write_now(Frame::StatusRequest).await {
            return Err(no_status(&self.endpoint, err));
        }
        let mut report = StatusAssembler::default();
        loop {
            let incoming = match self.read_incoming().await {
                Ok(incoming) => incoming,
                Err(err) => return Err(no_status(&self.endpoint, err)),
            };
            match incoming {
                Some(Incoming::StatusPart { more, part }) => {
                    if let Some(done) = report.push(more, &part) {
                        return done.map_err(ClientError::BadStatus);
                    }
                }
                Some(Incoming::Event(Event::Bye { reason, text })) => {
                    return Err(ClientError::Bye { reason, text });
                }
                Some(Incoming::Event(event)) => self.pending.push_back(event),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Reads one event from the connection, bypassing `pending`; a status report nobody
    /// asked for is skipped.
    async fn read_event(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            match self.read_incoming().await? {
                Some(Incoming::Event(event)) => return Ok(Some(event)),
                Some(Incoming::StatusPart { .. }) => {
                    tracing::debug!("ignoring a STATUS this client did not ask for");
                }
                None => return Ok(None),
            }
        }
    }

    /// Reads one frame's worth of news from the connection. Answers the hub's `PING`s,
    /// pairs each `ORIGIN` with its `BROADCAST`, and runs the keepalive on the way.
    async fn read_incoming(&mut self) -> Result<Option<Incoming>, ClientError> {
        loop {
            let next = match self.keepalive {
                None => self.framed.next().await,
                Some(interval) => {
                    let since = self.probe_sent.unwrap_or(self.last_heard);
                    match tokio::time::timeout_at(since + interval, self.framed.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            self.keepalive_due(interval).await?;
                            continue;
                        }
                    }
                }
            };
            let Some(frame) = next.transpose()? else {
                return Ok(None);
            };
            self.last_heard = Instant::now();
            self.probe_sent = None;
            // Whatever this frame is, a pending ORIGIN is used up by it: it describes only
            // a BROADCAST that comes next. (Frames of unknown type never get here: the
            // codec skips them, so they cannot separate the two.)
            let origin = self.origin.take();
            if origin.is_some() && !matches!(frame, Frame::Broadcast(_)) {
                tracing::debug!(
                    next = frame.frame_type().name(),
                    "discarding an ORIGIN not followed by its BROADCAST"
                );
            }
            let event = match frame {
                Frame::Origin(next) => {
                    self.origin = Some(next);
                    continue;
                }
                Frame::Broadcast(broadcast) => Event::Broadcast { broadcast, origin },
                Frame::Lagged { missed, next_seq } => Event::Lagged { missed, next_seq },
                Frame::Direct {
                    sender,
                    timestamp_us,
                    body,
                } => Event::Direct {
                    sender,
                    timestamp_us,
                    body,
                },
                Frame::Bye { reason, text } => Event::Bye { reason, text },
                Frame::Pong(nonce) if nonce & KEEPALIVE_NONCE != 0 => continue,
                Frame::Pong(nonce) => Event::Pong(nonce),
                Frame::Ping(nonce) => {
                    self.write_now(Frame::Pong(nonce)).await?;
                    continue;
                }
                Frame::Status { more, part } => {
                    return Ok(Some(Incoming::StatusPart { more, part }));
                }
                Frame::Error { code, text } => return Err(ClientError::HubError { code, text }),
                other => {
                    return Err(ClientError::UnexpectedFrame {
                        frame: other.frame_type(),
                        during: "after WELCOME",
                    });
                }
            };
            return Ok(Some(Incoming::Event(event)));
        }
    }

    /// A keepalive interval passed without a frame from the hub: the first time, probe
    /// it with a `PING`; if the probe too went unanswered for an interval, give up.
    async fn keepalive_due(&mut self, interval: Duration) -> Result<(), ClientError> {
        if self.probe_sent.is_none() {
            let nonce = KEEPALIVE_NONCE | self.fresh_nonce();
            tracing::debug!(
                endpoint = self.endpoint,
                ?interval,
                "the hub is quiet; sending a keepalive PING"
            );
            // A hub that does not take even a 13-byte frame within the interval is not
            // reading: as good as silent.
            if let Ok(written) =
                tokio::time::timeout(interval, self.write_now(Frame::Ping(nonce))).await
            {
                written?;
                self.probe_sent = Some(Instant::now());
                return Ok(());
            }
        }
        Err(ClientError::HubSilent {
            endpoint: self.endpoint.clone(),
            silent_for: self.last_heard.elapsed(),
        })
    }

    /// A nonce for a `PING`, never the same twice on this connection.
    fn fresh_nonce(&mut self) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce = (self.next_nonce + 1) & !KEEPALIVE_NONCE;
        nonce
    }

    /// Writes `frame` and everything queued before it.
    async fn write_now(&mut self, frame: Frame) -> Result<(), ClientError> {
        match self.framed.send(frame).await {
            Ok(()) => Ok(()),
            Err(err) => Err(explain_write_failure(&mut self.framed, err.into()).await),
        }
    }
}

/// Sends `hello` and reads the hub's answer.
async fn handshake(
    framed: &mut Framed<Stream, FrameCodec>,
    hello: Hello,
) -> Result<Welcome, ClientError> {
    if let Err(err) = framed.send(Frame::Hello(hello)).await {
        // A hub that refuses at once may close before reading HELLO; its REFUSED is the
        // real answer.
        return Err(explain_write_failure(framed, err.into()).await);
    }
    let Some(frame) = framed.next().await.transpose()? else {
        return Err(ClientError::Closed);
    };
    match frame {
        Frame::Welcome(welcome) => Ok(welcome),
        Frame::Refused { code, text } => Err(ClientError::Refused { code, text }),
        Frame::Error { code, text } => Err(ClientError::HubError { code, text }),
        Frame::Bye { reason, text } => Err(ClientError::Bye { reason, text }),
        other => Err(ClientError::UnexpectedFrame {
            frame: other.frame_type(),
            during: "before WELCOME",
        }),
    }
}

/// A write failed, usually because the hub closed the connection. A hub says why before
/// it closes (`ERROR`, `BYE`, `REFUSED`), so read for that reason for a moment and
/// return it instead of the bare "broken pipe"; return `err` if there is none.
async fn explain_write_failure(
    framed: &mut Framed<Stream, FrameCodec>,
    err: ClientError,
) -> ClientError {
    if !matches!(err, ClientError::Io(_)) {
        return err;
    }
    let reason = tokio::time::timeout(EXPLAIN_WAIT, async {
        while let Some(Ok(frame)) = framed.next().await {
            match frame {
                Frame::Error { code, text } => return Some(ClientError::HubError { code, text }),
                Frame::Bye { reason, text } => return Some(ClientError::Bye { reason, text }),
                Frame::Refused { code, text } => return Some(ClientError::Refused { code, text }),
                _ => {}
            }
        }
        None
    })
    .await;
    match reason {
        Ok(Some(reason)) => {
            tracing::debug!(%err, "write failed; the hub said why");
            reason
        }
        _ => err,
    }
}
