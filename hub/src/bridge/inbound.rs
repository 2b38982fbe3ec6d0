//! Broadcasts from other hubs, in from the bridge: each valid, new one is appended to the
//! log after its `ORIGIN` frame and so reaches every local listener, with this hub's own
//! sequence number.
//!
//! A message is dropped if it comes from this hub itself, if it was seen before (its
//! origin seq is not above the last one taken from that origin: NATS delivers one
//! publisher's messages in order, so anything else is a repeat), if it is not a valid
//! bridge message, or if its body is larger than this hub can broadcast.

use std::{collections::HashMap, sync::atomic::Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use pipehub_protocol::{ClientId, HubInstance, Seq, bridge::BridgeMessage};
use tokio_util::sync::CancellationToken;

use super::{BridgeState, Complaint};
use crate::{event::ConsoleEvent, hub::Hub, logging::client_text};

/// Takes messages from `subscriber` until `stop`.
pub(super) async fn run(
    hub: &Hub,
    state: &BridgeState,
    mut subscriber: async_nats::Subscriber,
    stop: &CancellationToken,
) {
    let mut seen = Seen::default();
    let mut complaint = Complaint::default();
    loop {
        let message = tokio::select! {
            message = subscriber.next() => message,
            () = stop.cancelled() => break,
        };
        let Some(message) = message else { break };
        if let Err(why) = take(hub, state, &mut seen, message.payload) {
            state.rejected.fetch_add(1, Ordering::Relaxed);
            complaint.warn(&format!("bridge: dropped {why}"));
        }
    }
    let _ = subscriber.unsubscribe().await;
}

/// Broadcasts one bridge message locally, unless it is to be dropped. `Err` says why a
/// message was rejected; own messages and duplicates are not errors.
fn take(hub: &Hub, state: &BridgeState, seen: &mut Seen, payload: Bytes) -> Result<(), String> {
    let message = BridgeMessage::parse(payload)
        .map_err(|err| format!("a message that is not a pipehub broadcast ({err})"))?;
    let origin = &message.origin;
    if origin.hub_instance == hub.instance() {
        return Ok(());
    }
    if !seen.admit(origin.hub_instance, origin.seq) {
        state.duplicates.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let max = hub.max_body();
    if message.body.len() > max {
        return Err(format!(
            "a broadcast of {} bytes from hub \"{}\", more than this hub carries ({max} bytes); \
             give every bridged hub the same --max-frame",
            message.body.len(),
            client_text(&origin.hub_name)
        ));
    }
    hub.log()
        .publish_remote(&message.origin_frame, message.timestamp_us, &message.body);
    state.received.fetch_add(1, Ordering::Relaxed);
    if hub.console_takes_broadcast() {
        let sender = if origin.sender == ClientId::OPERATOR {
            "operator".to_owned()
        } else {
            format!("client {}", origin.sender)
        };
        hub.show_event(ConsoleEvent::Message {
            from: ClientId::REMOTE,
            name: format!("{sender} of {}", origin.hub_name),
            body: message.body,
            broadcast: true,
        });
    }
    Ok(())
}

/// The last sequence number taken from each origin hub, for the most recently heard
/// [`MAX_ORIGINS`] origins (hubs restart with new instances; old ones are forgotten).
#[derive(Default)]
struct Seen {
    last: HashMap<HubInstance, (Seq, u64)>,
    /// Counts admissions: when each origin was last heard from.
    clock: u64,
}

/// Most origin hubs remembered for duplicate detection.
const MAX_ORIGINS: usize = 4096;

impl Seen {
    /// Whether broadcast `seq` of `origin` is new (and remembers it if so).
    fn admit(&mut self, origin: HubInstance, seq: Seq) -> bool {
        self.clock += 1;
        let clock = self.clock;
        if let Some((last, heard)) = self.last.get_mut(&origin) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            *heard = clock;
            return true;
        }
        if self.last.len() >= MAX_ORIGINS
            && let Some(oldest) = self
                .last
                .iter()
                .min_by_key(|(_, (_, heard))| *heard)
                .map(|(origin, _)| *origin)
        {
            self.last.remove(&oldest);
        }
        self.last.insert(origin, (seq, clock));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broadcast_of_an_origin_is_taken_once() {
        let mut seen = Seen::default();
        let (a, b) = (HubInstance(1), HubInstance(2));
        assert!(seen.admit(a, Seq(1)));
        assert!(seen.admit(b, Seq(1)));
        assert!(!seen.admit(a, Seq(1)), "a repeat");
        assert!(
            seen.admit(a, Seq(5)),
            "a gap (not bridged at the origin) is fine"
        );
        assert!(!seen.admit(a, Seq(4)), "older than the last taken");
    }

    #[test]
    fn the_least_recently_heard_origin_is_forgotten_first() {
        let mut seen = Seen::default();
        for origin in 0..MAX_ORIGINS as u64 {
            assert!(seen.admit(HubInstance(origin), Seq(1)));
        }
        assert!(seen.admit(HubInstance(0), Seq(2)), "origin 0 heard again");
        assert!(seen.admit(HubInstance(u64::MAX), Seq(1)), "one more origin");
        assert_eq!(seen.last.len(), MAX_ORIGINS);
        assert!(
            !seen.admit(HubInstance(0), Seq(2)),
            "origin 0 is remembered"
        );
        assert!(seen.admit(HubInstance(1), Seq(1)), "origin 1 was forgotten");
    }
}
