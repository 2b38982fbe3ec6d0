//! Publishers: the warm-up markers, the measured messages (paced by `--rate`, held
//! within the flow-control window), and the end marker.
//!
//! **Flow control.** Unthrottled publishers outrun any fan-out: a hub takes a `SEND` in
//! well under a microsecond, while each message costs N writes. Without a limit, every
//! listener would fall behind the hub's queue and lose messages, and "throughput" would
//! measure how fast messages are thrown away. So, unless `--window 0` asks for that open
//! loop, publishers stay at most a *window* of messages ahead of the slowest listener
//! ([`Flow`]), half of the hub's `queue_frames` by default, so a listener that keeps up
//! can never lose a message, and any loss reported is a real fault. A target that holds
//! publishers to its slowest listener itself ([`hub_paces`]) needs no window of the
//! tool's: there the default is none, since a window would only add the tool's own round
//! trip (receivers to publisher) to every batch, a limit of the tool's that would pass for
//! the target's.
//!
//! Measured messages go out in batches ([`publish`]): one send time, one write, for as
//! many messages as are due and fit the window; a paced or blocked publisher has written
//! everything before it waits, so nothing sits in its buffer while time passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context;
use pipehub_protocol::{HEADER_LEN, Hello, Role};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::counters::Counters;
use super::payload::{Encoder, Kind, Template, now_ns};
use pipehub_client::{Connection, WRITE_BATCH};

/// The name publishers give the hub's operator.
pub const PUBLISHER_NAME: &str = "load-publisher";

/// The name of the session that asks the hub whether it paces publishers.
const STATUS_NAME: &str = "load-status";

/// How long publishers wait for the slowest listener to make any progress before the
/// run is declared stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a waiting publisher looks again even without a wake-up.
const RECHECK: Duration = Duration::from_millis(1);

/// How long the hub gets to answer the status request of [`hub_paces`].
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// How often warm-up markers are sent.
const MARKER_INTERVAL: Duration = Duration::from_millis(5);

/// Opens a publisher session.
pub async fn connect(endpoint: &str) -> anyhow::Result<Connection> {
    let mut hello = Hello::new(Role::Publisher);
    hello.name = PUBLISHER_NAME.to_owned();
    Connection::connect_wait(endpoint, hello, Duration::from_secs(5))
        .await
        .with_context(|| format!("could not connect a publisher to {endpoint}"))
}

/// Opens a session with the hub at `endpoint` and asks whether it holds publishers to its
/// slowest reading listener (its status report's `when_behind`). A hub that is not there or refuses the session is the client's error
/// (so the exit code says which); one that does not answer the status request in time
/// (one too old for it) counts as one that does not pace.
pub async fn hub_paces(endpoint: &str) -> anyhow::Result<bool> {
    let hello = Hello::new(Role::Listener).with_name(STATUS_NAME);
    let mut connection = Connection::connect(endpoint, hello).await?;
    Ok(
        match tokio::time::timeout(STATUS_TIMEOUT, connection.status()).await {
            Ok(Ok(status)) => status.hub.paces_publishers(),
            Ok(Err(err)) => {
                tracing::debug!(%err, "no status report, so a window of the tool's");
                false
            }
            Err(_) => {
                tracing::debug!("no status report in time, so a window of the tool's");
                false
            }
        },
    )
}

/// The publishers' view of the listeners: how far the slowest one is.
#[derive(Clone)]
pub struct Flow {
    /// Messages more than this ahead of the slowest listener wait; 0: no limit.
    pub window: u64,
    /// Measured messages handed to the connections so far, by every publisher.
    pub sent: Arc<AtomicU64>,
    pub groups: Vec<Arc<Counters>>,
    pub advanced: Arc<Notify>,
}

impl Flow {
    /// The fewest measured messages a running listener has received.
    fn min_received(&self) -> u64 {
        self.groups
            .iter()
            .map(|group| group.min_received())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Room in the window after `sent` messages: how many more may go now.
    fn room(&self, sent: u64, min: u64) -> u64 {
        self.window.saturating_sub(sent.saturating_sub(min))
    }

    /// Waits until the slowest listener is far enough behind `sent` to leave room for
    /// `wanted` messages. Returns the minimum seen.
    async fn wait_for_room(
        &self,
        sent: u64,
        wanted: u64,
        connection: &mut Connection,
    ) -> anyhow::Result<u64> {
        let mut min = self.min_received();
        if self.room(sent, min) >= wanted {
            return Ok(min);
        }
        connection.flush().await?;
        let mut last_progress = Instant::now();
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            let now_min = self.min_received();
            if now_min != min {
                last_progress = Instant::now();
                min = now_min;
            }
            if self.room(sent, min) >= wanted {
                return Ok(min);
            }
            if last_progress.elapsed() > STALL_TIMEOUT {
                anyhow::bail!(
                    "the slowest listener has received only {min} of {sent} messages and made \
                     no progress for {} s; is the hub still serving?",
                    STALL_TIMEOUT.as_secs()
                );
            }
            tokio::select! {
                () = &mut advanced => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    }
}

/// How much one publisher sends, and how fast.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Stop after this many measured messages...
    pub messages: Option<u64>,
    /// ... or at this time.
    pub until: Option<Instant>,
    /// Messages per second for this publisher; 0: as fast as the hub takes them.
    pub rate: f64,
    pub size: usize,
    pub run: u32,
}

/// What one publisher sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub messages: u64,
    /// Wall-clock time of the first and last measured message, ns since the epoch.
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
}

/// Sends warm-up markers until `warm()` reports every listener warm, or `timeout`.
/// Returns whether they all warmed up.
pub async fn warm_up(
    connection: &mut Connection,
    size: usize,
    run: u32,
    timeout: Duration,
    mut warm: impl FnMut() -> bool,
) -> anyhow::Result<bool> {
    let mut encoder = Encoder::new(size);
    let deadline = Instant::now() + timeout;
    let mut index = 0;
    while !warm() {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        connection
            .send(encoder.encode(now_ns(), index, run, Kind::Marker))
            .await?;
        connection.flush().await?;
        index += 1;
        tokio::time::sleep(MARKER_INTERVAL).await;
    }
    Ok(true)
}

/// Sends the measured messages of `plan` in batches, then waits until the hub confirms
/// it took them all.
///
/// A batch is as many messages as are due (`--rate`), fit in the window, and fit in one
/// write of [`WRITE_BATCH`] bytes; its messages share one send time, taken just before
/// the write, and are built in one reused body ([`Template`]), so a message costs its
/// copy into the connection's buffer and nothing else.
pub async fn publish(
    connection: &mut Connection,
    plan: &Plan,
    flow: &Flow,
) -> anyhow::Result<Sent> {
    let mut body = Template::new(plan.size);
    let per_batch = (WRITE_BATCH / (HEADER_LEN + plan.size)).max(1) as u64;
    let mut sent = Sent::default();
    let start = Instant::now();
    loop {
        let left = plan
            .messages
            .map_or(u64::MAX, |n| n.saturating_sub(sent.messages));
        if left == 0 || plan.until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let mut batch = left.min(per_batch);
        if plan.rate > 0.0 {
            // Message k is due k / rate seconds after the start.
            let due = (start.elapsed().as_secs_f64() * plan.rate) as u64 + 1;
            if due <= sent.messages {
                connection.flush().await?;
                let next = Duration::from_secs_f64(sent.messages as f64 / plan.rate);
                tokio::time::sleep_until(start + next).await;
                continue;
            }
            batch = batch.min(due - sent.messages);
        }
        if flow.window > 0 {
            // Room for a whole batch (or half the window, if that is less), not for
            // whatever the slowest listener just made: a publisher that filled every
            // small gap would send batches of a few messages, and a fan-out that writes
            // what comes as it comes would then spend a system call per listener on each
            // (the silly window syndrome), measuring the workload's ping-pong rather than
            // the target's throughput.
            let wanted = batch.min(flow.window.div_ceil(2));
            let total = flow.sent.load(Relaxed);
            let room = flow.room(total, flow.min_received());
            if room < wanted {
                flow.wait_for_room(total, wanted, connection).await?;
                continue;
            }
            batch = batch.min(room);
        }
        // Claimed before the first await, so that publishers sharing this thread never
        // fill the same room twice.
        flow.sent.fetch_add(batch, Relaxed);
        let stamped = now_ns();
        for index in sent.messages..sent.messages + batch {
            connection
                .send_slice(body.set(stamped, index, plan.run, Kind::Measured))
                .await?;
        }
        connection.flush().await?;
        sent.first_ns.get_or_insert(stamped);
        sent.last_ns = Some(stamped);
        sent.messages += batch;
    }
    connection
        .confirm()
        .await
        .context("the hub did not confirm the measured messages")?;
    Ok(sent)
}

/// Sends the end marker and waits until the hub took it.
pub async fn end(connection: &mut Connection, size: usize, run: u32) -> anyhow::Result<()> {
    connection
        .send(Encoder::new(size).encode(now_ns(), 0, run, Kind::End))
        .await?;
    connection
        .confirm()
        .await
        .context("the hub did not confirm the end marker")?;
    Ok(())
}
