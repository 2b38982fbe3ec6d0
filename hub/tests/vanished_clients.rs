//! A client that closes its connection is forgotten at once, whatever it was doing: its
//! registry entry, its place under the client cap and its socket are released without
//! waiting for a broadcast to find out, by a failed write, that nobody is there.
// These tests speak over Unix domain sockets.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{TestHub, within};
use pipehub_protocol::{Frame, FrameCodec, Hello, Role};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixStream,
};
use tokio_util::codec::Decoder;

/// How long the hub may take to notice that a closed connection is gone.
const NOTICE: Duration = Duration::from_secs(2);

/// Rounds of clients that come and go: enough for the hub to read a client's end of
/// stream before its event loop has seen the hang-up, which it does in most runs.
const ROUNDS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_close_are_forgotten_without_a_broadcast() {
    let mut hub = TestHub::start().await;
    let mut events = std::mem::replace(&mut hub.events, tokio::sync::mpsc::channel(1).1);
    tokio::spawn(async move { while events.recv().await.is_some() {} });

    for round in 0..ROUNDS {
        // A text client says a line and goes, while a listener receives a broadcast and
        // goes.
        let mut text = UnixStream::connect(&hub.endpoint).await.expect("connect");
        text.write_all(b"a line, then gone\r\n")
            .await
            .expect("write");
        drop(text);
        let mut listener = UnixStream::connect(&hub.endpoint).await.expect("connect");
        let hello = Frame::Hello(Hello::new(Role::Listener)).to_bytes();
        listener.write_all(&hello).await.expect("send HELLO");
        let mut frames = Frames::default();
        assert!(matches!(
            frames.next(&mut listener).await,
            Frame::Welcome(_)
        ));
        let seq = hub.hub.publish(b"last words").expect("publish");
        loop {
            match frames.next(&mut listener).await {
                Frame::Broadcast(b) if b.seq == seq => break,
                Frame::Broadcast(_) => continue,
                other => panic!("expected a broadcast, got {other:?}"),
            }
        }
        drop(listener);

        // No broadcast from here on: the hub must notice the closed connections by
        // itself.
        let since = Instant::now();
        while hub.hub.client_count() > 0 && since.elapsed() < NOTICE {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let left: Vec<String> = hub
            .hub
            .clients()
            .iter()
            .map(|c| format!("client {} ({})", c.id, c.kind.name()))
            .collect();
        assert!(
            left.is_empty(),
            "round {round}: {left:?} still registered {NOTICE:?} after closing its connection"
        );
    }
}

/// Reads whole frames from a connection.
#[derive(Default)]
struct Frames {
    buf: BytesMut,
    codec: FrameCodec,
}

impl Frames {
    async fn next(&mut self, stream: &mut UnixStream) -> Frame {
        within(async {
            loop {
                if let Some(frame) = self.codec.decode(&mut self.buf).expect("a valid frame") {
                    return frame;
                }
                let n = stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "the hub closed the connection");
            }
        })
        .await
    }
}

#[tokio::test]
async fn a_half_closed_text_client_is_forgotten_when_it_goes_without_a_broadcast() {
    let mut hub = TestHub::start().await;
    let mut events = std::mem::replace(&mut hub.events, tokio::sync::mpsc::channel(1).1);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    // Like `socat -u` or a .NET PipeDirection.In client: it shuts down its sending side
    // at once, reads for a while, then exits.
    let mut text = UnixStream::connect(&hub.endpoint).await.expect("connect");
    text.shutdown().await.expect("half-close");
    hub.wait_for_clients(1).await;
    hub.hub.publish(b"one line").expect("publish");
    let mut line = [0u8; 9];
    text.read_exact(&mut line).await.expect("read the line");
    assert_eq!(&line, b"one line\n");
    drop(text);
    let gone = Instant::now();
    within(async {
        while hub.hub.client_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        gone.elapsed() < NOTICE,
        "forgotten after {:?}, with no broadcast to find out",
        gone.elapsed()
    );
}
