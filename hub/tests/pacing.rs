//! Pacing: publishers are taken only as fast as the slowest listener that reads, so a
//! burst loses nothing for listeners that keep reading; a listener that stops holds them
//! back for the stall timeout at most, and is later told exactly what it missed.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{RawClient, TestHub, test_config, within};
use pipehub::{Config, config::WhenBehind};
use pipehub_protocol::{Frame, Role};
use tokio::task::JoinHandle;

/// Broadcasts in each burst: far more than the window below plus what socket buffers
/// hold, so a burst cannot get through without the listeners reading.
const BURST: u64 = 2_000;
const BODY: usize = 1024;

/// A small window, so that a burst is many windows long.
fn paced(stall_timeout: Duration) -> Config {
    Config {
        queue_frames: 64,
        history_frames: 0,
        stall_timeout,
        ..test_config()
    }
}

fn body(i: u64) -> Bytes {
    let mut body = format!("{i:08}").into_bytes();
    body.resize(BODY, b'.');
    Bytes::from(body)
}

/// A publisher that sends `BURST` messages, then a `PING`, and returns when the hub's
/// `PONG` says it took every one of them.
async fn burst(endpoint: &str) -> JoinHandle<Instant> {
    let (mut publisher, _) = RawClient::join(endpoint, Role::Publisher).await;
    tokio::spawn(async move {
        for i in 1..=BURST {
            publisher.send(&Frame::Send(body(i))).await;
        }
        publisher.send(&Frame::Ping(7)).await;
        loop {
            match publisher.recv().await {
                Some(Frame::Pong(7)) => return Instant::now(),
                Some(Frame::Ping(nonce)) => publisher.send(&Frame::Pong(nonce)).await,
                other => panic!("publisher: expected PONG, got {other:?}"),
            }
        }
    })
}

/// Reads broadcasts until `last`; returns their sequence numbers and the `LAGGED`s.
async fn read_until(listener: &mut RawClient, last: u64) -> (Vec<u64>, Vec<(u64, u64)>) {
    let mut seqs = Vec::new();
    let mut lagged = Vec::new();
    while seqs.last() != Some(&last) {
        match listener.recv().await {
            Some(Frame::Broadcast(b)) => {
                assert_eq!(b.body, body(b.seq.0), "broadcast #{} intact", b.seq);
                seqs.push(b.seq.0);
            }
            Some(Frame::Lagged { missed, next_seq }) => lagged.push((missed, next_seq.0)),
            other => panic!("listener: unexpected {other:?}"),
        }
    }
    (seqs, lagged)
}

fn every_one(seqs: &[u64]) {
    assert_eq!(
        seqs,
        (1..=BURST).collect::<Vec<_>>(),
        "every broadcast, in order"
    );
}

#[tokio::test]
async fn a_publisher_waits_for_a_listener_a_window_behind_and_it_loses_nothing() {
    let hub = TestHub::with_config(paced(Duration::from_secs(30))).await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let publisher = burst(&hub.endpoint).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!publisher.is_finished(), "the hub took the whole burst");
    let stats = hub.hub.stats();
    assert_eq!(stats.paused_publishers, 1, "{stats:?}");
    assert!(hub.hub.current_seq().0 < BURST, "{stats:?}");

    let (seqs, lagged) = read_until(&mut listener, BURST).await;
    assert!(
        lagged.is_empty(),
        "a listener that reads is never skipped: {lagged:?}"
    );
    every_one(&seqs);
    within(publisher).await.expect("publisher");
    let stats = hub.hub.stats();
    assert_eq!((stats.missed, stats.stalled_listeners), (0, 0), "{stats:?}");
    assert!(
        stats.paused_seconds > 0.2,
        "paused for most of the 0.5 s: {stats:?}"
    );
}

/// On two runtime threads, listeners run beside their publisher rather than after it,
/// and a publisher's broadcasts wake them once per batch of its input, at the batch's
/// end, and once more when its session ends: here right after its last message. Each
/// listener must still get every broadcast, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_threads_every_listener_gets_a_burst_whose_publisher_leaves_at_once() {
    const LISTENERS: usize = 8;
    let hub = TestHub::with_config(paced(Duration::from_secs(30))).await;
    let mut readers = Vec::new();
    for _ in 0..LISTENERS {
        let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
        readers.push(tokio::spawn(async move {
            read_until(&mut listener, BURST).await
        }));
    }
    hub.wait_for_clients(LISTENERS).await;
    let (mut publisher, _) = RawClient::join(&hub.endpoint, Role::Publisher).await;
    for i in 1..=BURST {
        publisher.send(&Frame::Send(body(i))).await;
    }
    drop(publisher);
    for reader in readers {
        let (seqs, lagged) = within(reader).await.expect("listener");
        assert!(lagged.is_empty(), "nothing skipped: {lagged:?}");
        every_one(&seqs);
    }
}

#[tokio::test]
async fn a_stopped_listener_holds_publishers_back_for_the_stall_timeout_only() {
    let stall = Duration::from_millis(300);
    let hub = TestHub::with_config(paced(stall)).await;
    let (mut stopped, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut reading, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let reader = tokio::spawn(async move { read_until(&mut reading, BURST).await });
    let started = Instant::now();
    let taken = within(within(burst(&hub.endpoint)).await)
        .await
        .expect("publisher");
    assert!(
        taken - started >= stall,
        "the publisher waited for the stopped listener for the stall timeout first"
    );
    let (seqs, lagged) = within(reader).await.expect("reader");
    assert!(lagged.is_empty(), "{lagged:?}");
    every_one(&seqs);

    // The status tells the stopped listener's loss before the listener learns it.
    let info = hub
        .hub
        .clients()
        .into_iter()
        .find(|c| c.stalled)
        .expect("the stopped listener is listed as stalled");
    assert!(info.missed > 0 && info.queued > info.missed, "{info:?}");
    assert_eq!(hub.hub.stats().stalled_listeners, 1);

    let (seqs, lagged) = read_until(&mut stopped, BURST).await;
    assert_eq!(lagged.len(), 1, "one LAGGED for one stall: {lagged:?}");
    let (missed, next) = lagged[0];
    assert_eq!(
        missed, info.missed,
        "the status counted exactly what it was told"
    );
    assert_eq!(
        seqs.len() as u64 + missed,
        BURST,
        "received + missed = sent"
    );
    let before = seqs.iter().filter(|&&s| s < next).count() as u64;
    assert_eq!(next, before + missed + 1, "LAGGED names exactly the gap");
    assert!(
        !hub.hub.clients().iter().any(|c| c.stalled),
        "a listener that reads again is no longer stalled"
    );
}

#[tokio::test]
async fn a_listener_stopped_for_less_than_the_stall_timeout_loses_nothing() {
    let hub = TestHub::with_config(paced(Duration::from_secs(5))).await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let publisher = burst(&hub.endpoint).await;
    let (first, _) = read_until(&mut listener, 100).await;
    // Stops reading for a while in the middle of the burst.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(!publisher.is_finished());
    let (rest, lagged) = read_until(&mut listener, BURST).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    every_one(&[first, rest].concat());
    within(publisher).await.expect("publisher");
}

#[tokio::test]
async fn a_paused_publisher_goes_on_as_soon_as_the_listener_it_waits_for_leaves() {
    let hub = TestHub::with_config(paced(Duration::from_secs(30))).await;
    let (stopped, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let publisher = burst(&hub.endpoint).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!publisher.is_finished());
    let left = Instant::now();
    drop(stopped);
    let taken = within(publisher).await.expect("publisher");
    assert!(
        taken - left < Duration::from_secs(10),
        "the publisher went on long before the 30 s stall timeout"
    );
    assert_eq!(hub.hub.current_seq().0, BURST);
}

#[tokio::test]
async fn in_skip_mode_publishers_never_wait_and_a_listener_behind_learns_its_exact_loss() {
    let config = Config {
        when_behind: WhenBehind::Skip,
        ..paced(Duration::from_secs(30))
    };
    let hub = TestHub::with_config(config).await;
    let (mut stopped, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    within(within(burst(&hub.endpoint)).await)
        .await
        .expect("the hub took the whole burst at once");
    assert_eq!(hub.hub.stats().paused_seconds, 0.0);
    let (seqs, lagged) = read_until(&mut stopped, BURST).await;
    assert!(!lagged.is_empty(), "the listener fell behind");
    let missed: u64 = lagged.iter().map(|(missed, _)| missed).sum();
    assert_eq!(
        seqs.len() as u64 + missed,
        BURST,
        "received + missed = sent"
    );
}

#[tokio::test]
async fn a_paused_publisher_is_not_closed_by_keepalive_or_the_frame_timeout() {
    // Paused, the hub reads the publisher no further, whatever frame it had begun.
    let config = Config {
        keepalive: Some(Duration::from_millis(100)),
        frame_timeout: Duration::from_millis(100),
        ..paced(Duration::from_secs(30))
    };
    let hub = TestHub::with_config(config).await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let publisher = burst(&hub.endpoint).await;
    // Eight keepalive intervals with the publisher paused; the listener stays alive by
    // pinging without reading.
    for nonce in 0..16 {
        listener.send(&Frame::Ping(nonce)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!publisher.is_finished());
    let mut seqs = Vec::new();
    while seqs.last() != Some(&BURST) {
        match listener.recv().await {
            Some(Frame::Broadcast(b)) => seqs.push(b.seq.0),
            Some(Frame::Pong(_)) => {}
            // The hub's keepalive, while reading takes longer than its interval.
            Some(Frame::Ping(nonce)) => listener.send(&Frame::Pong(nonce)).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    every_one(&seqs);
    within(publisher)
        .await
        .expect("the paused publisher was still connected, and its burst was taken");
}

#[tokio::test]
async fn a_line_typed_at_the_console_goes_out_while_publishers_wait() {
    use pipehub::console::{operator::handle_line, style::Style};
    let hub = TestHub::with_config(paced(Duration::from_secs(30))).await;
    let (_stopped, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let (mut reading, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let publisher = burst(&hub.endpoint).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!publisher.is_finished());
    handle_line(&hub.hub, "typed while paced", Style::PLAIN);
    let typed = within(async {
        loop {
            match reading.recv().await {
                Some(Frame::Broadcast(b)) if b.body == "typed while paced" => return b.seq.0,
                Some(Frame::Broadcast(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert!(typed < BURST, "the typed line did not wait for the burst");
    assert!(!publisher.is_finished(), "the publisher still waits");
    assert_eq!(
        hub.hub.stats().missed,
        0,
        "the typed line went out without pushing anything out of the window"
    );
}

#[tokio::test]
async fn piped_operator_input_is_paced_like_a_publisher() {
    let hub = TestHub::with_config(paced(Duration::from_secs(30))).await;
    let (mut listener, _) = RawClient::join(&hub.endpoint, Role::Listener).await;
    let input: Vec<u8> = (1..=BURST)
        .flat_map(|i| [&body(i)[..], b"\n"].concat())
        .collect();
    let piped = hub.hub.clone();
    let lines =
        tokio::spawn(async move { pipehub::console::broadcast_lines(&piped, &input[..]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!lines.is_finished(), "the input was read past the window");
    let (seqs, lagged) = read_until(&mut listener, BURST).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    every_one(&seqs);
    assert_eq!(within(lines).await.expect("task").expect("read"), BURST);
}

// The hub asks the kernel what a slow reader has read only on Unix; on Windows it sees
// progress through its own writes alone (docs/protocol.md, section 6.5).
#[cfg(unix)]
#[tokio::test]
async fn a_slow_listener_that_keeps_reading_is_never_stalled() {
    use tokio::io::AsyncReadExt;
    // A text listener reading 4 KiB every 8 ms, about 500 KB/s: it reads all along, but
    // the hub finds room in its socket less often than every stall timeout (the kernel
    // says a socket is writable only once most of its buffer is free).
    let stall = Duration::from_millis(300);
    let hub = TestHub::with_config(paced(stall)).await;
    let mut slow = RawClient::connect(&hub.endpoint).await;
    hub.wait_for_clients(1).await;
    let publisher = burst(&hub.endpoint).await;
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    let lines = within(async {
        loop {
            let n = slow.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the hub closed the text listener");
            text.extend_from_slice(&chunk[..n]);
            let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
            if lines == BURST {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
    })
    .await;
    assert_eq!(lines, BURST);
    let expected: Vec<u8> = (1..=BURST)
        .flat_map(|i| [&body(i)[..], b"\n"].concat())
        .collect();
    assert!(text == expected, "every line, in order");
    within(publisher).await.expect("publisher");
    assert_eq!(hub.hub.stats().stalled_listeners, 0);
}
