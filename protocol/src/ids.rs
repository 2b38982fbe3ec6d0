//! Identifiers carried on the wire. Newtypes so that a client ID can never be passed
//! where a sequence number is expected.

use std::fmt;

/// A client's hub-assigned identifier. Unique for the hub's whole life (never reused);
/// [`ClientId::OPERATOR`] (0) names the hub's own operator console as a sender, and
/// [`ClientId::REMOTE`] another hub's broadcasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The sender ID of messages typed into the hub's console.
    pub const OPERATOR: ClientId = ClientId(0);
    /// The sender ID of broadcasts that came from another hub over the bridge: the
    /// `ORIGIN` frame before each names the hub and its real sender. Never assigned to a
    /// client (IDs count up from 1).
    pub const REMOTE: ClientId = ClientId(u64::MAX);
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A broadcast's hub-wide sequence number. The first broadcast is 1; each broadcast is
/// exactly one more than the one before, so any gap is visible to a client. 0 means
/// "no broadcast yet".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A random identifier a hub picks at start. Two `WELCOME`s with the same instance come
/// from the same hub process, so a reconnecting client can tell a restarted hub (whose
/// sequence numbers started again) from a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HubInstance(pub u64);

impl fmt::Display for HubInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
