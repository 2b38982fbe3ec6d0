//! Pacing: the hub takes publishers' messages only as fast as the slowest live listener
//! reads them, so a burst loses nothing for a listener that keeps reading.
//!
//! The log holds a window of broadcasts. A publisher's append that would evict one that a
//! live listener has not taken yet is refused ([`crate::log::Full`]); the publisher's
//! connection (or the stdin reader) keeps the message and stops reading until there is
//! room, and the kernel's socket buffers push back on the publisher. No frame is needed.
//!
//! The slowest listener costs O(N) to find, so it is not looked for per broadcast. As in
//! the LMAX Disruptor, publishers check a cached **gate**, a lower bound of every live
//! listener's cursor: appends that evict only below it go ahead with no further work.
//! Only a publisher that finds no room asks the pacer task ([`run`]) to recompute the
//! gate with one pass over the listeners; each pass buys as much room as the slowest
//! listener has read since the last one. A listener that joins (or reads again after a
//! stall) lowers the gate to its own cursor at once, so it is never evicted past.
//!
//! While publishers wait, the pacer sleeps until the listeners holding them back have all
//! crossed the sequence number they need. It counts them in its pass (`behind`), and each
//! one decrements the count as its cursor crosses (`threshold`): one atomic load per
//! listener write, and a wake-up only when the last one crosses, not one per listener.
//!
//! A listener whose process takes nothing for the stall timeout while publishers wait for
//! it is **stalled** (Aeron's receiver timeout): it no longer holds them back, so a
//! stopped listener delays the others once, by at most that timeout. Liveness is judged
//! per process (the peer's pid, where the platform gives it): a process that reads many
//! connections in turn, such as a load tool, reads each one only now and then, and is
//! alive while it takes bytes on any of them. And "takes bytes" is asked of the kernel
//! (what the listener has not read yet), not judged by the hub's own writes alone: the
//! kernel wakes a writer only once most of a socket buffer is free, so a slow reader can
//! go longer than the timeout between writes while reading all along (on Windows, which
//! cannot say, the writes are all there is). When a stalled listener takes bytes again
//! it rejoins the paced set at its cursor; what was evicted meanwhile it is told of with
//! `LAGGED`, exactly as before.
//!
//! In `skip` mode ([`WhenBehind::Skip`]) there is no gate: publishers are never paused,
//! and listeners a window behind skip ahead.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering::*},
    },
    time::Duration,
};

use pipehub_protocol::ClientId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{
    config::WhenBehind,
    registry::{ClientHandle, NOT_PROBED, Registry, clock_us},
};

/// The pacing state one hub shares between publishers, listeners and the pacer task.
pub(crate) struct Pacer {
    mode: WhenBehind,
    stall_timeout_us: u64,
    /// Publishers may evict no broadcast at or after this: at most the cursor of every
    /// live listener. `u64::MAX` while no listener is connected.
    gate: AtomicU64,
    /// Serialises changes to `gate`, and counts the listeners that joined or rejoined:
    /// a pass stores its gate only if none did while it ran (it would have missed them).
    joins: Mutex<u64>,
    /// The gate the waiting publishers need (the highest one asked for); 0 when none waits.
    wanted: AtomicU64,
    /// The sequence number the pacer waits for the listeners to cross, and how many of
    /// them have not yet; [`NO_THRESHOLD`] when it waits for nobody.
    threshold: AtomicU64,
    behind: AtomicI64,
    /// Wakes the pacer task: a publisher waits, or the listeners it waited for crossed.
    asked: Notify,
    /// Wakes every waiting publisher: the gate moved.
    room: Notify,
    /// Microseconds publishers spent waiting for room, summed over publishers.
    paused_us: AtomicU64,
}

const NO_THRESHOLD: u64 = u64::MAX;

/// `behind` while a pass is counting: far from zero, so no listener that crosses during
/// the pass takes it there.
const COUNTING: i64 = i64::MAX / 2;

impl Pacer {
    pub(crate) fn new(mode: WhenBehind, stall_timeout: Duration) -> Pacer {
        Pacer {
            mode,
            stall_timeout_us: u64::try_from(stall_timeout.as_micros()).unwrap_or(u64::MAX),
            gate: AtomicU64::new(u64::MAX),
            joins: Mutex::new(0),
            wanted: AtomicU64::new(0),
            threshold: AtomicU64::new(NO_THRESHOLD),
            behind: AtomicI64::new(0),
            asked: Notify::new(),
            room: Notify::new(),
            paused_us: AtomicU64::new(0),
        }
    }

    /// The gate a publisher's append must respect; `None` when publishers are not paced.
    pub(crate) fn gate(&self) -> Option<u64> {
        (self.mode == WhenBehind::Wait).then(|| self.gate.load(SeqCst))
    }

    /// Notified whenever the gate moves: a waiting publisher enables a `notified()` of
    /// it, tries to append, and waits on it if there was no room.
    pub(crate) fn room(&self) -> &Notify {
        &self.room
    }

    /// A publisher found no room: its append fits once every live listener's cursor is
    /// at least `needed`.
    pub(crate) fn ask(&self, needed: u64) {
        if self.wanted.fetch_max(needed, SeqCst) < needed {
            self.asked.notify_one();
        }
    }

    /// A listener whose next broadcast is `cursor` joined, or read again after a stall:
    /// from now on publishers evict nothing it still needs. Call it once the listener is
    /// in the registry, so that the next pass counts it.
    pub(crate) fn join(&self, cursor: u64) {
        let mut joins = self.joins.lock().unwrap_or_else(|e| e.into_inner());
        self.gate.fetch_min(cursor, SeqCst);
        *joins += 1;
    }

    /// `listener` took bytes: if it was stalled, it holds publishers back again from
    /// `cursor` on.
    pub(crate) fn took(&self, listener: &ClientHandle, cursor: u64) {
        if listener.watch.stalled.load(Relaxed) && listener.watch.stalled.swap(false, SeqCst) {
            self.join(cursor);
            debug!(client_id = %listener.id, "a stalled listener reads again; publishers wait for it again");
        }
    }

    /// A listener's cursor moved from `from` to `to` (a write, or a skip past a gap). The
    /// cursor must be stored (`SeqCst`) before this is called: the pacer's pass reads
    /// cursors after publishing its threshold, so one of the two sees the other.
    pub(crate) fn advanced(&self, from: u64, to: u64) {
        let threshold = self.threshold.load(SeqCst);
        if threshold != NO_THRESHOLD
            && from < threshold
            && to >= threshold
            && self.behind.fetch_sub(1, SeqCst) == 1
        {
            self.asked.notify_one();
        }
    }

    /// A listener whose cursor was `cursor` left: it holds nobody back any more.
    pub(crate) fn left(&self, cursor: u64) {
        self.advanced(cursor, u64::MAX);
    }

    /// Counts `waited` as time a publisher spent paused.
    pub(crate) fn add_paused(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.paused_us.fetch_add(us, Relaxed);
    }

    /// Seconds publishers spent paused, summed over publishers.
    pub(crate) fn paused_seconds(&self) -> f64 {
        self.paused_us.load(Relaxed) as f64 / 1e6
    }

    /// One pass over the listeners for the publishers that wait: the new gate, listeners
    /// that stalled, and the count of those still behind. Returns when (in microseconds of
    /// [`clock_us`]) the first of those may stall, if publishers still wait.
    fn pass(&self, registry: &Registry) -> Option<u64> {
        loop {
            let wanted = self.wanted.load(SeqCst);
            if wanted == 0 {
                self.threshold.store(NO_THRESHOLD, SeqCst);
                return None;
            }
            let joins = *self.joins.lock().unwrap_or_else(|e| e.into_inner());
            self.behind.store(COUNTING, SeqCst);
            self.threshold.store(wanted, SeqCst);
            let now = clock_us();
            let mut gate = u64::MAX;
            let mut behind = 0;
            let mut next_stall = None::<u64>;
            let mut stalled = Vec::new();
            // When each reading process was last seen taking bytes on any connection.
            let mut last_read: HashMap<Reader, u64> = HashMap::new();
            registry.for_each_listener(|listener| {
                if let Some(at) = self.note_progress(listener, wanted, now) {
                    let last = last_read.entry(Reader::of(listener)).or_insert(at);
                    *last = (*last).max(at);
                }
            });
            registry.for_each_listener(|listener| {
                match self.watch(listener, wanted, now, &last_read) {
                    Watched::Ahead(cursor) => gate = gate.min(cursor),
                    Watched::Behind {
                        cursor,
                        look_again_at,
                    } => {
                        gate = gate.min(cursor);
                        behind += 1;
                        next_stall =
                            Some(next_stall.map_or(look_again_at, |at| at.min(look_again_at)));
                    }
                    Watched::Stalled(Some(id)) => stalled.push(id),
                    Watched::Stalled(None) => {}
                }
            });
            {
                let guard = self.joins.lock().unwrap_or_else(|e| e.into_inner());
                if *guard != joins {
                    continue; // a listener joined while the pass ran: count it too
                }
                self.gate.store(gate, SeqCst);
            }
            if !stalled.is_empty() {
                warn!(
                    clients = %some_ids(&stalled),
                    "{} took nothing for {} ms while publishers waited: publishers go on \
                     without {}, and each will be told exactly what it missed",
                    listeners(stalled.len()),
                    self.stall_timeout_us / 1000,
                    them(stalled.len()),
                );
            }
            self.room.notify_waiters();
            if gate >= wanted {
                // Every waiting publisher may go on; one that finds no room again asks again.
                if self
                    .wanted
                    .compare_exchange(wanted, 0, SeqCst, SeqCst)
                    .is_err()
                {
                    continue;
                }
                self.threshold.store(NO_THRESHOLD, SeqCst);
                return None;
            }
            let crossed_meanwhile = COUNTING - behind;
            if self.behind.fetch_sub(crossed_meanwhile, SeqCst) - crossed_meanwhile <= 0 {
                continue; // each of them crossed while the pass ran
            }
            return next_stall;
        }
    }

    /// Notes whether `listener` took bytes since the last pass, and whether it is behind
    /// `wanted`. Returns when it was last seen taking bytes; `None` if it is stalled.
    fn note_progress(&self, listener: &ClientHandle, wanted: u64, now: u64) -> Option<u64> {
        if listener.watch.stalled.load(SeqCst) {
            return None;
        }
        let writes = listener.watch.writes.load(Relaxed);
        if listener.watch.seen_writes.swap(writes, Relaxed) != writes {
            listener.watch.last_progress_us.store(now, Relaxed);
            listener.watch.behind_since_us.store(now, Relaxed);
            listener.watch.last_unread.store(NOT_PROBED, Relaxed);
        } else if listener.cursor.load(SeqCst) >= wanted {
            // Holding nobody back: its stall clock starts once it does.
            listener.watch.behind_since_us.store(now, Relaxed);
            listener.watch.last_unread.store(NOT_PROBED, Relaxed);
        }
        Some(listener.watch.last_progress_us.load(Relaxed))
    }

    /// Where `listener` stands against the gate `wanted`, at `now`. It stalls once it has
    /// held publishers back for the stall timeout while neither it nor any other
    /// connection of its process (`last_read`) took bytes: a process that reads many
    /// connections in turn (a load tool, a service with several subscriptions) reads
    /// each of them only now and then.
    fn watch(
        &self,
        listener: &ClientHandle,
        wanted: u64,
        now: u64,
        last_read: &HashMap<Reader, u64>,
    ) -> Watched {
        if listener.watch.stalled.load(SeqCst) {
            return Watched::Stalled(None);
        }
        let cursor = listener.cursor.load(SeqCst);
        if cursor >= wanted {
            return Watched::Ahead(cursor);
        }
        // A listener that joined since the first look has only just started.
        let process_read = last_read.get(&Reader::of(listener)).copied().unwrap_or(now);
        let mut since = listener
            .watch
            .behind_since_us
            .load(Relaxed)
            .max(process_read);
        // The hub writes to a slow reader only when most of its socket buffer is free, so
        // a reader slower than a buffer per stall timeout takes no new bytes for longer
        // than that. Once it has held publishers back for a while, ask the kernel every
        // quarter of the timeout whether it read any of what it has.
        let probe_every = (self.stall_timeout_us / 4).max(1);
        if now >= since.saturating_add(probe_every)
            && let Some(unread) = listener.probe.unread_bytes()
        {
            let before = listener.watch.last_unread.swap(unread, Relaxed);
            if before != NOT_PROBED && unread < before {
                listener.watch.behind_since_us.store(now, Relaxed);
                since = now;
            }
        }
        let stalls_at = since.saturating_add(self.stall_timeout_us);
        let first_probe = since.saturating_add(probe_every);
        let next_look = if now < first_probe {
            first_probe
        } else {
            stalls_at.min(now.saturating_add(probe_every))
        };
        if now >= stalls_at {
            listener.watch.stalled.store(true, SeqCst);
            Watched::Stalled(Some(listener.id))
        } else {
            Watched::Behind {
                cursor,
                look_again_at: next_look,
            }
        }
    }

    /// The hub is stopping: nobody waits for listeners any more.
    fn release(&self) {
        self.gate.store(u64::MAX, SeqCst);
        self.wanted.store(0, SeqCst);
        self.room.notify_waiters();
    }
}

/// Who reads a listener's connection: its process where the platform says which, else
/// the connection alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Reader {
    Process(i32),
    Connection(ClientId),
}

impl Reader {
    fn of(listener: &ClientHandle) -> Reader {
        match listener.peer.and_then(|peer| peer.pid) {
            Some(pid) => Reader::Process(pid),
            None => Reader::Connection(listener.id),
        }
    }
}

/// Where one listener stands in a pass.
enum Watched {
    /// At or past what the publishers need.
    Ahead(u64),
    /// Holding them back; the pacer looks at it again at `look_again_at` (to probe
    /// whether it read, or to stall it).
    Behind { cursor: u64, look_again_at: u64 },
    /// Stalled: in this pass (its ID), or before.
    Stalled(Option<ClientId>),
}

fn listeners(n: usize) -> String {
    if n == 1 {
        "a listener".to_owned()
    } else {
        format!("{n} listeners")
    }
}

/// The first few of `ids`, and how many more: a log line stays a line.
fn some_ids(ids: &[ClientId]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(|id| id.0.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

fn them(n: usize) -> &'static str {
    if n == 1 { "it" } else { "them" }
}

/// The pacer task: recomputes the gate whenever publishers wait, and stalls the listeners
/// that hold them back without reading, until `stop`. Then nobody waits any more.
pub(crate) async fn run(pacer: &Pacer, registry: &Registry, stop: CancellationToken) {
    if pacer.mode == WhenBehind::Skip {
        return;
    }
    let mut next_stall: Option<u64> = None;
    loop {
        let stall_check = async {
            match next_stall {
                Some(at) => {
                    let wait = Duration::from_micros(at.saturating_sub(clock_us()));
                    tokio::time::sleep(wait).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = pacer.asked.notified() => {}
            () = stall_check => {}
        }
        next_stall = pacer.pass(registry);
    }
    pacer.release();
}
