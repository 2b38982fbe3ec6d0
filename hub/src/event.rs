//! [`ConsoleEvent`]: what the operator should see of the hub's clients. The hub's state
//! and its connections make these; the console (or a program embedding the hub) prints
//! them. A leaf both sides import, so the hub's core does not depend on its console.

use bytes::Bytes;
use pipehub_protocol::ClientId;

/// Something the operator should see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// A client said something: a listener's or text client's message to the operator,
    /// or a publisher's broadcast.
    Message {
        from: ClientId,
        name: String,
        body: Bytes,
        broadcast: bool,
    },
    /// Events (publishers' broadcasts, joins, leaves) not shown because the console was
    /// behind; the broadcasts themselves are never held back by the console.
    NotShown(u64),
    /// A client finished its handshake.
    Joined {
        id: ClientId,
        name: String,
        kind: &'static str,
    },
    /// A client left.
    Left { id: ClientId, name: String },
    /// A client talks to the operator faster than `per_second` messages a second (after
    /// a burst), and is read at that pace from now on; said once per client.
    Slowed {
        id: ClientId,
        name: String,
        per_second: u32,
    },
}

/// How many console events may wait for the printer.
pub(crate) const CONSOLE_QUEUE: usize = 1024;
