//! What the hub's core knows of a bridge to other hubs ([`crate::bridge`]): where its
//! link stands, and its part of the status report. The bridge reports them through
//! [`BridgeReport`] once it is attached to the hub; a leaf, so that the core does not
//! depend on the bridge.

use pipehub_protocol::status::BridgeStatus;

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
    /// The state as the status report names it: `connecting`, `connected`, `down`.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Down => "down",
        }
    }
}

/// What an attached bridge tells the hub, for the status report, the console and the
/// metrics.
pub(crate) trait BridgeReport: Send + Sync {
    /// Where the bridge's connection stands.
    fn link(&self) -> LinkState;
    /// The bridge part of the status report.
    fn status(&self) -> BridgeStatus;
}
