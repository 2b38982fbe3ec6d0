//! Clients that try to make the hub wait or hoard: a `HELLO` that never completes is cut
//! off after the handshake timeout, and a client that sends faster than the hub takes
//! (`PING`s whose `PONG`s it never reads, messages to an operator who is not reading) is
//! slowed down by backpressure instead of being buffered, while everyone else is served.
// These tests speak over Unix domain sockets.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, TestHub, test_config, within};
use pipehub::{Config, ConsoleEvent};
use pipehub_protocol::{ErrorCode, Frame, Hello, Role};
use tokio::{io::AsyncWriteExt, net::UnixStream};

/// The most bytes a client that is not being read may get into the hub and its socket
/// buffers: a few socket buffers' worth. Without backpressure it would be unbounded.
const BOUNDED: usize = 8 * 1024 * 1024;

#[tokio::test]
async fn a_hello_that_stalls_is_closed_after_the_handshake_timeout() {
    let timeout = Duration::from_millis(300);
    let hub = TestHub::with_config(Config {
        handshake_timeout: timeout,
        ..test_config()
    })
    .await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let hello = Frame::Hello(Hello::new(Role::Listener)).to_bytes();
    let mut stalled = RawClient::connect(&hub.endpoint).await;
    let started = Instant::now();
    stalled.send_raw(&hello[..10]).await;

    hub.hub.publish(b"meanwhile").unwrap();
    assert_eq!(healthy.recv_broadcast().await.0, 1, "others are served");
    let answer = stalled.recv_until_closed().await;
    let waited = started.elapsed();
    assert!(
        matches!(answer.as_slice(), [Frame::Error { code, .. }] if *code == ErrorCode::MALFORMED_FRAME),
        "expected ERROR (malformed), got {answer:?}"
    );
    assert!(
        waited >= timeout && waited < timeout + Duration::from_secs(5),
        "closed after {waited:?}, the timeout is {timeout:?}"
    );
}

#[tokio::test]
async fn a_frame_begun_and_not_finished_is_cut_off_after_the_frame_timeout() {
    let timeout = Duration::from_millis(300);
    let hub = TestHub::with_config(Config {
        frame_timeout: timeout,
        ..test_config()
    })
    .await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut trickler, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    // A SEND announcing 1,000 bytes, then one byte every 50 ms: never silent, so
    // keepalive alone would not end it, and never finished.
    let started = Instant::now();
    trickler.send_raw(&[0, 0, 0x03, 0xe9, 0x02]).await;
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if trickler.stream.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        trickler
    });
    hub.hub.publish(b"meanwhile").unwrap();
    assert_eq!(healthy.recv_broadcast().await.0, 1, "others are served");
    let mut trickler = trickle.await.expect("trickle task");
    let answer = trickler.recv_until_closed().await;
    let waited = started.elapsed();
    assert!(
        matches!(answer.as_slice(), [Frame::Error { code, .. }] if *code == ErrorCode::MALFORMED_FRAME),
        "expected ERROR (malformed), got {answer:?}"
    );
    assert!(
        waited >= timeout && waited < Duration::from_secs(5) + timeout,
        "closed after {waited:?}, the timeout is {timeout:?}"
    );
}

#[tokio::test]
async fn a_large_frame_waits_for_room_in_the_budget_while_small_ones_pass() {
    // A budget of one largest frame (the least there is): 64 KiB and its length field.
    let max_frame = 64 * 1024;
    let hub = TestHub::with_config(Config {
        max_frame,
        partial_frames_bytes: 0,
        ..test_config()
    })
    .await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut hoarder, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    let (mut large, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    let (mut small, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;

    // The hoarder's 60 KiB message, two thirds of it sent: it holds most of the budget.
    let hoarded = Frame::Send(vec![b'h'; 60 * 1024].into()).to_bytes();
    let split = 40 * 1024;
    hoarder.send_raw(&hoarded[..split]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A whole 50 KiB message does not fit beside it, and waits in its socket.
    large.send(&Frame::Send(vec![b'l'; 50 * 1024].into())).await;
    // A small one needs no room in the budget.
    small.send(&Frame::Send(b"small".to_vec().into())).await;
    assert_eq!(listener.recv_broadcast().await.1.as_ref(), b"small");
    let early = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(
        early.is_err(),
        "the large message was taken while the budget had no room for it: {early:?}"
    );

    // The hoarder finishes: its message is taken, and the waiting one after it.
    hoarder.send_raw(&hoarded[split..]).await;
    let (_, first) = listener.recv_broadcast().await;
    assert!(first.len() == 60 * 1024 && first[0] == b'h');
    let (_, second) = listener.recv_broadcast().await;
    assert!(second.len() == 50 * 1024 && second[0] == b'l');
}

#[tokio::test]
async fn a_client_that_never_reads_its_pongs_is_slowed_down_not_buffered() {
    let hub = TestHub::start().await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut flooder, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;

    // PINGs as fast as the socket takes them, never reading a PONG.
    let mut nonce = 0u64;
    let (written, pings) = write_until_blocked(&mut flooder.stream, || {
        nonce += 1;
        Frame::Ping(nonce).to_bytes().to_vec()
    })
    .await;
    assert!(
        written < BOUNDED,
        "{written} bytes of PINGs taken from a client that reads nothing"
    );

    // Meanwhile the hub serves everyone else.
    hub.hub.publish(b"still here").unwrap();
    assert_eq!(healthy.recv_broadcast().await.0, 1);

    // Once the flooder reads, every PING it sent whole is answered, in order.
    for expected in 1..=pings {
        match flooder.recv().await {
            Some(Frame::Pong(got)) => assert_eq!(got, expected, "PONGs in PING order"),
            other => panic!("expected PONG {expected}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_floods_an_operator_who_does_not_read_is_slowed_down_not_buffered() {
    // The operator's console is never read here: its queue fills, and then the hub
    // stops reading the listener that talks to it.
    let hub = TestHub::start().await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut talker, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let message = Frame::Send(vec![b't'; 1000].into()).to_bytes().to_vec();
    let (written, _) = write_until_blocked(&mut talker.stream, || message.clone()).await;
    assert!(
        written < BOUNDED,
        "{written} bytes of messages taken while the operator read nothing"
    );
    hub.hub.publish(b"still here").unwrap();
    assert_eq!(healthy.recv_broadcast().await.0, 1);
}

#[tokio::test]
async fn a_client_that_talks_faster_than_the_operator_rate_is_read_at_that_rate_and_loses_nothing()
{
    const RATE: u32 = 100;
    const MESSAGES: u32 = 300;
    let mut hub = TestHub::with_config(Config {
        operator_rate: RATE,
        ..test_config()
    })
    .await;
    let (mut healthy, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut talker, welcome) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let started = Instant::now();
    let mut all = Vec::new();
    for i in 0..MESSAGES {
        all.extend_from_slice(&Frame::Send(i.to_be_bytes().to_vec().into()).to_bytes());
    }
    talker.send_raw(&all).await;

    // While the talker waits for its pace, the others are served.
    hub.hub.publish(b"meanwhile").unwrap();
    assert_eq!(healthy.recv_broadcast().await.0, 1);
    let (mut received, mut slowed) = (0u32, 0);
    while received < MESSAGES {
        match within(hub.events.recv()).await.expect("console open") {
            ConsoleEvent::Message { from, body, .. } if from == welcome.client_id => {
                assert_eq!(body.as_ref(), received.to_be_bytes(), "in order, none lost");
                received += 1;
            }
            ConsoleEvent::Slowed { id, per_second, .. } => {
                assert_eq!((id, per_second), (welcome.client_id, RATE));
                slowed += 1;
            }
            _ => {}
        }
    }
    let took = started.elapsed();
    // A burst of 100 at once, then 200 at 100 a second.
    let paced = Duration::from_secs_f64(f64::from(MESSAGES - 100) / f64::from(RATE));
    assert!(
        took >= paced - Duration::from_millis(100),
        "{MESSAGES} messages passed in {took:?}: faster than the rate allows ({paced:?})"
    );
    assert_eq!(
        slowed, 1,
        "the operator is told once that the client is slowed"
    );
}

/// Writes `next()` to `stream` until it has not taken a byte for half a second. Returns
/// how many bytes it took, and how many of the messages whole.
async fn write_until_blocked(
    stream: &mut UnixStream,
    mut next: impl FnMut() -> Vec<u8>,
) -> (usize, u64) {
    let (mut written, mut whole) = (0, 0);
    let mut pending = next();
    let mut offset = 0;
    loop {
        let write = stream.write(&pending[offset..]);
        match tokio::time::timeout(Duration::from_millis(500), write).await {
            Err(_) => return (written, whole), // blocked: the hub stopped reading
            Ok(Ok(n)) => {
                written += n;
                offset += n;
                if offset == pending.len() {
                    whole += 1;
                    pending = next();
                    offset = 0;
                }
                assert!(written < 4 * BOUNDED, "the hub never stopped reading");
            }
            Ok(Err(err)) => panic!("the hub closed the connection: {err}"),
        }
    }
}
