//! Who is connected: one entry per client that finished its handshake (or became a
//! text listener), keyed by its never-reused [`ClientId`].

use std::time::SystemTime;

use dashmap::DashMap;
use pipehub_protocol::{ClientId, Role};

/// How a client is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// A framed client that said `HELLO` with this role.
    Framed(Role),
    /// A plain tool that sent no handshake: it receives bodies as lines.
    Text,
}

impl ClientKind {
    /// Whether this client receives broadcasts.
    pub fn listens(self) -> bool {
        matches!(self, ClientKind::Framed(Role::Listener) | ClientKind::Text)
    }

    /// Whether this client's messages are broadcast (rather than only shown to the
    /// operator).
    pub fn broadcasts(self) -> bool {
        matches!(self, ClientKind::Framed(Role::Publisher))
    }

    /// A lowercase name: `listener`, `publisher` or `text`.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Framed(role) => role.name(),
            ClientKind::Text => "text",
        }
    }
}

/// What the hub knows of one connected client.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub kind: ClientKind,
    /// The display name from `HELLO` (empty if none).
    pub name: String,
    pub connected_at: SystemTime,
}

/// The connected clients.
#[derive(Default)]
pub(crate) struct Registry {
    clients: DashMap<ClientId, ClientInfo>,
}

impl Registry {
    /// Adds a client; the returned guard removes it again when the connection ends.
    pub(crate) fn register(&self, id: ClientId, info: ClientInfo) -> Registration<'_> {
        self.clients.insert(id, info);
        Registration { registry: self, id }
    }

    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// A copy of every entry, sorted by client ID.
    pub(crate) fn snapshot(&self) -> Vec<(ClientId, ClientInfo)> {
        let mut all: Vec<_> = self
            .clients
            .iter()
            .map(|entry| (*entry.key(), entry.value().clone()))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

/// Keeps a client in the registry for as long as it lives.
pub(crate) struct Registration<'a> {
    registry: &'a Registry,
    id: ClientId,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.clients.remove(&self.id);
    }
}
