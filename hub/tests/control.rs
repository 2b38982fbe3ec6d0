//! The operator's reach into single clients: direct messages, kicks, and the counters
//! the console shows.
mod common;

use bytes::Bytes;
use common::{RawClient, TestHub, within};
use pipehub::SendError;
use pipehub_protocol::{ByeReason, ClientId, Frame, Role};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn a_direct_message_reaches_only_its_client() {
    let hub = TestHub::start().await;
    let (mut target, welcome) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut other, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.hub
        .send_direct(welcome.client_id, b"just for you")
        .unwrap();
    hub.hub.publish(b"for everyone").unwrap();
    match target.recv().await {
        Some(Frame::Direct { sender, body, .. }) => {
            assert_eq!(sender, ClientId::OPERATOR);
            assert_eq!(&body[..], b"just for you");
        }
        other => panic!("expected DIRECT, got {other:?}"),
    }
    assert_eq!(target.recv_broadcast().await.0, 1);
    assert_eq!(
        other.recv_broadcast().await,
        (1, Bytes::from_static(b"for everyone"))
    );
}

#[tokio::test]
async fn a_text_listener_gets_a_direct_message_as_a_line() {
    let hub = TestHub::start().await;
    let stream = common::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    let id = hub.hub.clients()[0].id;
    hub.hub.send_direct(id, b"hello\nthere").unwrap();
    let mut line = String::new();
    within(BufReader::new(stream).read_line(&mut line))
        .await
        .unwrap();
    assert_eq!(line, "hello\\nthere\n");
}

#[tokio::test]
async fn direct_to_an_unknown_client_is_an_error() {
    let hub = TestHub::start().await;
    assert_eq!(
        hub.hub.send_direct(ClientId(999), b"x"),
        Err(SendError::NoSuchClient(ClientId(999)))
    );
}

#[tokio::test]
async fn a_kicked_client_gets_bye_with_the_reason_and_others_stay() {
    let hub = TestHub::start().await;
    let (mut kicked, welcome) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut stays, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.wait_for_clients(2).await;
    assert!(hub.hub.kick(welcome.client_id, "too noisy"));
    assert_eq!(
        kicked.recv_until_closed().await,
        vec![Frame::Bye {
            reason: ByeReason::KICKED,
            text: "too noisy".into()
        }]
    );
    hub.wait_for_clients(1).await;
    assert!(!hub.hub.kick(welcome.client_id, "again"), "already gone");
    hub.hub.publish(b"still here").unwrap();
    assert_eq!(stays.recv_broadcast().await.0, 1);
}

#[tokio::test]
async fn stats_count_clients_broadcasts_and_deliveries() {
    let hub = TestHub::start().await;
    let (mut a, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut b, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (_p, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    hub.wait_for_clients(3).await;
    for _ in 0..10 {
        hub.hub.publish(b"12345").unwrap();
    }
    for _ in 0..10 {
        a.recv_broadcast().await;
        b.recv_broadcast().await;
    }
    let stats = hub.hub.stats();
    assert_eq!(
        (stats.listeners, stats.publishers, stats.text_listeners),
        (2, 1, 0)
    );
    assert_eq!(stats.broadcasts, 10);
    assert_eq!(stats.bytes_broadcast, 50);
    assert_eq!(stats.deliveries, 20);
    assert_eq!(stats.missed, 0);
    let clients = hub.hub.clients();
    assert_eq!(clients.len(), 3);
    assert!(clients.iter().all(|c| c.queued == 0), "{clients:?}");
    // Unix sockets tell who the peer is; a named pipe's security decides who connects.
    #[cfg(unix)]
    assert!(clients.iter().all(|c| {
        c.peer
            .is_some_and(|p| p.pid == Some(std::process::id() as i32))
    }));
}

#[tokio::test]
async fn a_broadcast_larger_than_a_frame_is_refused() {
    let hub = TestHub::start().await;
    let max = hub.hub.config().max_frame as usize - 25;
    assert!(hub.hub.publish(&vec![0; max]).is_ok());
    assert!(matches!(
        hub.hub.publish(&vec![0; max + 1]),
        Err(SendError::TooLarge { .. })
    ));
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut publisher, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    publisher
        .send(&Frame::Send(Bytes::from(vec![1; max + 1])))
        .await;
    match publisher.recv_until_closed().await.as_slice() {
        [Frame::Error { code, .. }] => {
            assert_eq!(*code, pipehub_protocol::ErrorCode::FRAME_TOO_LARGE)
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    hub.hub.publish(b"small").unwrap();
    assert_eq!(listener.recv_broadcast().await.0, 2);
}
