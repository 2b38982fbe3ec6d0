//! History and resume: a reconnecting client continues where it left off, with no
//! duplicate and no gap, or is told exactly what is gone.
mod common;

use common::{RawClient, TestHub, test_config};
use pipehub::Config;
use pipehub_protocol::{Frame, Hello, HubInstance, Role, Seq};

async fn join_with(endpoint: &str, hello: Hello) -> (RawClient, Vec<Frame>) {
    let mut client = RawClient::connect(endpoint).await;
    client.send(&Frame::Hello(hello)).await;
    let welcome = client.recv().await.expect("an answer");
    assert!(matches!(welcome, Frame::Welcome(_)), "{welcome:?}");
    (client, vec![welcome])
}

fn resume(instance: HubInstance, after: u64) -> Hello {
    Hello {
        resume: Some((instance, Seq(after))),
        ..Hello::new(Role::Listener)
    }
}

#[tokio::test]
async fn resume_continues_after_the_last_seen_message_without_gap_or_duplicate() {
    let hub = TestHub::start().await;
    for i in 1..=10 {
        hub.hub.publish(format!("m{i}").as_bytes()).unwrap();
    }
    let (mut client, _) = join_with(&hub.endpoint, resume(hub.hub.instance(), 6)).await;
    for expected in 7..=10 {
        assert_eq!(client.recv_broadcast().await.0, expected);
    }
    hub.hub.publish(b"live").unwrap();
    assert_eq!(
        client.recv_broadcast().await,
        (11, bytes::Bytes::from_static(b"live"))
    );
}

#[tokio::test]
async fn resume_older_than_the_history_is_told_the_exact_loss_then_the_oldest_retained() {
    let config = Config {
        history_frames: 5,
        queue_frames: 5,
        ..test_config()
    };
    let hub = TestHub::with_config(config).await;
    for i in 1..=20 {
        hub.hub.publish(format!("m{i}").as_bytes()).unwrap();
    }
    let (mut client, _) = join_with(&hub.endpoint, resume(hub.hub.instance(), 3)).await;
    // Retained: 16..=20. Missed: 4..=15.
    assert_eq!(
        client.recv().await,
        Some(Frame::Lagged {
            missed: 12,
            next_seq: Seq(16)
        })
    );
    for expected in 16..=20 {
        assert_eq!(client.recv_broadcast().await.0, expected);
    }
}

#[tokio::test]
async fn resume_against_another_hub_instance_starts_live() {
    let hub = TestHub::start().await;
    for _ in 0..5 {
        hub.hub.publish(b"old").unwrap();
    }
    let other = HubInstance(hub.hub.instance().0 ^ 1);
    let (mut client, frames) = join_with(&hub.endpoint, resume(other, 2)).await;
    match &frames[0] {
        Frame::Welcome(w) => {
            assert_eq!(
                w.hub_instance,
                hub.hub.instance(),
                "the client learns the instance changed"
            );
            assert_eq!(w.current_seq, Seq(5));
        }
        other => panic!("{other:?}"),
    }
    hub.hub.publish(b"new").unwrap();
    assert_eq!(
        client.recv_broadcast().await.0,
        6,
        "no replay from another instance"
    );
}

#[tokio::test]
async fn last_k_replays_the_newest_k_then_live() {
    let hub = TestHub::start().await;
    for i in 1..=10 {
        hub.hub.publish(format!("m{i}").as_bytes()).unwrap();
    }
    let hello = Hello {
        last: Some(3),
        ..Hello::new(Role::Listener)
    };
    let (mut client, _) = join_with(&hub.endpoint, hello).await;
    for expected in 8..=11 {
        if expected == 11 {
            hub.hub.publish(b"live").unwrap();
        }
        assert_eq!(client.recv_broadcast().await.0, expected);
    }
}

#[tokio::test]
async fn last_k_beyond_the_history_gives_what_is_retained_without_lagged() {
    let config = Config {
        history_frames: 4,
        ..test_config()
    };
    let hub = TestHub::with_config(config).await;
    for _ in 1..=10 {
        hub.hub.publish(b"m").unwrap();
    }
    let hello = Hello {
        last: Some(100),
        ..Hello::new(Role::Listener)
    };
    let (mut client, _) = join_with(&hub.endpoint, hello).await;
    for expected in 7..=10 {
        assert_eq!(client.recv_broadcast().await.0, expected);
    }
}

#[tokio::test]
async fn history_zero_disables_replay() {
    let config = Config {
        history_frames: 0,
        ..test_config()
    };
    let hub = TestHub::with_config(config).await;
    for _ in 1..=5 {
        hub.hub.publish(b"m").unwrap();
    }
    let (mut client, _) = join_with(&hub.endpoint, resume(hub.hub.instance(), 2)).await;
    assert_eq!(
        client.recv().await,
        Some(Frame::Lagged {
            missed: 3,
            next_seq: Seq(6)
        })
    );
    hub.hub.publish(b"live").unwrap();
    assert_eq!(client.recv_broadcast().await.0, 6);
}
