//! Broadcasts that start on this hub, out to the bridge: one more reader of the log, with
//! a cursor like a client's, that publishes each local broadcast as a bridge message.
//!
//! It never holds the hub back: a publish that waits only delays this reader, and if it
//! falls behind the log it counts the broadcasts it skipped as not bridged. Broadcasts
//! that came from the bridge (entries with an `ORIGIN` frame) are skipped: that is what
//! keeps messages from looping.

use std::{collections::VecDeque, sync::Arc, sync::atomic::Ordering};

use bytes::Bytes;
use pipehub_protocol::{ClientId, FrameType, LENGTH_LEN, Origin, Seq, bridge::BridgeMessage};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{BridgeState, Complaint, LinkState};
use crate::{hub::Hub, link::BridgeReport, log::Read};

/// Most log entries taken per read.
const BATCH: usize = 256;

/// Publishes local broadcasts from sequence number `cursor` on, until `stop`; then
/// publishes what is left and flushes.
pub(super) async fn run(
    hub: Hub,
    state: Arc<BridgeState>,
    client: async_nats::Client,
    mut cursor: u64,
    stop: CancellationToken,
) {
    let log = &hub.log();
    let subject = async_nats::Subject::from(state.config.subject.as_str());
    let mut publisher = Publisher {
        state: &state,
        client: &client,
        subject,
        origin: Origin {
            hub_instance: hub.instance(),
            seq: Seq(0),
            sender: ClientId::OPERATOR,
            hub_name: state.config.hub_name.clone(),
        },
        last_error: None,
    };
    let mut entries = VecDeque::new();
    let mut stopping = false;
    let mut behind = Complaint::default();
    loop {
        let appended = log.appended().notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        // Copies: the entries are sent after the log's lock is let go.
        let read = log.read(cursor, BATCH, usize::MAX, |entry| {
            entries.push_back(Bytes::copy_from_slice(entry));
        });
        match read {
            Read::Frames(_) => {
                for entry in entries.drain(..) {
                    publisher.publish(Seq(cursor), entry).await;
                    cursor += 1;
                }
            }
            Read::Lagged { missed, next } => {
                behind.warn(&format!(
                    "bridge: fell behind the hub's broadcasts (NATS is slower than they come); \
                     up to {missed} broadcasts were not bridged"
                ));
                state.not_bridged.fetch_add(missed, Ordering::Relaxed);
                cursor = next;
            }
            Read::Empty if stopping => break,
            Read::Empty => {
                tokio::select! {
                    () = &mut appended => {}
                    () = stop.cancelled() => stopping = true,
                }
            }
        }
    }
    if state.link() == LinkState::Connected {
        let _ = client.flush().await;
    }
}

/// Publishes one log entry at a time, counting each as published or not bridged.
struct Publisher<'a> {
    state: &'a BridgeState,
    client: &'a async_nats::Client,
    subject: async_nats::Subject,
    /// This hub as an origin; `seq` and `sender` are filled in per broadcast.
    origin: Origin,
    /// The last publish error logged, so that a repeated one is logged once.
    last_error: Option<String>,
}

impl Publisher<'_> {
    async fn publish(&mut self, seq: Seq, entry: Bytes) {
        if entry.get(LENGTH_LEN) == Some(&(FrameType::Origin as u8)) {
            return; // from another hub: never published again
        }
        if self.state.link() != LinkState::Connected {
            self.state.not_bridged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A local entry is one BROADCAST frame: its sender follows seq.
        let sender = entry
            .get(13..21)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        self.origin.seq = seq;
        self.origin.sender = ClientId(sender);
        let payload = BridgeMessage::encode(&self.origin, &entry);
        match self.client.publish(self.subject.clone(), payload).await {
            Ok(()) => {
                self.state.published.fetch_add(1, Ordering::Relaxed);
                self.last_error = None;
            }
            Err(err) => {
                self.state.not_bridged.fetch_add(1, Ordering::Relaxed);
                let err = err.to_string();
                if self.last_error.as_deref() != Some(&err) {
                    let fix = if err.contains("payload") {
                        "; raise max_payload in the NATS server's configuration, or lower --max-frame"
                    } else {
                        ""
                    };
                    warn!(
                        seq = seq.0,
                        "bridge: broadcast {seq} not bridged: {err}{fix}"
                    );
                    self.last_error = Some(err);
                }
            }
        }
    }
}
