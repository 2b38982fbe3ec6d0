//! Who gets in: peer credentials and the publisher policy (Unix: a named pipe's security
//! decides who connects, see `pipe.rs`), the client cap, keepalive.

mod common;

use std::time::Duration;

use common::{RawClient, TestHub, test_config, within};
use pipehub::{
    Config,
    access::{Access, Publishers},
};
use pipehub_protocol::{Frame, Hello, RefuseCode, Role};

async fn refusal(endpoint: &str, role: Role) -> (RefuseCode, String) {
    let mut client = RawClient::connect(endpoint).await;
    client.send(&Frame::Hello(Hello::new(role))).await;
    match client.recv_until_closed().await.as_slice() {
        [Frame::Refused { code, text }] => (*code, text.clone()),
        other => panic!("expected REFUSED, got {other:?}"),
    }
}

/// Peer credentials: what Unix sockets tell the hub about who connected.
#[cfg(unix)]
mod credentials {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A policy that admits nobody this test process runs as (root included).
    fn stranger_policy() -> Access {
        Access {
            admit_root: false,
            ..Access::owner_only(pipehub_protocol::os::current_uid().wrapping_add(12345))
        }
    }

    #[tokio::test]
    async fn a_user_not_allowed_is_refused_with_the_reason() {
        let config = Config {
            access: stranger_policy(),
            ..test_config()
        };
        let hub = TestHub::with_config(config).await;
        let (code, text) = refusal(&hub.endpoint, Role::Listener).await;
        assert_eq!(code, RefuseCode::NOT_PERMITTED);
        assert!(text.contains("--allow-uid"), "{text}");
        assert_eq!(hub.hub.stats().refused, 1);
        assert_eq!(hub.hub.client_count(), 0);
    }

    #[tokio::test]
    async fn an_allowed_uid_gets_in() {
        let mut access = stranger_policy();
        access.allow_uids.push(pipehub_protocol::os::current_uid());
        let hub = TestHub::with_config(Config {
            access,
            ..test_config()
        })
        .await;
        RawClient::join(&hub.endpoint, Role::Listener).await;
    }

    #[tokio::test]
    async fn a_text_client_not_allowed_is_told_in_plain_words() {
        let config = Config {
            access: stranger_policy(),
            ..test_config()
        };
        let hub = TestHub::with_config(config).await;
        let mut stream = tokio::net::UnixStream::connect(&hub.endpoint)
            .await
            .unwrap();
        let mut text = String::new();
        within(stream.read_to_string(&mut text)).await.unwrap();
        assert!(text.starts_with("pipehub: refused: uid "), "{text}");
    }
}

#[tokio::test]
async fn no_publishers_means_none_and_listening_is_still_fine() {
    let mut access = Access::for_current_user();
    access.publishers = Publishers::Nobody;
    let hub = TestHub::with_config(Config {
        access,
        ..test_config()
    })
    .await;
    let (code, text) = refusal(&hub.endpoint, Role::Publisher).await;
    assert_eq!(code, RefuseCode::NOT_PERMITTED);
    assert!(text.contains("listener"), "{text}");
    // Listening is still fine.
    RawClient::join(&hub.endpoint, Role::Listener).await;
}

#[tokio::test]
async fn the_client_past_the_cap_is_told_the_hub_is_full_and_others_are_served() {
    let hub = TestHub::with_config(Config {
        max_clients: 2,
        ..test_config()
    })
    .await;
    let (mut a, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (_b, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (code, text) = refusal(&hub.endpoint, Role::Listener).await;
    assert_eq!(code, RefuseCode::HUB_FULL);
    assert!(text.contains("--max-clients"), "{text}");
    hub.hub.publish(b"for the two").unwrap();
    assert_eq!(a.recv_broadcast().await.0, 1);
    // A place frees up when a client leaves.
    drop(a);
    hub.wait_for_clients(1).await;
    RawClient::join(&hub.endpoint, Role::Listener).await;
}

#[tokio::test]
async fn keepalive_pings_a_silent_client_and_drops_it_if_it_never_answers() {
    let hub = TestHub::with_config(Config {
        keepalive: Some(Duration::from_millis(200)),
        ..test_config()
    })
    .await;
    let (mut answers, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut silent, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    // One client answers every PING, through several intervals.
    let answering = tokio::spawn(async move {
        for _ in 0..4 {
            match answers.recv().await {
                Some(Frame::Ping(nonce)) => answers.send(&Frame::Pong(nonce)).await,
                other => panic!("expected PING, got {other:?}"),
            }
        }
        answers
    });
    // The silent one sees a PING, then the hub closes it.
    let frames = silent.recv_until_closed().await;
    assert!(matches!(frames.as_slice(), [Frame::Ping(_)]), "{frames:?}");
    let mut answers = within(answering).await.expect("answering client");
    assert_eq!(hub.hub.client_count(), 1);
    hub.hub.publish(b"alive").unwrap();
    loop {
        match answers.recv().await {
            Some(Frame::Ping(nonce)) => answers.send(&Frame::Pong(nonce)).await,
            Some(Frame::Broadcast(b)) => break assert_eq!(&b.body[..], b"alive"),
            other => panic!("{other:?}"),
        }
    }
}
