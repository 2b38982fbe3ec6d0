//! The accept loop: takes a connection-cap permit, accepts, spawns one connection task,
//! and on shutdown stops accepting, removes the endpoint and waits (bounded) for every
//! connection to send its last frames.
//!
//! Shutdown is one mechanism: a `CancellationToken` every connection watches, and a
//! `TaskTracker` the server waits on until every connection task has finished.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument, error, info, warn};

use crate::{connection, hub::Hub, transport::Listener};

/// First pause after a failed accept (for example EMFILE: out of file descriptors);
/// doubled on each consecutive failure up to [`MAX_ACCEPT_BACKOFF`].
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Connections over the client cap that may be in the middle of being told "hub full"
/// at once; past that, accepting waits for a place.
const REFUSING_AT_ONCE: usize = 64;

/// Connections accepted before the accept loop lets every other task run: accepting
/// returns at once while connections wait in the backlog, and the tasks of a storm of
/// connections would fill the run queue ahead of the listeners already served (their
/// latency went from 0.1 ms to over a second). With this bound it stays within a few ms.
const ACCEPTS_PER_TURN: u32 = 16;

/// Extra time, beyond the configured shutdown timeout, that the server waits for its
/// connection tasks to end.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Serves `listener` until `shutdown` completes, then shuts down gracefully: every
/// client receives what is queued for it and `BYE`, within the configured timeout, and
/// the endpoint is removed.
pub async fn serve(hub: &Hub, mut listener: Listener, shutdown: impl Future) {
    let endpoint = listener.endpoint();
    let span = tracing::info_span!("hub", %endpoint);
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(hub.config().max_clients));
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    tokio::pin!(shutdown);

    tasks.spawn(crate::status::sample_rates(hub.clone(), stop.clone()).in_current_span());
    let pacer_hub = hub.clone();
    let pacer_stop = stop.clone();
    tasks.spawn(
        async move {
            crate::pacing::run(pacer_hub.pacer(), pacer_hub.registry(), pacer_stop).await;
        }
        .in_current_span(),
    );
    tasks.spawn(watch_connections(hub.clone(), stop.clone()).in_current_span());
    if let Some(interval) = hub.config().keepalive {
        tasks.spawn(keepalive(hub.clone(), interval, stop.clone()).in_current_span());
    }

    async {
        let mut backoff = FIRST_ACCEPT_BACKOFF;
        let mut accepted: u32 = 0;
        loop {
            // A place under the cap, or else a place among the few being refused.
            let (permit, refusal) = match permits.clone().try_acquire_owned() {
                Ok(permit) => (Some(permit), None),
                Err(_) => tokio::select! {
                    _ = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => (permit.ok(), None),
                    refusal = refusing.clone().acquire_owned() => (None, refusal.ok()),
                },
            };
            let stream = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(stream) => {
                        backoff = FIRST_ACCEPT_BACKOFF;
                        stream
                    }
                    Err(err) => {
                        if backoff == FIRST_ACCEPT_BACKOFF {
                            warn!(%err, "accept failed; backing off until it succeeds again");
                        }
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                        continue;
                    }
                },
            };
            // A place may have freed up while this connection was being accepted.
            let permit = permit.or_else(|| permits.clone().try_acquire_owned().ok());
            let hub = hub.clone();
            let stop = stop.clone();
            tasks.spawn(
                async move {
                    connection::serve(hub, stream, stop, permit).await;
                    drop(refusal);
                }
                .in_current_span(),
            );
            accepted = accepted.wrapping_add(1);
            if accepted % ACCEPTS_PER_TURN == 0 {
                tokio::task::yield_now().await;
            }
        }

        info!(clients = hub.client_count(), "shutting down");
        // No new clients from here on; the endpoint disappears at once.
        drop(listener);
        // Connections still in their handshake watch the token; registered ones are
        // told through their mailbox (and check the token right after registering).
        stop.cancel();
        hub.registry().shut_down_all();
        tasks.close();
        let limit = hub.config().shutdown_timeout + SHUTDOWN_GRACE;
        if tokio::time::timeout(limit, tasks.wait()).await.is_err() {
            error!(
                remaining = tasks.len(),
                "connections still open after {limit:?}; closing them"
            );
        }
    }
    .instrument(span)
    .await
}

/// Checks every client a few times per keepalive interval: one task for the whole hub
/// instead of a timer per client, which would cost every idle client memory.
async fn keepalive(hub: Hub, interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval / 4);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => hub.registry().check_keepalive(interval),
        }
    }
}

/// How often the hub looks at what no event of a connection tells.
const CONNECTION_CHECK: Duration = Duration::from_millis(500);

/// Notices half-closed clients (read-only tools: `socat -u`, .NET `PipeDirection.In`)
/// that have gone entirely, and frames begun and not finished within the frame timeout,
/// and gives memory no longer needed back to the system (`memory`): one task for the whole hub, as for keepalive, instead of a timer per client.
async fn watch_connections(hub: Hub, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(CONNECTION_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let frame_timeout = hub.config().frame_timeout;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {
                hub.registry().check_connections(frame_timeout);
                crate::memory::give_back_free_memory();
            }
        }
    }
}
