//! `pipehub-client listen`: prints every broadcast, and every direct message from the
//! operator, to stdout.
//!
//! Output is buffered and flushed whenever no further event is already waiting (and after
//! every message on a terminal), so a burst costs few writes and an idle hub never leaves
//! a message unprinted. Nothing is lost silently: `LAGGED` notices and unexplained gaps in
//! the sequence numbers are reported on stderr, and in the JSON format a loss the client
//! can count, or a restarted hub, is also an event line on stdout where it happened. A
//! reader that closes stdout (`listen | head -3`) ends the command quietly and
//! successfully.
//!
//! With `--reconnect`, a session that is lost (closed without `BYE`, silent, or ended by
//! a `BYE` for shutdown) is followed by another, after a [`Backoff`] wait, whose `HELLO`
//! asks to resume after the last broadcast printed. The hub then continues exactly there,
//! or says with `LAGGED` how many it no longer holds. If the hub turns out to be a new
//! instance (it was restarted), the broadcasts the old one made after that point are
//! gone, and nobody can say how many: stderr says so. The resuming `HELLO` also asks for
//! every broadcast a new instance still holds, so of the new instance's broadcasts the
//! client misses only those the hub no longer holds, and says exactly how many. Started
//! before any hub, `--reconnect` waits for the first one the same way.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use pipehub_client::output::{StreamEvent, write_broadcast, write_direct, write_event};
use pipehub_client::protocol::{ByeReason, ClientId, Hello, HubInstance, Role, Seq, Welcome};
use pipehub_client::{Backoff, ClientError, Connection, Event, Format, SeqTracker};

use super::args::ListenArgs;
use super::exit::EndedEarly;
use super::notice;

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("could not write to stdout: {0}")]
struct StdoutError(io::Error);

/// Runs `listen`.
pub async fn run(endpoint: &str, wait: Duration, args: ListenArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let on_terminal = stdout.is_terminal();
    let format = match args.format {
        Some(format) => Format::from(format),
        None if on_terminal => Format::Pretty,
        None => Format::Plain,
    };
    let keepalive = Some(args.keepalive).filter(|interval| !interval.is_zero());
    let mut hello = Hello::new(Role::Listener).with_name(args.name.unwrap_or_default());
    if let Some(k) = args.last {
        hello = hello.with_last(k);
    }
    let mut backoff = Backoff::default();
    let mut connection = if args.reconnect {
        first_connection(endpoint, &hello, &mut backoff).await?
    } else {
        super::open(endpoint, wait, hello.clone()).await?
    };
    connection.set_keepalive(keepalive);
    let mut listen = Listen::new(hello, connection.welcome(), args.count);

    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut printer = Printer {
        out: &mut out,
        format,
        on_terminal,
    };
    let result = loop {
        let ending = match listen.receive(&mut connection, &mut printer).await {
            Ok(ending) => ending,
            Err(err) => break Err(err),
        };
        // Everything printed so far goes out before the notices below.
        if let Err(err) = printer.flush() {
            break Err(StdoutError(err).into());
        }
        match ending {
            Ending::Counted => break Ok(()),
            Ending::Bye { reason, text } => {
                let shutdown = reason == ByeReason::SHUTDOWN;
                notice(ClientError::Bye { reason, text });
                if !(args.reconnect && shutdown) {
                    break listen.bye_result();
                }
                notice(format_args!(
                    "reconnecting to {endpoint} once the hub is back"
                ));
            }
            Ending::Failed(err) if args.reconnect && err.is_transient() => {
                notice(format_args!(
                    "lost the connection to the hub at {endpoint}: {err}; reconnecting"
                ));
            }
            Ending::Failed(err) => break Err(err.into()),
        }
        if listen.heard_anything {
            backoff.reset();
        }
        connection = match reconnect(endpoint, &mut listen, &mut backoff, keepalive).await {
            Ok((connection, None)) => connection,
            Ok((connection, Some(event))) => {
                if let Err(err) = write_event(printer.out, printer.format, event) {
                    break Err(StdoutError(err).into());
                }
                connection
            }
            Err(err) => break Err(err.into()),
        };
    };
    let result = result.and_then(|()| printer.flush().map_err(|err| StdoutError(err).into()));
    tracing::info!(
        received = listen.tracker.received(),
        missed = listen.tracker.missed(),
        unexplained_gaps = listen.tracker.unexplained_gaps(),
        "listen finished"
    );
    match result {
        Err(err)
            if err
                .downcast_ref::<StdoutError>()
                .is_some_and(|err| err.0.kind() == io::ErrorKind::BrokenPipe) =>
        {
            tracing::debug!("stdout closed; stopping");
            Ok(())
        }
        result => result.with_context(|| {
            format!(
                "listening to the hub at {endpoint} (as client {})",
                listen.client_id
            )
        }),
    }
}

/// Opens the first session of `listen --reconnect`. A listener that is to outlive hub
/// restarts may as well start before the hub: while no hub is there, or the hub is not
/// taking clients yet, this waits per `backoff`, as [`reconnect`] does, saying once on
/// stderr that it waits. What waiting would not change (a path no hub can serve, a
/// socket this user may not open, a refusal for good) ends it at once, as without
/// `--reconnect`.
async fn first_connection(
    endpoint: &str,
    hello: &Hello,
    backoff: &mut Backoff,
) -> anyhow::Result<Connection> {
    let mut waited = false;
    loop {
        match Connection::connect(endpoint, hello.clone()).await {
            Ok(connection) => {
                let client_id = connection.welcome().client_id;
                tracing::Span::current().record("client_id", client_id.0);
                if waited {
                    notice(format_args!(
                        "connected to the hub at {endpoint} (as client {client_id})"
                    ));
                }
                backoff.reset();
                return Ok(connection);
            }
            Err(err) if hub_may_come(&err) => {
                if !waited {
                    notice(format_args!("{err}; waiting for it (--reconnect)"));
                    waited = true;
                }
                tracing::debug!(endpoint, %err, "no hub to listen to yet; trying again");
            }
            Err(err) => return Err(super::not_opened(endpoint, err)),
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}

/// Whether waiting for a first session that failed with `err` may succeed: the hub is
/// not there (yet), or not taking clients for the moment. An I/O error on connecting
/// (permission denied, say) is not outlived by waiting, unlike one in a session.
fn hub_may_come(err: &ClientError) -> bool {
    !matches!(err, ClientError::Io(_)) && err.is_transient()
}

/// Opens the next session after a lost one, resuming where the last one stopped. Waits
/// per `backoff` before each attempt; retries as long as the failure is transient. Also
/// returns the event for stdout that the new session begins with, if any (a new hub
/// instance).
async fn reconnect(
    endpoint: &str,
    listen: &mut Listen,
    backoff: &mut Backoff,
    keepalive: Option<Duration>,
) -> Result<(Connection, Option<StreamEvent>), ClientError> {
    loop {
        tokio::time::sleep(backoff.next_wait()).await;
        let hello = listen.resume_hello();
        match Connection::connect(endpoint, hello.clone()).await {
            Ok(mut connection) => {
                connection.set_keepalive(keepalive);
                let event = listen.resumed(&hello, connection.welcome(), endpoint);
                tracing::Span::current().record("client_id", connection.welcome().client_id.0);
                return Ok((connection, event));
            }
            Err(err) if err.is_transient() => {
                tracing::debug!(endpoint, %err, "reconnecting failed; trying again");
            }
            Err(err) => return Err(err),
        }
    }
}

/// Where stdout goes, and how.
struct Printer<'a, W: Write> {
    out: &'a mut W,
    format: Format,
    on_terminal: bool,
}

impl<W: Write> Printer<'_, W> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// How one session ended.
enum Ending {
    /// `--count` broadcasts have been printed.
    Counted,
    /// The hub said `BYE`.
    Bye { reason: ByeReason, text: String },
    /// The session failed: the connection was lost, or the hub broke off.
    Failed(ClientError),
}

/// What `listen` knows across sessions: where it is in the hub's stream, and what it has
/// counted.
struct Listen {
    /// The first session's `HELLO`, the base of every later one (name, `--last`).
    hello: Hello,
    count: Option<u64>,
    tracker: SeqTracker,
    /// The hub instance of the current session.
    instance: HubInstance,
    client_id: ClientId,
    /// The point to resume after while the next broadcast's number is not known (a
    /// `--last` start before its first broadcast).
    start_after: Seq,
    /// The session is with a new hub instance and none of its broadcasts has arrived.
    new_instance: bool,
    /// Whether the current session delivered anything (then the next reconnection
    /// starts again with a short wait).
    heard_anything: bool,
}

impl Listen {
    fn new(hello: Hello, welcome: &Welcome, count: Option<u64>) -> Listen {
        let current = welcome.current_seq;
        // A --last start begins somewhere at or before current_seq + 1: unknown until
        // the first broadcast.
        let tracker = match hello.last {
            Some(_) => SeqTracker::new(),
            None => SeqTracker::starting_after(current),
        };
        let start_after = Seq(current.0.saturating_sub(hello.last.map_or(0, u64::from)));
        Listen {
            hello,
            count,
            tracker,
            instance: welcome.hub_instance,
            client_id: welcome.client_id,
            start_after,
            new_instance: false,
            heard_anything: false,
        }
    }

    /// The `HELLO` of the next session: resume after the last broadcast printed (or
    /// announced lost) of the current instance, and, should the hub be a new instance,
    /// start with every broadcast it still holds.
    fn resume_hello(&self) -> Hello {
        let after = match self.tracker.expected() {
            Some(next) => Seq(next.0.saturating_sub(1)),
            None => self.start_after,
        };
        self.hello
            .clone()
            .with_resume(self.instance, after)
            .with_last(u32::MAX)
    }

    /// A new session opened with `hello` was welcomed with `welcome`. Returns the event
    /// for stdout if the hub is a new instance.
    fn resumed(&mut self, hello: &Hello, welcome: &Welcome, endpoint: &str) -> Option<StreamEvent> {
        self.client_id = welcome.client_id;
        self.heard_anything = false;
        let (instance, after) = hello.resume?;
        if welcome.hub_instance == instance {
            notice(format_args!(
                "reconnected to the hub at {endpoint} (as client {}); going on after #{after}",
                welcome.client_id
            ));
            return None;
        }
        let lost = if after.0 == 0 {
            "Whatever the previous instance broadcast".to_owned()
        } else {
            format!("Messages the previous instance broadcast after #{after}")
        };
        notice(format_args!(
            "reconnected to the hub at {endpoint} (as client {}), but it is a new hub \
             instance: the hub was restarted. {lost} may have been lost; how many cannot be \
             known.",
            welcome.client_id
        ));
        self.instance = welcome.hub_instance;
        self.tracker.renumber(Some(Seq(1)));
        self.start_after = Seq(0);
        self.new_instance = true;
        Some(StreamEvent::NewInstance {
            instance: welcome.hub_instance,
            previous: instance,
        })
    }

    /// What the end of the stream by `BYE` means for the command.
    fn bye_result(&self) -> anyhow::Result<()> {
        match self.count {
            Some(count) => Err(EndedEarly {
                received: self.tracker.received(),
                count,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Prints events until the session or `--count` ends. Only stdout errors are errors
    /// here; how the session ended is the [`Ending`].
    async fn receive<W: Write>(
        &mut self,
        connection: &mut Connection,
        printer: &mut Printer<'_, W>,
    ) -> anyhow::Result<Ending> {
        loop {
            let event = match connection.next_event().await {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(Ending::Failed(ClientError::Closed)),
                Err(err) => return Ok(Ending::Failed(err)),
            };
            self.heard_anything = true;
            let out = &mut *printer.out;
            match event {
                Event::Broadcast { broadcast, origin } => {
                    if std::mem::take(&mut self.new_instance) {
                        self.first_of_new_instance(out, printer.format, broadcast.seq)?;
                    }
                    if let Some(gap) = self.tracker.observe_broadcast(broadcast.seq) {
                        out.flush().map_err(StdoutError)?;
                        notice(format_args!("warning: {gap}"));
                    }
                    write_broadcast(out, printer.format, &broadcast, origin.as_ref())
                        .map_err(StdoutError)?;
                    if self.count == Some(self.tracker.received()) {
                        return Ok(Ending::Counted);
                    }
                }
                Event::Direct {
                    sender,
                    timestamp_us,
                    body,
                } => {
                    write_direct(out, printer.format, sender, timestamp_us, &body)
                        .map_err(StdoutError)?;
                }
                Event::Lagged { missed, next_seq } => {
                    self.new_instance = false;
                    self.tracker.observe_lagged(missed, next_seq);
                    out.flush().map_err(StdoutError)?;
                    notice(format_args!(
                        "missed {missed} messages; continuing at #{next_seq}"
                    ));
                    write_event(
                        out,
                        printer.format,
                        StreamEvent::Lagged { missed, next_seq },
                    )
                    .map_err(StdoutError)?;
                }
                Event::Bye { reason, text } => return Ok(Ending::Bye { reason, text }),
                Event::Pong(_) => {}
            }
            if printer.on_terminal || !connection.event_ready() {
                printer.out.flush().map_err(StdoutError)?;
            }
        }
    }

    /// The first broadcast from a new hub instance is `seq`: the ones before it were
    /// broadcast before this client reconnected and were not replayed. Says exactly how
    /// many (on stderr, and as a lagged event in `format`), and counts them as missed.
    fn first_of_new_instance(
        &mut self,
        out: &mut impl Write,
        format: Format,
        seq: Seq,
    ) -> anyhow::Result<()> {
        let Some(expected) = self.tracker.expected() else {
            return Ok(());
        };
        if seq.0 <= expected.0 {
            return Ok(());
        }
        let missed = seq.0 - expected.0;
        out.flush().map_err(StdoutError)?;
        let range = if missed == 1 {
            format!("#{expected}")
        } else {
            format!("#{expected} to #{}", seq.0 - 1)
        };
        notice(format_args!(
            "missed {missed} messages of the new hub instance ({range}): they were broadcast \
             before this client reconnected, and the hub did not replay them"
        ));
        self.tracker.observe_lagged(missed, seq);
        write_event(
            out,
            format,
            StreamEvent::Lagged {
                missed,
                next_seq: seq,
            },
        )
        .map_err(StdoutError)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use pipehub_client::protocol::{DEFAULT_MAX_FRAME, VERSION};

    use super::*;

    const OLD: HubInstance = HubInstance(0xaaaa);
    const NEW: HubInstance = HubInstance(0xbbbb);

    fn welcome(instance: HubInstance, current_seq: u64) -> Welcome {
        Welcome {
            version: VERSION,
            client_id: ClientId(4),
            hub_instance: instance,
            current_seq: Seq(current_seq),
            max_frame: DEFAULT_MAX_FRAME,
            queue_frames: 64,
        }
    }

    fn listener() -> Hello {
        Hello::new(Role::Listener).with_name("tail")
    }

    #[test]
    fn resumes_after_the_last_broadcast_printed() {
        let mut listen = Listen::new(listener(), &welcome(OLD, 10), None);
        assert_eq!(listen.resume_hello().resume, Some((OLD, Seq(10))));
        listen.tracker.observe_broadcast(Seq(11));
        let hello = listen.resume_hello();
        assert_eq!(hello.resume, Some((OLD, Seq(11))));
        assert_eq!(hello.last, Some(u32::MAX));
        assert_eq!(hello.name, "tail");
    }

    #[test]
    fn resumes_after_what_a_lag_announced_lost() {
        let mut listen = Listen::new(listener(), &welcome(OLD, 10), None);
        listen.tracker.observe_lagged(9, Seq(20));
        assert_eq!(listen.resume_hello().resume, Some((OLD, Seq(19))));
    }

    #[test]
    fn a_last_start_resumes_before_its_window_until_its_first_broadcast() {
        let mut listen = Listen::new(listener().with_last(10), &welcome(OLD, 50), None);
        assert_eq!(listen.resume_hello().resume, Some((OLD, Seq(40))));
        listen.tracker.observe_broadcast(Seq(45));
        assert_eq!(listen.resume_hello().resume, Some((OLD, Seq(45))));
    }

    #[test]
    fn a_new_instance_is_followed_from_its_first_broadcast() {
        let mut listen = Listen::new(listener(), &welcome(OLD, 0), None);
        listen.tracker.observe_broadcast(Seq(1));
        let hello = listen.resume_hello();
        let event = listen.resumed(&hello, &welcome(NEW, 7), "/tmp/hub.sock");
        assert_eq!(
            event,
            Some(StreamEvent::NewInstance {
                instance: NEW,
                previous: OLD
            })
        );
        assert!(listen.new_instance);
        // Lost again before anything arrived: resume everything of the new instance.
        assert_eq!(listen.resume_hello().resume, Some((NEW, Seq(0))));

        let mut out = Vec::new();
        listen
            .first_of_new_instance(&mut out, Format::Plain, Seq(4))
            .expect("no stdout error");
        assert_eq!(listen.tracker.missed(), 3);
        assert_eq!(listen.tracker.observe_broadcast(Seq(4)), None);
    }

    #[test]
    fn the_same_instance_keeps_the_numbering() {
        let mut listen = Listen::new(listener(), &welcome(OLD, 0), None);
        listen.tracker.observe_broadcast(Seq(1));
        let hello = listen.resume_hello();
        let event = listen.resumed(&hello, &welcome(OLD, 5), "/tmp/hub.sock");
        assert_eq!(event, None);
        assert!(!listen.new_instance);
        assert_eq!(listen.tracker.expected(), Some(Seq(2)));
    }
}
