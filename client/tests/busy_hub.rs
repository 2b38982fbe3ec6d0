//! A hub whose queue of connections waiting to be accepted is full for a moment (a burst
//! of clients arriving faster than it accepts them): a Unix socket then answers a
//! connect with `EAGAIN` at once. That is as transient as a busy named pipe on Windows,
//! which the client waits out (`transport::BUSY_WAIT`), so the client waits this
//! out too, instead of failing with "Resource temporarily unavailable".
#![cfg(unix)]

use std::{os::fd::FromRawFd, time::Duration};

use bytes::BytesMut;
use pipehub_client::{
    Connection,
    protocol::{ClientId, Frame, FrameCodec, Hello, HubInstance, Role, Seq, VERSION, Welcome},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// A listening Unix socket at `path` with a backlog of 0: the kernel queues one
/// connection, and refuses the next with `EAGAIN` until it is accepted.
fn listen_with_no_backlog(path: &std::path::Path) -> std::os::unix::net::UnixListener {
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
    use std::os::fd::{AsRawFd, IntoRawFd};
    // SAFETY: listen on the socket just bound; it only changes the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    // SAFETY: the descriptor is the listener's, handed over whole.
    unsafe { std::os::unix::net::UnixListener::from_raw_fd(listener.into_raw_fd()) }
}

#[tokio::test]
async fn a_client_waits_while_the_hubs_connection_queue_is_full() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("hub.sock");
    let listener = listen_with_no_backlog(&path);
    // The queue's one place is taken.
    let _queued = std::os::unix::net::UnixStream::connect(&path).expect("the first connection");

    // The hub catches up a moment later.
    let hub = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
        let _first = listener.accept().await.expect("accept the queued one");
        let (mut client, _) = listener.accept().await.expect("accept the client");
        let mut buf = BytesMut::new();
        let mut codec = FrameCodec::default();
        loop {
            if let Some(frame) = codec.decode(&mut buf).expect("a valid frame") {
                assert!(matches!(frame, Frame::Hello(_)), "{frame:?}");
                break;
            }
            assert!(client.read_buf(&mut buf).await.expect("read") > 0);
        }
        let welcome = Frame::Welcome(Welcome {
            version: VERSION,
            client_id: ClientId(1),
            hub_instance: HubInstance(7),
            current_seq: Seq(0),
            max_frame: 4096,
            queue_frames: 64,
        });
        client
            .write_all(&welcome.to_bytes())
            .await
            .expect("send WELCOME");
        client
    });

    let endpoint = path.to_string_lossy().into_owned();
    let connected = tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(&endpoint, Hello::new(Role::Listener)),
    )
    .await
    .expect("the client gave up or hung");
    match connected {
        Ok(connection) => assert_eq!(connection.welcome().client_id, ClientId(1)),
        Err(err) => panic!("the client failed while the hub was only busy: {err}"),
    }
    let _ = hub.await;
}
