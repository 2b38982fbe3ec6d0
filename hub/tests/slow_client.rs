//! With `--when-behind skip`, a client that stops reading never delays anyone else, and
//! is later told exactly what it missed. (How pacing treats it, the default, is in
//! `pacing.rs`.)

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use common::{RawClient, TestHub, test_config, within};
use pipehub::{Config, config::WhenBehind};
use pipehub_protocol::{Frame, Role};

#[tokio::test]
async fn stalled_listener_does_not_delay_others_and_learns_its_exact_loss() {
    const MESSAGES: u64 = 10_000;
    let config = Config {
        queue_frames: 1024,
        when_behind: WhenBehind::Skip,
        ..test_config()
    };
    let hub = TestHub::with_config(config).await;
    // Never reads until every broadcast has reached the others.
    let (mut stalled, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(RawClient::join(&hub.endpoint, Role::Listener).await.0);
    }
    let body = Bytes::from(vec![b'x'; 200]);
    // How far each keeping-up reader has read, so the publisher can let them keep up.
    let progress: Vec<_> = others.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
    let readers: Vec<_> = others
        .into_iter()
        .zip(progress.iter().cloned())
        .map(|(mut client, progress)| {
            tokio::spawn(async move {
                for expected in 1..=MESSAGES {
                    let (seq, _) = client.recv_broadcast().await;
                    assert_eq!(
                        seq, expected,
                        "a listener that keeps up sees every sequence number"
                    );
                    progress.store(seq, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for i in 1..=MESSAGES {
        hub.hub.publish(&body).unwrap();
        if i % 256 == 0 {
            // Like a real publisher, give the readers time to keep up: they may be up to
            // half the queue behind, never close to lagging. (How much a reader takes per
            // turn differs between sockets and pipes.)
            within(async {
                while progress.iter().any(|p| p.load(Ordering::Relaxed) + 512 < i) {
                    tokio::task::yield_now().await;
                }
            })
            .await;
        }
    }
    for reader in readers {
        within(reader)
            .await
            .expect("keeping-up listener got everything");
    }
    // Memory stays bounded: the hub retains at most its queue, whatever the stalled
    // client does.
    assert!(hub.hub.retained() <= 1024);

    // Now the stalled client reads: a prefix of broadcasts (what fitted in its socket
    // buffer and its in-flight batch), one LAGGED with the exact count, then the rest.
    let mut received = Vec::new();
    let mut lagged = None;
    while received.last() != Some(&MESSAGES) {
        match stalled.recv().await {
            Some(Frame::Broadcast(b)) => received.push(b.seq.0),
            Some(Frame::Lagged { missed, next_seq }) => {
                assert!(lagged.is_none(), "one LAGGED for one stall");
                let last = received.last().copied().unwrap_or(0);
                assert_eq!(
                    next_seq.0,
                    last + missed + 1,
                    "LAGGED counts exactly the gap"
                );
                lagged = Some((missed, received.len()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (missed, at) = lagged.expect("the stalled listener was told it lagged");
    assert!(missed > 0);
    assert_eq!(
        received.len() as u64 + missed,
        MESSAGES,
        "received + missed = broadcast"
    );
    // Consecutive before and after the LAGGED.
    for window in received[..at].windows(2).chain(received[at..].windows(2)) {
        assert_eq!(window[1], window[0] + 1);
    }
    // It continues with the newest messages.
    hub.hub.publish(b"live again").unwrap();
    assert_eq!(stalled.recv_broadcast().await.0, MESSAGES + 1);
}

#[tokio::test]
async fn a_stalled_listener_still_receives_bye_on_shutdown_within_the_timeout() {
    let config = Config {
        queue_frames: 64,
        shutdown_timeout: Duration::from_millis(500),
        ..test_config()
    };
    let mut hub = TestHub::with_config(config).await;
    let (_stalled, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let body = vec![0u8; 64 * 1024];
    for _ in 0..64 {
        hub.hub.publish(&body).unwrap();
    }
    let started = std::time::Instant::now();
    hub.shutdown().await;
    // The stalled client cannot hold the hub past its shutdown timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}
