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

use std::{
    collections::VecDeque,
    io,
    io::IoSlice,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use pipehub_protocol::{
    ByeReason, ClientId, ErrorCode, Frame, FrameCodec, FrameType, Hello, ProtocolError, RefuseCode,
    Role, Seq, VERSION, Welcome,
};
use tokio::{
    io::Interest,
    sync::OwnedSemaphorePermit,
    time::{Instant, Sleep},
};
use tokio_util::{codec::Decoder, sync::CancellationToken};
use tracing::{Instrument, debug, info, warn};

mod handshake;
mod input;
mod output;

use crate::{
    ConsoleEvent,
    access::Peer,
    hub::{Shared, kicked_bye},
    log::Read,
    registry::{ClientHandle, ClientKind},
    text::{text_line, text_line_for},
    transport::{self, Stream},
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

/// Serves one accepted connection until it ends. `permit` is its place under the
/// client cap; a connection without one is told the hub is full.
pub(crate) async fn serve(
    hub: Arc<Shared>,
    stream: Stream,
    shutdown: CancellationToken,
    permit: Option<OwnedSemaphorePermit>,
) {
    let id = hub.next_client_id();
    let peer = transport::peer(&stream);
    let span = match peer {
        Some(p) => tracing::info_span!("client", client_id = %id, uid = p.uid, pid = p.pid),
        None => tracing::info_span!("client", client_id = %id),
    };
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
        // A connection that speaks is framed until it turns out to be a text client.
        kind: ClientKind::Framed(Role::Listener),
        read_closed: false,
        peer,
        last_input: Instant::now(),
        pinged: false,
        keepalive: None,
        handle: None,
        place: None,
    };
    async move {
        let end = match conn.handshake(&shutdown).await {
            Ok(Some((kind, hello))) => match conn.admit(kind, hello.as_ref(), permit.is_some()) {
                Ok(()) => {
                    conn.place = permit;
                    let name = hello.map(|h| h.name).unwrap_or_default();
                    conn.run_session(kind, name, &shutdown).await
                }
                Err(end) => end,
            },
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
    peer: Option<Peer>,
    /// When the client last sent anything.
    last_input: Instant,
    /// Whether a keepalive `PING` is outstanding.
    pinged: bool,
    /// Fires when the client has been silent for the keepalive interval (framed clients).
    keepalive: Option<Pin<Box<Sleep>>>,
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
            self.cursor = Some(self.hub.log.tail() + 1);
        } else if let Some(interval) = self.hub.config.keepalive {
            self.keepalive = Some(Box::pin(tokio::time::sleep(interval)));
        }
        // The handshake's buffer is no longer needed; a quiet client holds none.
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        let hub = Arc::clone(&self.hub);
        let handle = Arc::new(ClientHandle::new(self.id, kind, name.clone(), self.peer));
        handle
            .cursor
            .store(self.cursor.unwrap_or(0), Ordering::Relaxed);
        self.handle = Some(Arc::clone(&handle));
        let _registration = hub.registry.register(Arc::clone(&handle));
        debug!(kind = kind.name(), name, "client joined");
        self.hub.show_event(ConsoleEvent::Joined {
            id: self.id,
            name: name.clone(),
            kind: kind.name(),
        });
        let end = match self.session_loop(&handle, shutdown).await {
            Ok(()) => End::Done,
            Err(end) => end,
        };
        self.place = None;
        debug!(kind = kind.name(), name, "client left");
        self.hub
            .show_event(ConsoleEvent::Left { id: self.id, name });
        end
    }

    async fn session_loop(
        &mut self,
        handle: &ClientHandle,
        shutdown: &CancellationToken,
    ) -> Result<(), End> {
        let hub = Arc::clone(&self.hub);
        let name = handle.name.as_str();
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
                _ = handle.wake.notified() => self.read_mail(handle)?,
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
                () = keepalive_due(&mut self.keepalive), if self.keepalive.is_some() => self.keepalive_due()?,
            }
        }
    }

    /// Moves what the hub posted for this client alone into its control queue; a kick
    /// ends the session.
    fn read_mail(&mut self, handle: &ClientHandle) -> Result<(), End> {
        let mail = handle.take_mail();
        self.control.extend(mail.frames);
        match mail.kick {
            Some(reason) => Err(End::Kicked(reason)),
            None => Ok(()),
        }
    }

    /// The keepalive timer fired: ping a client that has been silent for the interval,
    /// give up on one that stayed silent after the ping.
    fn keepalive_due(&mut self) -> Result<(), End> {
        let (Some(interval), Some(timer)) = (self.hub.config.keepalive, self.keepalive.as_mut())
        else {
            return Ok(());
        };
        let silent = self.last_input.elapsed();
        if silent < interval {
            // Heard from since the timer was set (which also cleared any ping).
            timer.as_mut().reset(self.last_input + interval);
        } else if !self.pinged {
            self.pinged = true;
            self.control
                .push_back(Frame::Ping(silent.as_millis() as u64).to_bytes());
            timer.as_mut().reset(self.last_input + interval * 2);
        } else {
            return Err(End::Silent(silent));
        }
        Ok(())
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
                let refused = if self.kind == ClientKind::Text {
                    Bytes::from(format!("pipehub: refused: {text}\n"))
                } else {
                    Frame::Refused { code, text }.to_bytes()
                };
                self.flush(Some(refused), ERROR_FLUSH).await;
            }
            End::Kicked(reason) => {
                info!(%reason, "client kicked by the operator");
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
                    "closing a client that answered nothing for {} s, not even a keepalive PING",
                    silent.as_secs()
                );
            }
        }
    }
}

/// Completes when the keepalive timer fires (never, without one).
async fn keepalive_due(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}
