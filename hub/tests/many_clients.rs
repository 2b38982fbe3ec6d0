//! Thousands of concurrent connections to one hub (Unix sockets, or instances of one
//! named pipe).

mod common;

use common::{RawClient, TestHub, within};
use pipehub_protocol::Role;

/// Raises this process's soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
#[cfg(unix)]
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        assert!(
            limit.rlim_cur >= want,
            "need {want} file descriptors, the hard limit is {}",
            limit.rlim_max
        );
    }
}

/// Windows has no per-process descriptor limit to raise.
#[cfg(windows)]
fn raise_fd_limit(_want: u64) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_clients_each_receive_every_message() {
    const CLIENTS: usize = 2_000;
    const MESSAGES: u64 = 20;
    // Each connection costs two descriptors in this process (client and hub side).
    raise_fd_limit(2 * CLIENTS as u64 + 256);
    let hub = TestHub::start().await;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(RawClient::join(&hub.endpoint, Role::Listener).await.0);
    }
    hub.wait_for_clients(CLIENTS).await;
    for i in 0..MESSAGES {
        hub.hub
            .publish(format!("broadcast {i}").as_bytes())
            .unwrap();
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                for expected in 1..=MESSAGES {
                    let (seq, body) = client.recv_broadcast().await;
                    assert_eq!(seq, expected);
                    assert_eq!(body, format!("broadcast {}", expected - 1));
                }
            })
        })
        .collect();
    for reader in readers {
        within(reader).await.expect("client received every message");
    }
}
