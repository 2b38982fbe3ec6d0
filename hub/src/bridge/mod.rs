//! The bridge between hubs (`pipehub --bridge nats://HOST:PORT`): hubs on several
//! machines joined through a NATS server, so a broadcast that starts on any one reaches
//! the listeners of all.
//!
//! Two tasks share one NATS connection. `outbound` reads the broadcast log like a
//! client does, with a cursor, and publishes every broadcast that started on this hub;
//! `inbound` takes other hubs' broadcasts from the subject and appends them to the log,
//! each after an `ORIGIN` frame. A broadcast that came from the bridge is never published
//! again, so messages cannot loop; duplicates are dropped by (origin instance, origin
//! seq). The wire format is docs/protocol.md, section 12.
//!
//! The bridge never holds the hub back: the outbound task is one more reader of the log
//! (if NATS is slower than the hub, it falls behind and counts what it skipped), and
//! while NATS is unreachable the hub serves its local clients as before. NATS core is
//! at-most-once: what is published while the connection is down is not sent later but
//! counted as not bridged, so the status never claims a message went out when it did not.

mod config;
mod inbound;
mod outbound;
mod state;

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use crate::link::LinkState;
pub use config::{BridgeAuth, BridgeConfig, DEFAULT_SUBJECT, servers};
pub(crate) use state::BridgeState;
use state::{Complaint, fix_for};

use crate::{hub::Hub, link::BridgeReport};

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
    /// Connects, then runs both directions; `None` once `finish` has taken it.
    task: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts bridging `hub` as `config` says, if there is a bridge to run. Returns at
    /// once: the connection is made in the background, and retried until it succeeds.
    pub async fn start(
        hub: &Hub,
        config: Option<BridgeConfig>,
    ) -> Result<Option<Bridge>, BridgeError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let state = Arc::new(BridgeState::new(config));
        hub.attach_bridge(state.clone());
        // A credentials file that cannot be read is a mistake to report now, not an
        // outage to retry.
        connect_options(&state).await?;
        let stop = CancellationToken::new();
        // Every broadcast from now on is either published or counted as not bridged,
        // however long the first connection takes.
        let cursor = hub.log().tail() + 1;
        let task = tokio::spawn(run(hub.clone(), state, cursor, stop.clone()));
        Ok(Some(Bridge {
            stop,
            task: Some(task),
        }))
    }

    /// Stops taking broadcasts from other hubs, publishes the local broadcasts not yet
    /// published (if connected), and waits up to `within` for them to be sent.
    pub async fn finish(mut self, within: Duration) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(within, task).await;
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = &self.task {
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
    match first.connect(state.config.servers()).await {
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
    match retrying.connect(state.config.servers()).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_up_to_two_seconds() {
        let delays: Vec<u64> = (1..=8)
            .map(|n| reconnect_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
