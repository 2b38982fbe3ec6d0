//! Endpoint safety: live hubs are never displaced (both platforms); on Unix, stale
//! sockets are recovered, the socket is private to its owner, and it is removed on
//! shutdown. The named pipe's own rules are in `pipe.rs`.

mod common;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use common::{RawClient, TestHub};
use pipehub::transport::{BindError, Listener};
use pipehub_protocol::Role;

#[cfg(unix)]
#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listener = Listener::bind(path.to_str().unwrap()).expect("stale socket recovered");
    assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
    drop(listener);
}

#[tokio::test]
async fn a_live_hub_is_never_displaced() {
    let hub = TestHub::start().await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    match Listener::bind(&hub.endpoint) {
        Err(err @ BindError::InUse { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&hub.endpoint), "{message}");
            assert!(message.contains("--endpoint"), "names the fix: {message}");
        }
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("a second hub took over a live endpoint"),
    }
    // The first hub still serves, on the same socket file.
    hub.hub.publish(b"still mine").unwrap();
    assert_eq!(&listener.recv_broadcast().await.1[..], b"still mine");
    RawClient::join(&hub.endpoint, Role::Listener).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "data").unwrap();
    assert!(matches!(
        Listener::bind(path.to_str().unwrap()),
        Err(BindError::NotASocket { .. })
    ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
}

#[cfg(unix)]
#[tokio::test]
async fn the_socket_is_owner_only_and_nothing_is_left_beside_it() {
    let hub = TestHub::start().await;
    let mode = std::fs::metadata(hub.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = hub.path().parent().unwrap().to_path_buf();
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from("hub.sock")]);
}

#[cfg(unix)]
#[tokio::test]
async fn a_missing_directory_is_named_in_the_error() {
    let err = Listener::bind("/nonexistent-pipehub-dir/hub.sock")
        .err()
        .expect("fails");
    assert!(matches!(err, BindError::NoDirectory { .. }));
    assert!(err.to_string().contains("/nonexistent-pipehub-dir"));
}

#[cfg(unix)]
#[tokio::test]
async fn shutdown_removes_the_socket_file() {
    let mut hub = TestHub::start().await;
    assert!(hub.path().exists());
    hub.shutdown().await;
    assert!(!hub.path().exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_directory_others_can_write_is_refused_unless_sticky() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let endpoint = shared.join("hub.sock");
    let err = Listener::bind(endpoint.to_str().unwrap())
        .err()
        .expect("refused");
    assert!(matches!(err, BindError::UnsafeDirectory { .. }), "{err}");
    assert!(err.to_string().contains("writable by other users"), "{err}");
    // Sticky, like /tmp: fine.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    drop(Listener::bind(endpoint.to_str().unwrap()).expect("sticky directory is fine"));
}

#[cfg(unix)]
#[tokio::test]
async fn the_socket_mode_can_be_widened() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = dir.path().join("hub.sock");
    let _listener = Listener::bind_with_mode(endpoint.to_str().unwrap(), 0o660).unwrap();
    let mode = std::fs::metadata(&endpoint).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
}
