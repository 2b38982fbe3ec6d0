//! [`Connection`]: one session with a hub, from `HELLO` to `BYE`.
//!
//! A connection is a `Framed` stream over the platform [`Stream`] with the client's
//! [`HubCodec`]. It owns the handshake (so nobody can send before `WELCOME`), turns the
//! hub's frames into [`Event`]s (so callers never see frames a hub must not send them),
//! and offers the one delivery guarantee the protocol has: the hub answers `PING` only
//! after it has handled every frame sent before, so [`Connection::confirm`] returning
//! `Ok` means the hub took every message [`Connection::send`] was given.
//!
//! Sending is buffered: [`Connection::send`] only queues the frame, and the queue is
//! written once it holds [`WRITE_BATCH`] bytes, on [`Connection::flush`], or on
//! [`Connection::confirm`]. Many small messages thus cost few system calls.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use pipehub_protocol::{Broadcast, ByeReason, DEFAULT_MAX_FRAME, Frame, Hello, Seq, Welcome};
use tokio::time::Instant;
use tokio_util::codec::Framed;

use crate::ClientError;
use crate::codec::HubCodec;
use crate::transport::{self, Stream};

/// Queued outgoing bytes at which [`Connection::send`] writes them out.
pub const WRITE_BATCH: usize = 64 * 1024;

/// How often [`Connection::connect_wait`] tries again while no hub is there.
pub const CONNECT_RETRY: Duration = Duration::from_millis(100);

/// How long a failed write waits for the frame that explains it (`ERROR`, `BYE`,
/// `REFUSED`): a hub that closes a connection says why first, so the reason is normally
/// already in the receive buffer.
const EXPLAIN_WAIT: Duration = Duration::from_secs(1);

/// Something the hub told this client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A broadcast message (listeners only).
    Broadcast(Broadcast),
    /// This client fell behind and missed `missed` broadcasts; the next broadcast it
    /// receives is `next_seq`.
    Lagged { missed: u64, next_seq: Seq },
    /// The hub is closing this healthy session (shutdown, or the operator removed this
    /// client). The connection ends after it.
    Bye { reason: ByeReason, text: String },
    /// The answer to a `PING`.
    Pong(u64),
}

/// One open session with a hub.
#[derive(Debug)]
pub struct Connection {
    framed: Framed<Stream, HubCodec>,
    endpoint: String,
    welcome: Welcome,
    /// Events read while [`Connection::confirm`] waited for its `PONG`, handed out by
    /// [`Connection::next_event`] before anything newer.
    pending: VecDeque<Event>,
    next_nonce: u64,
}

impl Connection {
    /// Connects to the hub at `endpoint`, sends `hello` and waits for `WELCOME`.
    ///
    /// From then on frames are limited to the size the hub announced. Fails with
    /// [`ClientError::NoHub`] if nothing serves `endpoint`, [`ClientError::Refused`] if the
    /// hub answers `REFUSED`.
    pub async fn connect(endpoint: &str, hello: Hello) -> Result<Connection, ClientError> {
        let stream = transport::connect(endpoint).await.map_err(|err| {
            if transport::is_no_hub(&err) {
                tracing::debug!(endpoint, %err, "no hub");
                ClientError::NoHub {
                    endpoint: endpoint.to_owned(),
                }
            } else {
                ClientError::Io(err)
            }
        })?;
        let mut framed = Framed::new(stream, HubCodec::new(DEFAULT_MAX_FRAME));
        framed.set_backpressure_boundary(WRITE_BATCH);
        let welcome = handshake(&mut framed, hello).await?;
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
            welcome,
            pending: VecDeque::new(),
            next_nonce: 1,
        })
    }

    /// Like [`Connection::connect`], but while no hub serves `endpoint`, tries again every
    /// [`CONNECT_RETRY`] until `wait` has passed. A zero `wait` tries once. Only
    /// [`ClientError::NoHub`] is retried: a hub that refuses means it.
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

    /// The hub's `WELCOME`: this client's ID, the hub instance, limits.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The endpoint this connection was opened to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The longest message body the hub accepts: the maximum frame size minus the type
    /// byte.
    pub fn max_message_len(&self) -> usize {
        usize::try_from(self.framed.codec().max_frame())
            .unwrap_or(usize::MAX)
            .saturating_sub(1)
    }

    /// The next thing the hub says. `Ok(None)` when the hub closed the connection on a
    /// frame boundary (after a [`Event::Bye`], that is the normal end).
    ///
    /// An `ERROR` frame is returned as [`ClientError::HubError`]; frames a hub must not
    /// send after `WELCOME` as [`ClientError::UnexpectedFrame`]; frames of unknown type
    /// are skipped.
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
        !self.pending.is_empty() || self.framed.codec().has_frame(self.framed.read_buffer())
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
        let nonce = self.next_nonce;
        self.next_nonce = self.next_nonce.wrapping_add(1);
        if let Err(err) = self.framed.send(Frame::Ping(nonce)).await {
            return Err(explain_write_failure(&mut self.framed, err.into()).await);
        }
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

    /// Reads one event from the connection, bypassing `pending`.
    async fn read_event(&mut self) -> Result<Option<Event>, ClientError> {
        let Some(frame) = self.framed.next().await.transpose()? else {
            return Ok(None);
        };
        match frame {
            Frame::Broadcast(broadcast) => Ok(Some(Event::Broadcast(broadcast))),
            Frame::Lagged { missed, next_seq } => Ok(Some(Event::Lagged { missed, next_seq })),
            Frame::Bye { reason, text } => Ok(Some(Event::Bye { reason, text })),
            Frame::Pong(nonce) => Ok(Some(Event::Pong(nonce))),
            Frame::Error { code, text } => Err(ClientError::HubError { code, text }),
            other => Err(ClientError::UnexpectedFrame {
                frame: other.frame_type(),
                during: "after WELCOME",
            }),
        }
    }
}

/// Sends `hello` and reads the hub's answer.
async fn handshake(
    framed: &mut Framed<Stream, HubCodec>,
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
    framed: &mut Framed<Stream, HubCodec>,
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
