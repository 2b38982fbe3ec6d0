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
//! log's "appended" notification.
//!
//! A publisher's message the log has no room for (listeners are a window behind, see
//! `pacing`) is kept as `pending`, and the client is not read until it is taken: the
//! publisher is paced through its own socket. A listener that stops reading holds
//! publishers back for the stall timeout at most; then the log moves on, and the client
//! is later told exactly how much it missed.

use std::{
    collections::VecDeque,
    io,
    sync::{Arc, atomic::Ordering},
    task::Poll,
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{
    ByeReason, ClientId, ErrorCode, Frame, FrameCodec, ProtocolError, RefuseCode, Role,
};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, warn};

mod handshake;
mod input;
mod operator_pace;
mod output;

use crate::{
    access::Peer,
    event::ConsoleEvent,
    hub::{Hub, kicked_bye},
    logging::client_text,
    registry::{ClientHandle, ClientKind},
    text::text_line_for,
    transport::{self, Stream},
};

/// Most broadcasts made into a text listener's lines at a time.
const TEXT_BATCH_FRAMES: usize = 256;
/// Most bytes of broadcasts made into a text listener's lines at a time (at least one).
const TEXT_BATCH_BYTES: usize = 16 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 4096;
/// Read buffer growth step before the handshake is done: a whole `HELLO` (at most 98
/// bytes) fits. Small on purpose: every connection makes this allocation, and thousands
/// of freed 4 KiB buffers would leave the heap fragmented for the hub's whole life.
const HANDSHAKE_CHUNK: usize = 128;
/// Control frames that may wait before the hub stops reading from the client: a client
/// that sends `PING`s without reading the `PONG`s is slowed down, not buffered.
const CONTROL_LIMIT: usize = 64;
/// Write attempts per wake-up before yielding to other tasks.
const WRITES_PER_TURN: usize = 16;
/// Reads of a client that keeps sending (`READ_CHUNK` each) before the listeners are
/// woken for what it sent.
const READS_PER_TURN: usize = 16;
/// How long a connection that broke the protocol gets to receive its `ERROR`.
const ERROR_FLUSH: Duration = Duration::from_secs(1);

/// Serves one accepted connection until it ends. `permit` is its place under the
/// client cap; a connection without one is told the hub is full.
///
/// Not an `async fn`: everything is moved into the [`Connection`] before the future is
/// built, so the future holds each value once. It lives as long as its client, and its
/// size is most of what an idle client costs.
pub(crate) fn serve(
    hub: Hub,
    stream: Stream,
    shutdown: CancellationToken,
    permit: Option<OwnedSemaphorePermit>,
) -> impl Future<Output = ()> {
    let id = hub.next_client_id();
    let peer = transport::peer(&stream);
    // At debug level: a span lives as long as its client and costs memory per client;
    // the events that matter at info level carry the client ID themselves.
    let span = match peer {
        Some(p) => tracing::debug_span!("client", client_id = %id, uid = p.uid, pid = p.pid),
        None => tracing::debug_span!("client", client_id = %id),
    };
    let mut conn = Connection {
        codec: FrameCodec::new(hub.config().max_frame),
        hub,
        stream,
        id,
        rbuf: BytesMut::new(),
        out: VecDeque::new(),
        offset: 0,
        control: VecDeque::new(),
        pending: None,
        appended: false,
        reserved: 0,
        to_operator: None,
        cursor: None,
        // A connection that speaks is framed until it turns out to be a text client.
        kind: ClientKind::Framed(Role::Listener),
        read_closed: false,
        peer,
        handle: None,
        place: permit,
    };
    async move {
        // The handshake and the last words are boxed: each runs once, and inline they
        // would make every idle client's task larger.
        let admitted = match Box::pin(conn.handshake(&shutdown)).await {
            Ok(Some((kind, hello))) => conn
                .admit(kind, hello.as_ref())
                .map(|()| Some((kind, hello.map(|h| h.name).unwrap_or_default()))),
            Ok(None) => Ok(None),
            Err(end) => Err(end),
        };
        let end = match admitted {
            Ok(Some((kind, name))) => conn.run_session(kind, name, &shutdown).await,
            Ok(None) => End::Closed(None),
            Err(end) => end,
        };
        Box::pin(conn.finish(end)).await;
    }
    .instrument(span)
}

/// What woke a waiting session.
enum Wake {
    Mail,
    Writable,
    Readable,
    /// The log grew (an idle listener), or the gate moved (a paused publisher).
    Notified,
    /// The client's next message to the operator is due.
    OperatorDue,
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
    /// The hub will not serve the client; it gets a `REFUSED` (a text client, the
    /// reason as a line).
    Refused(RefuseCode, String),
    /// The operator removed the client; it gets `BYE` (kicked) with the reason.
    Kicked(String),
    /// A framed client answered nothing, not even a keepalive `PING`.
    Silent(Duration),
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
    hub: Hub,
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
    /// A publisher's message the log has no room for yet; nothing more is read from the
    /// client until it is taken.
    pending: Option<Bytes>,
    /// Broadcasts were appended that the listeners have not been woken for yet: they
    /// are woken once per batch of the client's input (up to `READS_PER_TURN` reads),
    /// not once per broadcast.
    appended: bool,
    /// Bytes of the hub's budget for large frames (`partial`) that the frame being read
    /// holds.
    reserved: usize,
    /// How fast the client may talk to the operator, once it has; while it must wait for
    /// its next message to be due, it is not read.
    to_operator: Option<Box<operator_pace::ToOperator>>,
    /// The sequence number of the next broadcast to send; `None` for a client that
    /// receives no broadcasts.
    cursor: Option<u64>,
    kind: ClientKind,
    /// The client shut down its sending side; it may still be reading.
    read_closed: bool,
    peer: Option<Peer>,
    /// The client's entry in the registry, once it has one.
    handle: Option<Arc<ClientHandle>>,
    /// The client's place under the client cap; freed as soon as the session ends, before
    /// the client leaves the registry, so a client that sees it gone can take its place.
    place: Option<OwnedSemaphorePermit>,
}

impl Connection {
    /// Serves a client whose kind is known until the connection ends.
    async fn run_session(
        &mut self,
        kind: ClientKind,
        name: String,
        shutdown: &CancellationToken,
    ) -> End {
        self.kind = kind;
        if kind == ClientKind::Text {
            self.cursor = Some(self.hub.log().tail() + 1);
        }
        // The handshake's buffer is no longer needed; a quiet client holds none.
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        let hub = self.hub.clone();
        let probe = transport::UnreadProbe::of(&self.stream);
        let handle = Arc::new(ClientHandle::new(
            self.id,
            kind,
            name.clone(),
            self.peer,
            probe,
        ));
        handle
            .cursor
            .store(self.cursor.unwrap_or(0), Ordering::Relaxed);
        // A read-only tool that shut down its sending side during the handshake.
        handle
            .half_closed
            .store(self.read_closed, Ordering::Relaxed);
        self.handle = Some(Arc::clone(&handle));
        let _registration = hub.registry().register(Arc::clone(&handle));
        if let Some(cursor) = self.cursor {
            hub.pacer().join(cursor);
        }
        debug!(kind = kind.name(), name = %client_text(&name), "client joined");
        self.hub.show_event(ConsoleEvent::Joined {
            id: self.id,
            name: name.clone(),
            kind: kind.name(),
        });
        let end = match self.session_loop(&handle, shutdown).await {
            Ok(()) => End::Done,
            Err(end) => end,
        };
        // Broadcasts taken just before the session ended are delivered all the same.
        self.wake_listeners();
        if let Some(cursor) = self.cursor {
            hub.pacer().left(cursor);
        }
        hub.partial().give_back(std::mem::take(&mut self.reserved));
        hub.partial().forget(&handle);
        self.end_pause();
        self.place = None;
        debug!(kind = kind.name(), name = %client_text(&name), "client left");
        self.hub
            .show_event(ConsoleEvent::Left { id: self.id, name });
        end
    }

    async fn session_loop(
        &mut self,
        handle: &ClientHandle,
        shutdown: &CancellationToken,
    ) -> Result<(), End> {
        // Shutdown reaches a registered client through its mailbox; one that registered
        // after the hub swept the registry sees the token instead.
        if shutdown.is_cancelled() {
            return Err(End::Shutdown);
        }
        let hub = self.hub.clone();
        let name = handle.name.as_str();
        // Bytes that arrived with the HELLO.
        Box::pin(self.consume_input(name)).await?;
        loop {
            // The end of a batch of the client's input: the listeners learn of the
            // broadcasts in it, once.
            self.wake_listeners();
            let want_write = self.has_output();
            let paused = self.pending.is_some();
            let slowed = self.waits_for_operator();
            let may_read = self.may_read();
            // A large frame reads on only while the hub's budget holds it; until then the
            // client waits for its mailbox.
            let can_read = may_read && self.reserve_for_frame();
            let waits_for_room = may_read && !can_read;
            if !want_write
                && !can_read
                && !paused
                && !waits_for_room
                && !slowed
                && self.cursor.is_none()
            {
                return Ok(()); // a publisher that stopped sending and has everything
            }
            // Besides its socket and mailbox, an idle listener waits for the log to grow,
            // a paused publisher for room in it.
            let idle = !want_write && self.cursor.is_some();
            let notify = if paused {
                hub.pacer().room()
            } else {
                hub.log().appended()
            };
            let mut notified = std::pin::pin!(notify.notified());
            if paused {
                notified.as_mut().enable();
                if self.retry_pending(name) {
                    Box::pin(self.consume_input(name)).await?;
                    continue;
                }
            } else if idle {
                notified.as_mut().enable();
                if self.cursor.is_some_and(|c| c <= hub.log().tail()) {
                    continue;
                }
                self.release_idle_memory();
            }
            let mut mail = std::pin::pin!(handle.wake.notified());
            // One poll function over every source instead of `select!` over futures:
            // socket readiness is polled in place (no future stored per direction), so
            // the wait costs an idle client two small `Notified`s and nothing else.
            let woke = std::future::poll_fn(|cx| {
                if mail.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(Wake::Mail));
                }
                if want_write && let Poll::Ready(ready) = self.stream.poll_write_ready(cx) {
                    return Poll::Ready(ready.map(|()| Wake::Writable));
                }
                if can_read && let Poll::Ready(ready) = self.stream.poll_read_ready(cx) {
                    return Poll::Ready(ready.map(|()| Wake::Readable));
                }
                if (idle || paused) && notified.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(Wake::Notified));
                }
                if let Some(due) = self.to_operator.as_mut().and_then(|t| t.due())
                    && due.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Ok(Wake::OperatorDue));
                }
                Poll::Pending
            })
            .await?;
            match woke {
                Wake::Mail => self.read_mail(handle)?,
                Wake::Writable => self.write_some()?,
                Wake::Readable => {
                    // While the client keeps sending, read on (a chunk at a time, so it
                    // holds little) before the listeners are woken, so that each
                    // writes the batch at once.
                    for _ in 0..READS_PER_TURN {
                        if !self.read_some()? {
                            break;
                        }
                        // Boxed: clients rarely send, and inline this future would
                        // make every idle client's task larger.
                        Box::pin(self.consume_input(name)).await?;
                        if !(self.may_read() && self.reserve_for_frame()) {
                            break;
                        }
                    }
                }
                Wake::Notified => {}
                Wake::OperatorDue => {
                    if let Some(to_operator) = &mut self.to_operator {
                        to_operator.end_wait();
                    }
                    Box::pin(self.consume_input(name)).await?;
                }
            }
        }
    }

    /// Whether the client may be read now: it has not closed its sending side, is not
    /// paused (its message waits for room in the log), is not past its rate to the
    /// operator, and reads the answers it asked for.
    fn may_read(&self) -> bool {
        !self.read_closed
            && self.control.len() < CONTROL_LIMIT
            && self.pending.is_none()
            && !self.waits_for_operator()
    }

    /// Wakes the listeners if this client's broadcasts were appended since it last did.
    fn wake_listeners(&mut self) {
        if std::mem::take(&mut self.appended) {
            self.hub.wake_listeners();
        }
    }

    /// Moves what the hub posted for this client alone into its control queue; a kick
    /// ends the session.
    fn read_mail(&mut self, handle: &ClientHandle) -> Result<(), End> {
        let mail = handle.take_mail();
        self.control.extend(mail.frames);
        if mail.shutdown {
            return Err(End::Shutdown);
        }
        if let Some(silent) = mail.silent {
            return Err(End::Silent(silent));
        }
        if mail.hung_up {
            return Err(End::Closed(None));
        }
        if let Some(unfinished) = mail.unfinished {
            return Err(End::Protocol(
                ErrorCode::MALFORMED_FRAME,
                format!(
                    "a frame was begun and not finished within {} s; send each frame whole",
                    unfinished.as_secs()
                ),
            ));
        }
        match mail.kick {
            Some(reason) => Err(End::Kicked(reason)),
            None => Ok(()),
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
                self.flush(bye, self.hub.config().shutdown_timeout).await;
            }
            End::Protocol(code, text) => {
                warn!(client_id = %self.id, %code, %text, "closing a connection that broke the protocol");
                self.cursor = None;
                let error = Frame::Error { code, text }.to_bytes();
                self.flush(Some(error), ERROR_FLUSH).await;
            }
            End::Refused(code, text) => {
                self.hub.count_refusal(code);
                let (uid, pid) = (self.peer.map(|p| p.uid), self.peer.and_then(|p| p.pid));
                info!(client_id = %self.id, ?uid, ?pid, %code, %text, "refused a client");
                self.cursor = None;
                let refused = if self.kind == ClientKind::Text {
                    Bytes::from(format!("pipehub: refused: {text}\n"))
                } else {
                    Frame::Refused { code, text }.to_bytes()
                };
                self.flush(Some(refused), ERROR_FLUSH).await;
            }
            End::Kicked(reason) => {
                info!(client_id = %self.id, %reason, "client kicked by the operator");
                self.cursor = None;
                let bye = if self.kind == ClientKind::Text {
                    text_line_for(format!("kicked: {reason}").as_bytes())
                } else {
                    kicked_bye(reason)
                };
                self.flush(Some(bye), ERROR_FLUSH).await;
            }
            End::Silent(silent) => {
                warn!(
                    client_id = %self.id,
                    "closing a client that answered nothing for {} s, not even a keepalive PING",
                    silent.as_secs()
                );
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    /// An idle client costs about its task, and the task is mostly this future: keep it
    /// small (it was 1.6 KB before the session waited through one poll function, and
    /// 2 KiB per idle client is the whole budget). A regression guard, not a benchmark:
    /// the size is a compile-time fact.
    #[tokio::test]
    async fn an_idle_connection_task_stays_small() {
        let (hub, _events) = crate::hub::Hub::new(crate::config::Config::default());
        let (stream, _peer) = tokio::net::UnixStream::pair().expect("socket pair");
        let token = tokio_util::sync::CancellationToken::new();
        let future = super::serve(hub.clone(), stream, token, None);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1024, "the connection future grew to {size} bytes");
    }
}
