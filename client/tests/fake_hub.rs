//! `Connection` against a scripted fake hub: the handshake, every event, `confirm`, the
//! keepalive both ways, and the errors a session can end with.

#![cfg(unix)]

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::{FakeHub, broadcast, direct, missing_endpoint, origin, remote_broadcast, welcome};
use pipehub_client::protocol::{
    Broadcast, ByeReason, ClientId, ErrorCode, Frame, Hello, HubInstance, Origin, ProtocolError,
    RefuseCode, Role, Seq, Welcome,
};
use pipehub_client::transport::EndpointProblem;
use pipehub_client::{ClientError, Connection, Event};
use tokio::time::Instant;

fn listener() -> Hello {
    Hello::new(Role::Listener)
}

async fn connect(endpoint: &str) -> Connection {
    Connection::connect(endpoint, listener())
        .await
        .expect("connect to the fake hub")
}

/// The next event, which must be a broadcast, and the origin it came with.
async fn next_broadcast(connection: &mut Connection) -> (Broadcast, Option<Origin>) {
    match connection.next_event().await {
        Ok(Some(Event::Broadcast { broadcast, origin })) => (broadcast, origin),
        other => panic!("expected a broadcast, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_returns_the_hubs_welcome() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move { hub.accept_welcomed(41).await.1 });

    let mut hello = Hello::new(Role::Publisher);
    hello.name = "deployer".into();
    let connection = Connection::connect(&endpoint, hello.clone())
        .await
        .expect("connect");

    assert_eq!(connection.welcome(), &welcome(41));
    assert_eq!(connection.endpoint(), endpoint);
    assert_eq!(server.await.expect("hub task"), hello);
}

#[tokio::test]
async fn connect_reports_refusal_with_code_and_text() {
    let endpoint = FakeHub::answering_hello_with(Frame::Refused {
        code: RefuseCode::HUB_FULL,
        text: "64 clients".into(),
    });

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ClientError::Refused { code: RefuseCode::HUB_FULL, text } if text == "64 clients"),
        "{err:?}"
    );
}

#[tokio::test]
async fn refusal_sent_without_reading_hello_is_still_reported() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let mut side = hub.accept().await;
        side.send(Frame::Refused {
            code: RefuseCode::SHUTTING_DOWN,
            text: String::new(),
        })
        .await;
    });

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            ClientError::Refused {
                code: RefuseCode::SHUTTING_DOWN,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_instead_of_welcome_is_hub_error() {
    let endpoint = FakeHub::answering_hello_with(Frame::Error {
        code: ErrorCode::BAD_MAGIC,
        text: "no".into(),
    });

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("error");
    assert!(
        matches!(
            err,
            ClientError::HubError {
                code: ErrorCode::BAD_MAGIC,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn broadcast_instead_of_welcome_is_unexpected() {
    let endpoint = FakeHub::answering_hello_with(broadcast(1, "early"));

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("unexpected");
    assert!(
        matches!(err, ClientError::UnexpectedFrame { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn hub_closing_before_welcome_is_closed() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let mut side = hub.accept().await;
        side.expect_hello().await;
    });

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("closed");
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test]
async fn missing_socket_is_no_hub() {
    let (_dir, path) = missing_endpoint();
    let endpoint = path.to_string_lossy().into_owned();

    let err = Connection::connect(&endpoint, listener())
        .await
        .expect_err("no hub");
    assert!(
        matches!(&err, ClientError::NoHub { endpoint: e } if *e == endpoint),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("no hub at {endpoint} (start one with: pipehub --endpoint {endpoint})")
    );
}

#[tokio::test]
async fn socket_file_of_an_exited_hub_is_no_hub() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let (_dir, stale) = missing_endpoint();
    // Keep the socket file but close the listener: connecting is refused.
    std::fs::rename(&endpoint, &stale).expect("move the socket file");
    drop(hub);
    let stale = stale.to_string_lossy().into_owned();

    let err = Connection::connect(&stale, listener())
        .await
        .expect_err("no hub");
    assert!(matches!(err, ClientError::NoHub { .. }), "{err:?}");
}

#[tokio::test]
async fn connect_wait_retries_until_the_hub_appears() {
    let (dir, path) = missing_endpoint();
    let endpoint = path.to_string_lossy().into_owned();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let (stream, _) = listener.accept().await.expect("accept");
        let mut framed =
            tokio_util::codec::Framed::new(stream, pipehub_client::protocol::FrameCodec::default());
        use futures_util::{SinkExt, StreamExt};
        assert!(matches!(framed.next().await, Some(Ok(Frame::Hello(_)))));
        framed
            .send(Frame::Welcome(welcome(0)))
            .await
            .expect("welcome");
        drop(dir);
    });

    let started = Instant::now();
    let connection = Connection::connect_wait(&endpoint, listener(), Duration::from_secs(10))
        .await
        .expect("connect once the hub is up");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(connection.welcome().client_id, ClientId(7));
    server.await.expect("hub task");
}

#[tokio::test]
async fn connect_wait_waits_for_the_directory_of_the_socket_too() {
    let (dir, _) = missing_endpoint();
    // Created when the hub's service starts, say.
    let later = dir.path().join("later");
    let path = later.join("hub.sock");
    let endpoint = path.to_string_lossy().into_owned();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::create_dir(&later).expect("create the directory");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let (stream, _) = listener.accept().await.expect("accept");
        let mut framed =
            tokio_util::codec::Framed::new(stream, pipehub_client::protocol::FrameCodec::default());
        use futures_util::{SinkExt, StreamExt};
        assert!(matches!(framed.next().await, Some(Ok(Frame::Hello(_)))));
        framed
            .send(Frame::Welcome(welcome(0)))
            .await
            .expect("welcome");
    });

    let connection = Connection::connect_wait(&endpoint, listener(), Duration::from_secs(10))
        .await
        .expect("connect once the directory and the hub are there");
    assert_eq!(connection.welcome().client_id, ClientId(7));
    server.await.expect("hub task");
    drop(dir);
}

#[tokio::test]
async fn connect_wait_does_not_wait_for_a_path_no_hub_can_serve() {
    let (_dir, path) = missing_endpoint();
    std::fs::write(&path, b"").expect("write a regular file");
    let endpoint = path.to_string_lossy().into_owned();

    let started = Instant::now();
    let err = Connection::connect_wait(&endpoint, listener(), Duration::from_secs(30))
        .await
        .expect_err("not a socket");
    assert!(
        matches!(
            &err,
            ClientError::Unusable {
                problem: EndpointProblem::NotASocket { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connect_wait_gives_up_when_the_wait_is_over() {
    let (_dir, path) = missing_endpoint();
    let endpoint = path.to_string_lossy().into_owned();

    let started = Instant::now();
    let err = Connection::connect_wait(&endpoint, listener(), Duration::from_millis(350))
        .await
        .expect_err("no hub");
    let waited = started.elapsed();
    assert!(matches!(err, ClientError::NoHub { .. }), "{err:?}");
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn connect_wait_does_not_retry_a_refusal() {
    let endpoint = FakeHub::answering_hello_with(Frame::Refused {
        code: RefuseCode::NOT_PERMITTED,
        text: String::new(),
    });

    let started = Instant::now();
    let err = Connection::connect_wait(&endpoint, listener(), Duration::from_secs(30))
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::Refused { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn next_event_yields_broadcasts_in_order() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(broadcast(1, "one")).await;
        side.send(broadcast(2, "two")).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    for (seq, body) in [(1, "one"), (2, "two")] {
        match connection.next_event().await {
            Ok(Some(Event::Broadcast { broadcast: b, .. })) => {
                assert_eq!(b.seq, Seq(seq));
                assert_eq!(b.sender, ClientId(3));
                assert_eq!(b.body, Bytes::from_static(body.as_bytes()));
            }
            other => panic!("expected a broadcast, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn next_event_yields_lagged() {
    let endpoint = FakeHub::welcoming_and_sending(
        0,
        vec![Frame::Lagged {
            missed: 500,
            next_seq: Seq(601),
        }],
    );

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert_eq!(
        event,
        Some(Event::Lagged {
            missed: 500,
            next_seq: Seq(601)
        })
    );
}

#[tokio::test]
async fn bye_is_an_event_followed_by_the_end() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(Frame::Bye {
            reason: ByeReason::SHUTDOWN,
            text: "maintenance".into(),
        })
        .await;
    });

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert_eq!(
        event,
        Some(Event::Bye {
            reason: ByeReason::SHUTDOWN,
            text: "maintenance".into()
        })
    );
    assert_eq!(connection.next_event().await.expect("clean end"), None);
}

#[tokio::test]
async fn error_frame_is_hub_error() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(Frame::Error {
            code: ErrorCode::UNEXPECTED_FRAME,
            text: "second HELLO".into(),
        })
        .await;
    });

    let mut connection = connect(&endpoint).await;
    let err = connection.next_event().await.expect_err("hub error");
    assert!(
        matches!(&err, ClientError::HubError { code: ErrorCode::UNEXPECTED_FRAME, text } if text == "second HELLO"),
        "{err:?}"
    );
}

#[tokio::test]
async fn clean_close_is_the_end_of_events() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        hub.accept_welcomed(0).await;
    });

    let mut connection = connect(&endpoint).await;
    assert_eq!(connection.next_event().await.expect("clean end"), None);
}

#[tokio::test]
async fn close_in_the_middle_of_a_frame_is_a_protocol_error() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let whole = broadcast(1, "cut short").to_bytes();
        side.send_raw(&whole[..10]).await;
    });

    let mut connection = connect(&endpoint).await;
    let err = connection.next_event().await.expect_err("truncated");
    assert!(
        matches!(err, ClientError::Protocol(ProtocolError::Truncated(10))),
        "{err:?}"
    );
}

#[tokio::test]
async fn frames_of_unknown_type_are_skipped() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let mut raw = BytesMut::new();
        raw.put_u32(6);
        raw.put_u8(0xF0);
        raw.put_slice(b"later");
        side.send_raw(&raw).await;
        side.send(broadcast(1, "after")).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Broadcast { broadcast: b, .. }) if b.body == "after"));
}

#[tokio::test]
async fn an_unknown_type_below_0x80_is_a_broken_hub_not_a_newer_one() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_raw(&[0, 0, 0, 1, 0x7e]).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    let err = connection.next_event().await.expect_err("unknown type");
    assert!(
        matches!(err, ClientError::Protocol(ProtocolError::UnknownType(0x7e))),
        "{err:?}"
    );
}

#[tokio::test]
async fn frames_over_the_welcomed_limit_are_refused() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub
            .accept_with(Welcome {
                max_frame: 256,
                ..welcome(0)
            })
            .await;
        side.send(broadcast(1, &"x".repeat(300))).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    assert_eq!(connection.max_message_len(), 255);
    let err = connection.next_event().await.expect_err("too large");
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::TooLarge { max: 256, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn event_ready_tells_whether_a_frame_is_buffered() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([broadcast(1, "a"), broadcast(2, "b")]).await;
        let _ = sent_tx.send(());
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    sent_rx.await.expect("hub wrote both");
    assert!(matches!(
        connection.next_event().await,
        Ok(Some(Event::Broadcast { .. }))
    ));
    assert!(connection.event_ready());
    assert!(matches!(
        connection.next_event().await,
        Ok(Some(Event::Broadcast { .. }))
    ));
    assert!(!connection.event_ready());
}

#[tokio::test]
async fn confirm_returns_once_the_hub_has_every_message() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let (bodies, nonce) = side.recv_until_ping().await;
        // A stale PONG and a broadcast before the real answer.
        side.send_all([
            Frame::Pong(nonce.wrapping_add(1000)),
            broadcast(1, "meanwhile"),
            Frame::Pong(nonce),
        ])
        .await;
        side.recv().await;
        bodies
    });

    let mut connection = connect(&endpoint).await;
    for body in ["first", "", "third"] {
        connection
            .send(Bytes::from_static(body.as_bytes()))
            .await
            .expect("send");
    }
    connection.confirm().await.expect("confirmed");
    // The broadcast that arrived during confirm is kept.
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Broadcast { broadcast: b, .. }) if b.body == "meanwhile"));
    drop(connection);

    let bodies = server.await.expect("hub task");
    assert_eq!(bodies, ["first", "", "third"]);
}

#[tokio::test]
async fn confirm_uses_a_fresh_nonce_each_time() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let (_, nonce) = side.recv_until_ping().await;
            side.send(Frame::Pong(nonce)).await;
            nonces.push(nonce);
        }
        nonces
    });

    let mut connection = connect(&endpoint).await;
    connection.confirm().await.expect("first");
    connection.confirm().await.expect("second");
    let nonces = server.await.expect("hub task");
    assert_ne!(nonces[0], nonces[1]);
}

#[tokio::test]
async fn bye_before_pong_fails_confirm() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.recv_until_ping().await;
        side.send(Frame::Bye {
            reason: ByeReason::KICKED,
            text: String::new(),
        })
        .await;
    });

    let mut connection = connect(&endpoint).await;
    connection
        .send(Bytes::from_static(b"x"))
        .await
        .expect("send");
    let err = connection.confirm().await.expect_err("bye");
    assert!(
        matches!(
            err,
            ClientError::Bye {
                reason: ByeReason::KICKED,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn close_before_pong_fails_confirm() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.recv_until_ping().await;
    });

    let mut connection = connect(&endpoint).await;
    let err = connection.confirm().await.expect_err("closed");
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test]
async fn oversized_message_is_refused_before_sending() {
    // A listener's message goes to the operator only: the whole frame is its own.
    message_limit_is_enforced(Role::Listener, 255).await;
}

#[tokio::test]
async fn a_publishers_messages_leave_room_for_the_broadcast_header() {
    // A publisher's message is broadcast in a frame 24 bytes longer than its SEND.
    message_limit_is_enforced(Role::Publisher, 256 - 25).await;
}

/// With a `max_frame` of 256, a client of `role` may send `max` bytes and no more: one
/// byte more is refused before anything is written, and what fits arrives whole.
async fn message_limit_is_enforced(role: Role, max: usize) {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub
            .accept_with(Welcome {
                max_frame: 256,
                ..welcome(0)
            })
            .await;
        let (bodies, nonce) = side.recv_until_ping().await;
        side.send(Frame::Pong(nonce)).await;
        bodies
    });

    let mut connection = Connection::connect(&endpoint, Hello::new(role))
        .await
        .expect("connect");
    assert_eq!(connection.max_message_len(), max);
    let err = connection
        .send(Bytes::from(vec![b'x'; max + 1]))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, ClientError::MessageTooLarge { len, max: m } if len == max + 1 && m == max),
        "{err:?}"
    );
    connection
        .send(Bytes::from(vec![b'y'; max]))
        .await
        .expect("fits");
    connection.confirm().await.expect("confirm");
    let bodies = server.await.expect("hub task");
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].len(), max);
}

#[tokio::test]
async fn failed_write_reports_the_hubs_reason() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(Frame::Error {
            code: ErrorCode::MALFORMED_FRAME,
            text: "bad SEND".into(),
        })
        .await;
    });

    let mut connection = connect(&endpoint).await;
    server.await.expect("hub closed");
    // Writes fail once the hub is gone; the ERROR it sent first is the reason given.
    let mut result = Ok(());
    for _ in 0..100 {
        result = match connection.send(Bytes::from(vec![0; 1024])).await {
            Ok(()) => connection.flush().await,
            err => err,
        };
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("write fails");
    assert!(
        matches!(
            err,
            ClientError::HubError {
                code: ErrorCode::MALFORMED_FRAME,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_ping_from_the_hub_is_answered_and_not_surfaced() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([Frame::Ping(0xfeed), broadcast(1, "after the ping")])
            .await;
        side.recv().await
    });

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert!(
        matches!(&event, Some(Event::Broadcast { broadcast: b, .. }) if b.body == "after the ping"),
        "{event:?}"
    );
    let answer = server.await.expect("hub task");
    assert_eq!(answer, Some(Frame::Pong(0xfeed)));
}

#[tokio::test]
async fn a_buffered_ping_alone_is_no_event_ready() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([broadcast(1, "a"), Frame::Ping(5)]).await;
        let _ = sent_tx.send(());
        assert_eq!(side.recv().await, Some(Frame::Pong(5)));
        side.send(direct("later")).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    sent_rx.await.expect("hub wrote both");
    assert!(matches!(
        connection.next_event().await,
        Ok(Some(Event::Broadcast { .. }))
    ));
    // Only the PING is buffered: a printer should flush now rather than wait.
    assert!(!connection.event_ready());
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Direct { .. })), "{event:?}");
}

#[tokio::test]
async fn a_direct_message_is_an_event_of_its_own() {
    let endpoint =
        FakeHub::welcoming_and_sending(4, vec![direct("just you"), broadcast(5, "everyone")]);

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert_eq!(
        event,
        Some(Event::Direct {
            sender: ClientId::OPERATOR,
            timestamp_us: 1_700_000_000_000_000,
            body: Bytes::from_static(b"just you"),
        })
    );
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Broadcast { broadcast: b, .. }) if b.seq == Seq(5)));
}

#[tokio::test]
async fn an_origin_belongs_to_the_next_broadcast_only() {
    let endpoint = FakeHub::welcoming_and_sending(
        0,
        vec![
            Frame::Origin(origin(12)),
            remote_broadcast(1, "from hub-a"),
            broadcast(2, "local"),
        ],
    );

    let mut connection = connect(&endpoint).await;
    let (first, first_origin) = next_broadcast(&mut connection).await;
    assert_eq!((first.seq, first.sender), (Seq(1), ClientId::REMOTE));
    assert_eq!(first_origin, Some(origin(12)));
    let (second, second_origin) = next_broadcast(&mut connection).await;
    assert_eq!(second.seq, Seq(2));
    assert_eq!(second_origin, None);
}

#[tokio::test]
async fn an_origin_followed_by_another_event_is_dropped() {
    let endpoint = FakeHub::welcoming_and_sending(
        0,
        vec![
            Frame::Origin(origin(12)),
            Frame::Lagged {
                missed: 1,
                next_seq: Seq(2),
            },
            broadcast(2, "local"),
        ],
    );

    let mut connection = connect(&endpoint).await;
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Lagged { .. })), "{event:?}");
    let (broadcast, origin) = next_broadcast(&mut connection).await;
    assert_eq!(broadcast.seq, Seq(2));
    assert_eq!(origin, None);
}

#[tokio::test]
async fn an_origin_followed_by_a_ping_is_dropped() {
    let endpoint = FakeHub::welcoming_and_sending(
        0,
        vec![
            Frame::Origin(origin(12)),
            Frame::Ping(5),
            broadcast(1, "local"),
        ],
    );

    let mut connection = connect(&endpoint).await;
    let (broadcast, origin) = next_broadcast(&mut connection).await;
    assert_eq!(broadcast.seq, Seq(1));
    assert_eq!(origin, None);
}

#[tokio::test]
async fn a_buffered_origin_alone_is_no_event_ready() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([broadcast(1, "a"), Frame::Origin(origin(12))])
            .await;
        let _ = sent_tx.send(());
        let _ = go_rx.await;
        side.send(remote_broadcast(2, "b")).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    sent_rx.await.expect("hub wrote both");
    next_broadcast(&mut connection).await;
    // Only the ORIGIN is buffered; its BROADCAST is not here yet, so a printer should
    // flush now rather than wait.
    assert!(!connection.event_ready());
    let _ = go_tx.send(());
    let (_, origin) = next_broadcast(&mut connection).await;
    assert!(origin.is_some());
}

#[tokio::test]
async fn a_peer_that_never_welcomes_is_given_up() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let mut side = hub.accept().await;
        side.expect_hello().await;
        // Says nothing, and keeps the connection open.
        side.recv().await;
    });

    let started = Instant::now();
    let err = Connection::connect_within(&endpoint, listener(), Duration::from_millis(300))
        .await
        .expect_err("no WELCOME");
    let waited = started.elapsed();
    assert!(
        matches!(&err, ClientError::WelcomeTimeout { endpoint: e, waited } if *e == endpoint && *waited == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let message = err.to_string();
    assert!(message.contains(&endpoint), "{message}");
    assert!(message.contains("is it a pipehub hub?"), "{message}");
}

#[tokio::test]
async fn a_silent_hub_is_pinged_then_given_up() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        // Reads the keepalive PING, answers nothing, keeps the connection open.
        let probe = side.recv().await;
        let after_probe = side.recv().await;
        (probe, after_probe)
    });

    let mut connection = connect(&endpoint).await;
    connection.set_keepalive(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let err = connection.next_event().await.expect_err("hub silent");
    let waited = started.elapsed();
    assert!(
        matches!(&err, ClientError::HubSilent { endpoint: e, silent_for } if *e == endpoint && *silent_for >= Duration::from_millis(400)),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    drop(connection);
    let (probe, after_probe) = server.await.expect("hub task");
    assert!(matches!(probe, Some(Frame::Ping(_))), "{probe:?}");
    assert_eq!(after_probe, None, "one PING, then the client gave up");
}

#[tokio::test]
async fn a_quiet_hub_that_answers_the_keepalive_is_kept() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        for _ in 0..3 {
            match side.recv().await {
                Some(Frame::Ping(nonce)) => side.send(Frame::Pong(nonce)).await,
                other => panic!("expected a keepalive PING, got {other:?}"),
            }
        }
        side.send(broadcast(1, "still here")).await;
        side.recv().await;
    });

    let mut connection = connect(&endpoint).await;
    connection.set_keepalive(Some(Duration::from_millis(150)));
    // Three quiet intervals, each probed and answered; the PONGs are not surfaced.
    let event = connection.next_event().await.expect("no HubSilent");
    assert!(matches!(event, Some(Event::Broadcast { broadcast: b, .. }) if b.body == "still here"));
}

#[tokio::test]
async fn keepalive_can_be_turned_off() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        side.send(broadcast(1, "late")).await;
        side.recv().await
    });

    let mut connection = connect(&endpoint).await;
    assert_eq!(
        connection.keepalive(),
        Some(pipehub_client::DEFAULT_KEEPALIVE)
    );
    connection.set_keepalive(Some(Duration::ZERO));
    assert_eq!(connection.keepalive(), None);
    let event = connection.next_event().await.expect("event");
    assert!(matches!(event, Some(Event::Broadcast { .. })));
    drop(connection);
    assert_eq!(server.await.expect("hub task"), None, "no PING was sent");
}

#[tokio::test]
async fn a_hello_asks_for_resume_and_last() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move { hub.accept_welcomed(0).await.1 });

    let hello = Hello::new(Role::Listener)
        .with_name("tail")
        .with_resume(HubInstance(9), Seq(41))
        .with_last(5);
    Connection::connect(&endpoint, hello)
        .await
        .expect("connect");
    let received = server.await.expect("hub task");
    assert_eq!(received.name, "tail");
    assert_eq!(received.resume, Some((HubInstance(9), Seq(41))));
    assert_eq!(received.last, Some(5));
}

#[tokio::test]
async fn into_parts_hands_over_every_byte_after_welcome() {
    use tokio::io::AsyncReadExt;

    let frames = vec![broadcast(8, "first"), broadcast(9, "second")];
    let mut expected = BytesMut::new();
    for frame in &frames {
        frame.encode(&mut expected);
    }
    let endpoint = FakeHub::welcoming_and_sending(7, frames);
    let parts = connect(&endpoint).await.into_parts();
    assert_eq!(parts.welcome, welcome(7));

    // Whatever the connection had read already comes first, the rest is on the stream.
    let mut got = parts.read.to_vec();
    let mut stream = parts.stream;
    while got.len() < expected.len() {
        let mut chunk = [0; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the rest of the frames in time")
            .expect("read");
        assert_ne!(n, 0, "the hub closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, expected.to_vec());
}

#[tokio::test]
async fn messages_sent_from_slices_and_bytes_arrive_in_order() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let (bodies, nonce) = side.recv_until_ping().await;
        side.send(Frame::Pong(nonce)).await;
        side.recv().await;
        bodies
    });
    let mut connection = Connection::connect(&endpoint, Hello::new(Role::Publisher))
        .await
        .expect("connect");
    connection.send_slice(b"one").await.expect("send a slice");
    connection
        .send(Bytes::from_static(b"two"))
        .await
        .expect("send bytes");
    connection.send_slice(b"three").await.expect("send a slice");
    connection.confirm().await.expect("confirm");
    drop(connection);
    let bodies = server.await.expect("hub task");
    assert_eq!(bodies, [&b"one"[..], b"two", b"three"]);
}
