//! Graceful shutdown: queued broadcasts are delivered, then every client gets `BYE`.

mod common;

use bytes::Bytes;
use common::{RawClient, TestHub};
use pipehub_protocol::{ByeReason, Frame, Role};

#[tokio::test]
async fn every_client_gets_its_queued_broadcasts_then_bye() {
    let mut hub = TestHub::start().await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut publisher, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    for i in 0..100 {
        hub.hub.publish(format!("{i}").as_bytes()).unwrap();
    }
    hub.shutdown().await;
    let frames = listener.recv_until_closed().await;
    assert_eq!(
        frames.len(),
        101,
        "100 broadcasts and BYE: {:?}",
        frames.last()
    );
    for (i, frame) in frames[..100].iter().enumerate() {
        match frame {
            Frame::Broadcast(b) => {
                assert_eq!(b.seq.0, i as u64 + 1);
                assert_eq!(b.body, Bytes::from(format!("{i}")));
            }
            other => panic!("expected broadcast {i}, got {other:?}"),
        }
    }
    assert!(matches!(&frames[100], Frame::Bye { reason, .. } if *reason == ByeReason::SHUTDOWN));
    assert!(matches!(
        publisher.recv_until_closed().await.as_slice(),
        [Frame::Bye { reason, .. }] if *reason == ByeReason::SHUTDOWN
    ));
}

#[tokio::test]
async fn text_listeners_get_their_lines_and_a_clean_close() {
    use tokio::io::AsyncReadExt;
    let mut hub = TestHub::start().await;
    let mut stream = common::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    hub.hub.publish(b"last words").unwrap();
    hub.shutdown().await;
    let mut all = String::new();
    stream.read_to_string(&mut all).await.unwrap();
    assert_eq!(all, "last words\n");
}
