//! The bytes the hub holds in frames still arriving, bounded across every client.
//!
//! A connection's read buffer grows only with the bytes that arrive, never with the
//! length a frame announces. A frame of at most [`FREE_PARTIAL`] bytes (nearly every
//! frame) is read without asking anyone. A larger one must first reserve its whole
//! announced length from the hub's one [`PartialFrames`] budget; while the budget cannot
//! hold it, its connection is not read, so the rest of the frame waits in the client's
//! socket, not in the hub. A reserved frame can always be finished (or it is closed by
//! the frame timeout), so whatever waits gets its turn.
//!
//! The hub therefore holds at most the budget plus about `FREE_PARTIAL` per connection in
//! frames still arriving, and the clients it stops reading are those whose frames are too
//! large for what is left: the largest ones.

use std::sync::{Arc, Mutex};

use crate::registry::ClientHandle;

/// The most bytes of a frame in progress a connection holds without reserving them
/// (its read buffer stays below twice this); also the longest piece a text client's line
/// is shown in.
pub(crate) const FREE_PARTIAL: usize = 32 * 1024;

/// The bytes the frame at the start of `buf` takes whole, once its length has arrived.
pub(crate) fn frame_in_progress(buf: &[u8]) -> usize {
    match buf.first_chunk::<{ pipehub_protocol::LENGTH_LEN }>() {
        Some(len) => pipehub_protocol::LENGTH_LEN + u32::from_be_bytes(*len) as usize,
        None => 0,
    }
}

/// The hub-wide budget for frames larger than [`FREE_PARTIAL`] still arriving.
pub(crate) struct PartialFrames {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bytes reserved by frames in progress.
    held: usize,
    /// Connections waiting for a reservation, woken (through their mailbox) when bytes
    /// are given back.
    waiting: Vec<Arc<ClientHandle>>,
}

impl PartialFrames {
    /// A budget of `limit` bytes; it always holds at least one frame of `largest` bytes,
    /// so every valid frame can be finished.
    pub(crate) fn new(limit: usize, largest: usize) -> Self {
        PartialFrames {
            limit: limit.max(largest),
            state: Mutex::default(),
        }
    }

    /// Reserves `bytes` for `client`'s frame in progress; when the budget cannot hold
    /// them, `client` is woken once some are given back and should ask again.
    pub(crate) fn reserve(&self, bytes: usize, client: &Arc<ClientHandle>) -> bool {
        let mut state = self.lock();
        if state.held + bytes <= self.limit {
            state.held += bytes;
            true
        } else {
            if !state.waiting.iter().any(|w| Arc::ptr_eq(w, client)) {
                state.waiting.push(Arc::clone(client));
            }
            false
        }
    }

    /// Gives back `bytes` reserved earlier, and wakes every connection waiting for room.
    pub(crate) fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let waiting = {
            let mut state = self.lock();
            state.held = state.held.saturating_sub(bytes);
            std::mem::take(&mut state.waiting)
        };
        for client in waiting {
            client.wake.notify_one();
        }
    }

    /// Forgets `client`, which left while it may have been waiting for room.
    pub(crate) fn forget(&self, client: &Arc<ClientHandle>) {
        self.lock().waiting.retain(|w| !Arc::ptr_eq(w, client));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
