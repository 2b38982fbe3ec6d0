//! A storm of connections opened and closed as fast as the machine allows must not
//! starve the listeners already connected: accepting and handshaking get a bounded share
//! of each turn of the hub's loop. Measured on the real hub process, with the storm's
//! connections from threads of this test.
#![cfg(unix)]

use std::{
    io::Write,
    os::unix::net::UnixStream,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use pipehub_protocol::{Frame, Hello, Role};
use pipehub_tests::{HubProcess, Scratch, read_frame};

/// Opens and closes connections until `stop`; returns how many it opened.
fn storm(endpoint: String, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        // A full backlog refuses at once (EAGAIN): that is part of the storm too.
        if UnixStream::connect(&endpoint).is_ok() {
            opened.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Connects with `role` and reads the `WELCOME`.
fn join(endpoint: &str, role: Role) -> UnixStream {
    let mut stream = UnixStream::connect(endpoint).expect("connect");
    stream
        .write_all(&Frame::Hello(Hello::new(role)).to_bytes())
        .expect("HELLO");
    match next_frame(&mut stream) {
        Frame::Welcome(_) => stream,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

fn next_frame(stream: &mut UnixStream) -> Frame {
    let (type_byte, payload) = read_frame(stream).expect("a frame from the hub");
    Frame::parse(type_byte, payload.into()).expect("a valid frame")
}

#[test]
fn a_storm_of_connections_does_not_delay_the_listeners() {
    const MESSAGES: u32 = 200;
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let mut listener = join(&hub.endpoint, Role::Listener);
    let mut publisher = join(&hub.endpoint, Role::Publisher);

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let storms: Vec<_> = (0..3)
        .map(|_| {
            let (endpoint, stop, opened) = (hub.endpoint.clone(), stop.clone(), opened.clone());
            std::thread::spawn(move || storm(endpoint, stop, opened))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // A message every 10 ms; each carries its index, and the listener times its arrival.
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        for i in 0..MESSAGES {
            let due = started + Duration::from_millis(10) * i;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let frame = Frame::Send(i.to_be_bytes().to_vec().into()).to_bytes();
            publisher.write_all(&frame).expect("SEND");
        }
        publisher
    });
    let mut latencies = Vec::new();
    while latencies.len() < MESSAGES as usize {
        if let Frame::Broadcast(b) = next_frame(&mut listener) {
            let i = u32::from_be_bytes(b.body[..4].try_into().expect("4 bytes"));
            let due = started + Duration::from_millis(10) * i;
            latencies.push(due.elapsed());
        }
    }
    stop.store(true, Ordering::Relaxed);
    for s in storms {
        s.join().expect("storm thread");
    }
    drop(sender.join().expect("sender"));

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let storm_rate = opened.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "{storm_rate:.0} connections/s opened and closed; listener latency p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies[latencies.len() - 1]
    );
    assert!(
        storm_rate > 1000.0,
        "the storm opened only {storm_rate:.0} connections/s: it tests nothing"
    );
    assert!(
        p99 < Duration::from_millis(100),
        "under a storm of connections the listener waited {p99:?} (p99) for a broadcast"
    );
}
