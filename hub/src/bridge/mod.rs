//! The bridge between hubs (`pipehub --bridge nats://HOST:PORT`): hubs on several
//! machines joined through a NATS server, so a broadcast that starts on any one reaches
//! the listeners of all.
//!
//! Two tasks share one NATS connection. [`outbound`] reads the broadcast log like a
//! client does, with a cursor, and publishes every broadcast that started on this hub;
//! [`inbound`] takes other hubs' broadcasts from the subject and appends them to the log,
//! each after an `ORIGIN` frame. A broadcast that came from the bridge is never published
//! again, so messages cannot loop; duplicates are dropped by (origin instance, origin
//! seq). The wire format is docs/protocol.md, section 12.
//!
//! The bridge never holds the hub back: the outbound task is one more reader of the log
//! (if NATS is slower than the hub, it falls behind and counts what it skipped), and
//! while NATS is unreachable the hub serves its local clients as before. NATS core is
//! at-most-once: what is published while the connection is down is not sent later but
//! counted as not bridged, so the status never claims a message went out when it did not.

mod inbound;
mod outbound;

use std::{
    fmt,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use pipehub_protocol::status::BridgeStatus;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Hub;

/// The subject hubs publish to when `--bridge-subject` does not name one.
pub const DEFAULT_SUBJECT: &str = "pipehub.broadcast";

/// Where and how to reach the NATS server.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The NATS server: `nats://HOST:PORT`, or several separated by commas.
    pub url: String,
    /// The subject every hub of the bridge publishes to and subscribes to.
    pub subject: String,
    /// This hub's name, shown to other hubs' listeners (at most 64 bytes).
    pub hub_name: String,
    pub auth: BridgeAuth,
}

/// How the hub proves who it is to NATS. Secrets are never printed: `Debug` leaves them
/// out.
#[derive(Clone, Default)]
pub enum BridgeAuth {
    #[default]
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
    /// A `.creds` file (JWT and NKey seed), as `nsc` writes it.
    CredsFile(PathBuf),
}

impl fmt::Debug for BridgeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeAuth::None => f.write_str("None"),
            BridgeAuth::Token(_) => f.write_str("Token(<hidden>)"),
            BridgeAuth::UserPassword { user, .. } => {
                write!(f, "UserPassword {{ user: {user:?}, password: <hidden> }}")
            }
            BridgeAuth::CredsFile(path) => write!(f, "CredsFile({path:?})"),
        }
    }
}

impl BridgeConfig {
    /// The server address(es) as they may be shown: any `user:password@` left out.
    pub fn shown_url(&self) -> String {
        redact(&self.url)
    }
}

/// `url` (one or several, comma-separated) without the user information of any.
fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let one = one.trim();
            let rest = one.find("://").map_or(0, |i| i + 3);
            match one[rest..].find('@') {
                Some(at) => format!("{}{}", &one[..rest], &one[rest + at + 1..]),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the connection to NATS stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not connected yet since the hub started.
    Connecting = 0,
    /// Connected and subscribed.
    Connected = 1,
    /// Lost; the client reconnects with back-off.
    Down = 2,
}

impl LinkState {
    fn name(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Down => "down",
        }
    }
}

/// What the bridge has done, shared by its tasks, the status report and the metrics.
#[derive(Debug)]
pub(crate) struct BridgeState {
    pub(crate) config: BridgeConfig,
    state: AtomicU8,
    since_us: AtomicU64,
    pub(crate) outages: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) not_bridged: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// The last error the NATS server gave, so a repeated one is logged once.
    last_server_error: Mutex<String>,
}

impl BridgeState {
    pub(crate) fn new(config: BridgeConfig) -> BridgeState {
        BridgeState {
            config,
            state: AtomicU8::new(LinkState::Connecting as u8),
            since_us: AtomicU64::new(now_us()),
            outages: AtomicU64::new(0),
            published: AtomicU64::new(0),
            not_bridged: AtomicU64::new(0),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_server_error: Mutex::new(String::new()),
        }
    }

    pub(crate) fn link(&self) -> LinkState {
        match self.state.load(Ordering::Acquire) {
            1 => LinkState::Connected,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    /// Moves to `state`; returns the state it left.
    fn set_link(&self, state: LinkState) -> LinkState {
        let old = self.state.swap(state as u8, Ordering::AcqRel);
        if old != state as u8 {
            self.since_us.store(now_us(), Ordering::Relaxed);
        }
        match old {
            1 => LinkState::Connected,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    /// The bridge part of the status report.
    pub(crate) fn status(&self) -> BridgeStatus {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BridgeStatus {
            url: self.config.shown_url(),
            subject: self.config.subject.clone(),
            hub_name: self.config.hub_name.clone(),
            state: self.link().name().to_owned(),
            since_us: load(&self.since_us),
            outages: load(&self.outages),
            published: load(&self.published),
            not_bridged: load(&self.not_bridged),
            received: load(&self.received),
            duplicates: load(&self.duplicates),
            rejected: load(&self.rejected),
        }
    }

    /// Follows the NATS client's connection events: the outage is logged once when it
    /// starts and once when it ends, however many reconnect attempts it takes.
    fn on_event(&self, event: async_nats::Event) {
        let url = self.config.shown_url();
        match event {
            async_nats::Event::Disconnected => {
                if self.set_link(LinkState::Down) == LinkState::Connected {
                    self.outages.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        bridge = %url,
                        "bridge: lost the NATS server; local clients are still served, \
                         broadcasts are not bridged until it is back; reconnecting"
                    );
                }
            }
            async_nats::Event::Connected => {
                // Before the first subscription is confirmed, `run` decides.
                if self.link() == LinkState::Down {
                    self.set_link(LinkState::Connected);
                    self.server_error_seen("");
                    info!(
                        bridge = %url,
                        not_bridged = self.not_bridged.load(Ordering::Relaxed),
                        "bridge: reconnected to the NATS server"
                    );
                }
            }
            async_nats::Event::ServerError(err) => {
                let err = err.to_string();
                if self.server_error_seen(&err) {
                    warn!(bridge = %url, "bridge: the NATS server says: {err}{}", fix_for(&err));
                }
            }
            async_nats::Event::SlowConsumer(_) => {
                warn!(
                    bridge = %url,
                    "bridge: this hub could not keep up with the bridge; NATS dropped messages for it"
                );
            }
            other => tracing::debug!(bridge = %url, "bridge: {other}"),
        }
    }

    /// Remembers `err` as the server's last error; returns whether it is new.
    fn server_error_seen(&self, err: &str) -> bool {
        let mut last = self
            .last_server_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *last == err {
            false
        } else {
            err.clone_into(&mut last);
            true
        }
    }
}

/// Why the bridge cannot start at all (as opposed to NATS being unreachable for now,
/// which the bridge rides out).
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(
        "cannot use the NATS credentials file: {source}; pass --bridge-creds a .creds file made by nsc"
    )]
    Creds {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The running bridge. Dropping it stops its tasks at once; [`Bridge::finish`] first
/// publishes what is left.
pub struct Bridge {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Bridge {
    /// Starts bridging `hub`, if its configuration has a bridge. Returns at once: the
    /// connection is made in the background, and retried until it succeeds.
    pub async fn start(hub: &Hub) -> Result<Option<Bridge>, BridgeError> {
        let Some(state) = hub.shared.bridge.clone() else {
            return Ok(None);
        };
        // A credentials file that cannot be read is a mistake to report now, not an
        // outage to retry.
        connect_options(&state).await?;
        let stop = CancellationToken::new();
        // Every broadcast from now on is either published or counted as not bridged,
        // however long the first connection takes.
        let cursor = hub.shared.log.tail() + 1;
        let task = tokio::spawn(run(hub.clone(), state, cursor, stop.clone()));
        Ok(Some(Bridge {
            stop,
            tasks: vec![task],
        }))
    }

    /// Stops taking broadcasts from other hubs, publishes the local broadcasts not yet
    /// published (if connected), and waits up to `within` for them to be sent.
    pub async fn finish(mut self, within: Duration) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let _ = tokio::time::timeout(within, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.cancel();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Connects, subscribes, then runs the two directions until `stop`.
async fn run(hub: Hub, state: Arc<BridgeState>, cursor: u64, stop: CancellationToken) {
    let url = state.config.shown_url();
    let client = tokio::select! {
        client = connect(&state) => client,
        () = stop.cancelled() => None,
    };
    let Some(client) = client else {
        return;
    };
    let subscriber = tokio::select! {
        subscribed = client.subscribe(state.config.subject.clone()) => subscribed,
        () = stop.cancelled() => return,
    };
    let subscriber = match subscriber {
        Ok(subscriber) => subscriber,
        Err(err) => {
            warn!(bridge = %url, "bridge: cannot subscribe to {}: {err}; the bridge is off", state.config.subject);
            return;
        }
    };
    let outbound = tokio::spawn(outbound::run(
        hub.clone(),
        Arc::clone(&state),
        client.clone(),
        cursor,
        stop.clone(),
    ));
    // The subscription is in force once the server has answered a flush sent after it.
    tokio::select! {
        flushed = client.flush() => {
            if flushed.is_ok() && state.link() == LinkState::Connecting {
                state.set_link(LinkState::Connected);
                info!(bridge = %url, subject = state.config.subject, "bridge: connected to the NATS server");
            }
        }
        () = stop.cancelled() => {}
    }
    inbound::run(&hub, &state, subscriber, &stop).await;
    let _ = outbound.await;
}

/// A NATS client for the bridge. The first attempt is made here so that an unreachable
/// server is reported with its cause; after that the client keeps trying by itself.
async fn connect(state: &Arc<BridgeState>) -> Option<async_nats::Client> {
    let url = state.config.shown_url();
    let first = connect_options(state).await.ok()?;
    match first.connect(state.config.url.as_str()).await {
        Ok(client) => return Some(client),
        Err(err) => {
            let err = err.to_string();
            warn!(
                bridge = %url,
                "bridge: cannot reach the NATS server ({err}){}; local clients are served as \
                 usual, broadcasts are not bridged until it answers; retrying",
                fix_for(&err)
            );
            state.server_error_seen(&err);
        }
    }
    let retrying = connect_options(state)
        .await
        .ok()?
        .retry_on_initial_connect();
    match retrying.connect(state.config.url.as_str()).await {
        Ok(client) => Some(client),
        Err(err) => {
            warn!(bridge = %url, "bridge: cannot connect: {err}; the bridge is off");
            None
        }
    }
}

/// How the bridge's NATS client behaves: reconnect for ever with back-off, no echo of
/// its own messages, events to [`BridgeState::on_event`].
async fn connect_options(
    state: &Arc<BridgeState>,
) -> Result<async_nats::ConnectOptions, BridgeError> {
    let events = Arc::clone(state);
    let options = async_nats::ConnectOptions::new()
        .name(format!("pipehub {}", state.config.hub_name))
        .no_echo()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(10))
        .event_callback(move |event| {
            let events = Arc::clone(&events);
            async move { events.on_event(event) }
        });
    Ok(match &state.config.auth {
        BridgeAuth::None => options,
        BridgeAuth::Token(token) => options.token(token.clone()),
        BridgeAuth::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.clone())
        }
        BridgeAuth::CredsFile(path) => {
            options
                .credentials_file(path)
                .await
                .map_err(|source| BridgeError::Creds {
                    path: path.clone(),
                    source,
                })?
        }
    })
}

/// A warning that may repeat fast (garbage on the subject, a bridge that keeps falling
/// behind): the first is logged at once, then at most one line a minute with the number
/// of others meanwhile, so it cannot flood the log.
#[derive(Default)]
pub(super) struct Complaint {
    last: Option<Instant>,
    quiet: u64,
}

impl Complaint {
    pub(super) fn warn(&mut self, what: &str) {
        if self
            .last
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
        {
            self.quiet += 1;
            return;
        }
        let also = match std::mem::take(&mut self.quiet) {
            0 => String::new(),
            n => format!(" ({n} more like it since the last report)"),
        };
        warn!("{what}{also}");
        self.last = Some(Instant::now());
    }
}

/// What to do about a NATS error, if the error says: `""` if it does not.
fn fix_for(err: &str) -> &'static str {
    if err.to_lowercase().contains("authori") {
        " (check --bridge-token, --bridge-user and --bridge-password, or --bridge-creds)"
    } else {
        ""
    }
}

/// Wait before reconnect attempt `attempts`: 100 ms, doubling, at most 2 s.
fn reconnect_delay(attempts: usize) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(5);
    Duration::from_millis(100 * 2u64.pow(doublings)).min(MAX_RECONNECT_DELAY)
}

/// The longest wait between reconnect attempts: how long after NATS is back a hub may
/// take to notice.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_leave_credentials_out() {
        let config = |url: &str| BridgeConfig {
            url: url.into(),
            subject: DEFAULT_SUBJECT.into(),
            hub_name: "a".into(),
            auth: BridgeAuth::None,
        };
        assert_eq!(config("nats://h:4222").shown_url(), "nats://h:4222");
        assert_eq!(
            config("nats://bob:s3cret@h:4222, tls://tok@k:1").shown_url(),
            "nats://h:4222,tls://k:1"
        );
        assert!(!config("bob:s3cret@h").shown_url().contains("s3cret"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let token = format!("{:?}", BridgeAuth::Token("s3cret".into()));
        let password = format!(
            "{:?}",
            BridgeAuth::UserPassword {
                user: "bob".into(),
                password: "s3cret".into()
            }
        );
        assert!(!token.contains("s3cret") && !password.contains("s3cret"));
        assert!(password.contains("bob"));
    }

    #[test]
    fn reconnects_back_off_up_to_two_seconds() {
        let delays: Vec<u64> = (1..=8)
            .map(|n| reconnect_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
