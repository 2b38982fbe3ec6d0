//! Fan-out through a real hub over real sockets or pipes: ordering, sequence numbers, roles,
//! talking back, text listeners.

mod common;

use bytes::Bytes;
use common::{RawClient, TestHub, within};
use pipehub_protocol::{ClientId, Frame, Role};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn every_listener_receives_every_broadcast_in_order() {
    let hub = TestHub::start().await;
    let mut listeners = Vec::new();
    for _ in 0..5 {
        listeners.push(RawClient::join(&hub.endpoint, Role::Listener).await.0);
    }
    for i in 0..200 {
        hub.hub.publish(format!("message {i}").as_bytes()).unwrap();
    }
    for listener in &mut listeners {
        for i in 0..200u64 {
            let (seq, body) = listener.recv_broadcast().await;
            assert_eq!(seq, i + 1);
            assert_eq!(body, Bytes::from(format!("message {i}")));
        }
    }
}

#[tokio::test]
async fn welcome_names_a_fresh_client_id_and_the_current_sequence() {
    let hub = TestHub::start().await;
    let (_a, first) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.hub.publish(b"one").unwrap();
    hub.hub.publish(b"two").unwrap();
    let (mut b, second) = RawClient::join(&hub.endpoint, Role::Listener).await;
    assert!(second.client_id > first.client_id);
    assert_ne!(first.client_id, ClientId::OPERATOR);
    assert_eq!(first.hub_instance, second.hub_instance);
    assert_eq!(second.current_seq.0, 2);
    assert_eq!(second.max_frame, pipehub_protocol::DEFAULT_MAX_FRAME);
    hub.hub.publish(b"three").unwrap();
    assert_eq!(b.recv_broadcast().await, (3, Bytes::from_static(b"three")));
}

#[tokio::test]
async fn a_publishers_send_reaches_listeners_and_the_operator_but_not_itself() {
    let mut hub = TestHub::start().await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut publisher, welcome) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    publisher
        .send(&Frame::Send(Bytes::from_static(b"from a script")))
        .await;
    publisher.send(&Frame::Ping(7)).await;
    assert_eq!(publisher.recv().await, Some(Frame::Pong(7)));
    match listener.recv().await {
        Some(Frame::Broadcast(b)) => {
            assert_eq!(b.sender, welcome.client_id);
            assert_eq!(&b.body[..], b"from a script");
        }
        other => panic!("expected the publisher's broadcast, got {other:?}"),
    }
    assert_eq!(
        hub.next_message().await,
        (
            welcome.client_id.0,
            Bytes::from_static(b"from a script"),
            true
        )
    );
    // The publisher got its PONG and nothing else.
    hub.hub.publish(b"operator line").unwrap();
    publisher.send(&Frame::Ping(8)).await;
    assert_eq!(publisher.recv().await, Some(Frame::Pong(8)));
}

#[tokio::test]
async fn a_listeners_send_goes_to_the_operator_only() {
    let mut hub = TestHub::start().await;
    let (mut talker, welcome) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut other, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    talker
        .send(&Frame::Send(Bytes::from_static(b"operator, hello")))
        .await;
    assert_eq!(
        hub.next_message().await,
        (
            welcome.client_id.0,
            Bytes::from_static(b"operator, hello"),
            false
        )
    );
    hub.hub.publish(b"next").unwrap();
    // The other listener's first broadcast is the operator's, not the talker's message.
    assert_eq!(
        other.recv_broadcast().await,
        (1, Bytes::from_static(b"next"))
    );
}

#[tokio::test]
async fn pong_comes_after_every_earlier_send_was_taken() {
    let hub = TestHub::start().await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut publisher, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend_from_slice(&Frame::Send(Bytes::from(format!("m{i}"))).to_bytes());
    }
    batch.extend_from_slice(&Frame::Ping(1).to_bytes());
    publisher.send_raw(&batch).await;
    assert_eq!(publisher.recv().await, Some(Frame::Pong(1)));
    assert_eq!(hub.hub.current_seq().0, 500);
    for i in 0..500u64 {
        assert_eq!(listener.recv_broadcast().await.0, i + 1);
    }
}

#[tokio::test]
async fn a_silent_connection_becomes_a_text_listener() {
    let hub = TestHub::start().await;
    let stream = common::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    hub.hub.publish(b"plain line").unwrap();
    hub.hub.publish(b"two\nlines \\ here").unwrap();
    hub.hub.publish(b"bad utf8 \xff").unwrap();
    let mut lines = BufReader::new(stream).lines();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(within(lines.next_line()).await.unwrap().unwrap());
    }
    assert_eq!(
        got,
        ["plain line", "two\\nlines \\\\ here", "bad utf8 \u{fffd}"]
    );
}

/// Unix only: a named pipe has no half-close (on Windows, a read-only client is served
/// after the grace period; see `pipe.rs`).
#[cfg(unix)]
#[tokio::test]
async fn a_half_closed_connection_is_a_text_listener_at_once() {
    let hub = TestHub::start().await;
    let mut stream = common::connect(&hub.endpoint).await;
    stream.shutdown().await.unwrap(); // like `nc -U path < /dev/null`
    // Registered well before the grace period would have elapsed.
    tokio::time::timeout(std::time::Duration::from_millis(150), async {
        while hub.hub.client_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("half-closed client registered without waiting for the grace period");
    hub.hub.publish(b"still delivered").unwrap();
    let mut line = String::new();
    within(BufReader::new(stream).read_line(&mut line))
        .await
        .unwrap();
    assert_eq!(line, "still delivered\n");
}

#[tokio::test]
async fn lines_written_by_a_text_client_reach_the_operator() {
    let mut hub = TestHub::start().await;
    let mut stream = common::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    stream
        .write_all(b"hello from socat\r\nsecond\n")
        .await
        .unwrap();
    assert_eq!(
        hub.next_message().await.1,
        Bytes::from_static(b"hello from socat")
    );
    assert_eq!(hub.next_message().await.1, Bytes::from_static(b"second"));
}

#[tokio::test]
async fn a_listener_that_leaves_is_removed_from_the_registry() {
    let hub = TestHub::start().await;
    let (a, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (_b, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    hub.wait_for_clients(2).await;
    drop(a);
    hub.wait_for_clients(1).await;
}
