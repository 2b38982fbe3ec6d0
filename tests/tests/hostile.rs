//! What careless or hostile clients can cost the real hub process's memory, measured
//! from /proc: each test names the bound it holds the hub to.
#![cfg(target_os = "linux")]

use std::{
    io::{ErrorKind, Write},
    os::unix::net::UnixStream,
    time::Duration,
};

use pipehub_protocol::{DEFAULT_MAX_FRAME, Frame, FrameType, Hello, Role};
use pipehub_tests::{HubProcess, Scratch, proc, status_report};

/// The hub's budget for large frames still arriving, across every client (its default).
const PARTIAL_FRAMES_BUDGET: u64 = 16 * 1024 * 1024;
/// What a connection may hold beyond that budget: at most 32 KiB of a frame in progress,
/// in a buffer at most twice that.
const PER_CONNECTION: u64 = 64 * 1024;

/// Writes as much of `bytes` as the socket takes now; returns how much it took.
fn write_what_fits(stream: &mut UnixStream, bytes: &[u8]) -> usize {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    written
}

#[test]
fn frames_begun_and_not_finished_hold_the_budget_and_a_little_per_connection() {
    const HOARDERS: usize = 200;
    let scratch = Scratch::new();
    let mut hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let hello = Frame::Hello(Hello::new(Role::Publisher)).to_bytes();
    let mut hoarders: Vec<UnixStream> = (0..HOARDERS)
        .map(|_| {
            let mut s = UnixStream::connect(&hub.endpoint).expect("connect");
            s.write_all(&hello).expect("HELLO");
            s
        })
        .collect();
    hub.wait_for_joins(HOARDERS);
    let before = proc::resident_kib(hub.pid());
    // Each: a SEND announcing the largest frame, and all of it but the last byte, as far
    // as the hub and the socket take it.
    let mut frame = DEFAULT_MAX_FRAME.to_be_bytes().to_vec();
    frame.push(FrameType::Send as u8);
    frame.resize(4 + DEFAULT_MAX_FRAME as usize - 1, b'x');
    let mut sent = vec![0; HOARDERS];
    for _round in 0..20 {
        for (stream, sent) in hoarders.iter_mut().zip(&mut sent) {
            *sent += write_what_fits(stream, &frame[*sent..]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let taken: usize = sent.iter().sum();
    let grown = proc::resident_kib(hub.pid()).saturating_sub(before) * 1024;
    eprintln!(
        "{HOARDERS} frames begun: {} KiB sent, the hub grew by {} KiB",
        taken / 1024,
        grown / 1024
    );
    let bound = PARTIAL_FRAMES_BUDGET + HOARDERS as u64 * PER_CONNECTION;
    assert!(
        grown <= bound,
        "{HOARDERS} unfinished frames grew the hub by {grown} bytes; the bound is {bound}"
    );
    hub.assert_serves_a_new_listener(1, "served meanwhile");
    drop(hoarders);
}

#[test]
fn a_text_listener_that_does_not_read_costs_the_hub_little_beyond_its_socket() {
    listeners_that_do_not_read_cost_little(None);
}

#[test]
fn a_framed_listener_that_does_not_read_costs_the_hub_little_beyond_its_socket() {
    listeners_that_do_not_read_cost_little(Some(Frame::Hello(Hello::new(Role::Listener))));
}

/// 200 listeners (text, or framed after `hello`) that never read, while 2,000 lines of
/// 1 KiB are broadcast: each may cost the hub at most 64 KiB beyond its socket.
fn listeners_that_do_not_read_cost_little(hello: Option<Frame>) {
    const LISTENERS: usize = 200;
    const LINES: u64 = 2_000;
    let scratch = Scratch::new();
    // Publishers never wait for them here, so the hub goes on writing to every one.
    let mut hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--when-behind", "skip"]);
    let silent: Vec<UnixStream> = (0..LISTENERS)
        .map(|_| {
            let mut stream = UnixStream::connect(&hub.endpoint).expect("connect");
            if let Some(hello) = &hello {
                stream.write_all(&hello.to_bytes()).expect("HELLO");
            }
            stream
        })
        .collect();
    hub.wait_for_joins(LISTENERS);
    let before = proc::resident_kib(hub.pid());
    // 2,000 lines of 1 KiB: far more than a socket buffer holds.
    let lines: Vec<String> = (0..LINES)
        .map(|i| format!("{i:06} {}", "x".repeat(1017)))
        .collect();
    hub.type_lines(&lines);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status_report(&hub.endpoint)["stats"]["broadcasts"] != LINES {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub did not take the lines"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let every writer fill its socket and take its next batch.
    std::thread::sleep(Duration::from_millis(500));
    let grown = proc::resident_kib(hub.pid()).saturating_sub(before);
    let per_listener = grown * 1024 / LISTENERS as u64;
    let kind = if hello.is_some() { "framed" } else { "text" };
    eprintln!(
        "{grown} KiB for {LISTENERS} {kind} listeners that do not read: {per_listener} B each"
    );
    // The log itself (2,000 KiB) is shared; what is each listener's own is one batch:
    // lines copied for a text listener, handles into the log for a framed one.
    assert!(
        per_listener < 64 * 1024,
        "a {kind} listener that does not read costs the hub {per_listener} bytes"
    );
    drop(silent);
}

#[test]
fn the_hub_gives_memory_back_once_listeners_that_did_not_read_have_left() {
    const LISTENERS: usize = 600;
    const LINES: u64 = 200;
    let scratch = Scratch::new();
    // The log keeps the last 200 lines, so it is as large at the end as at the start.
    let mut hub = HubProcess::start(
        &scratch.endpoint("hub.sock"),
        &["--queue", "200", "--history", "0", "--when-behind", "skip"],
    );
    let type_lines = |hub: &mut HubProcess, round: u64| {
        let lines: Vec<String> = (0..LINES)
            .map(|i| format!("{round}:{i:06} {}", "x".repeat(10_000)))
            .collect();
        hub.type_lines(&lines);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while status_report(&hub.endpoint)["stats"]["broadcasts"] != LINES * round {
            assert!(
                std::time::Instant::now() < deadline,
                "the hub did not take the lines"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    type_lines(&mut hub, 1);
    std::thread::sleep(Duration::from_secs(1));
    let baseline = proc::resident_kib(hub.pid());

    let silent: Vec<UnixStream> = (0..LISTENERS)
        .map(|_| UnixStream::connect(&hub.endpoint).expect("connect"))
        .collect();
    hub.wait_for_joins(LISTENERS);
    type_lines(&mut hub, 2);
    std::thread::sleep(Duration::from_millis(500));
    let loaded = proc::resident_kib(hub.pid());
    assert!(
        loaded > baseline + 5 * 1024,
        "the load did not cost the hub memory ({baseline} -> {loaded} KiB): it tests nothing"
    );
    drop(silent);

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut after = loaded;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        after = proc::resident_kib(hub.pid());
        if after <= baseline + 2 * 1024 {
            break;
        }
    }
    eprintln!(
        "{baseline} KiB at rest, {loaded} KiB with {LISTENERS} listeners that did not read, {after} KiB after they left"
    );
    assert!(
        after <= baseline + 2 * 1024,
        "the hub kept {} KiB after the listeners left ({baseline} KiB before them)",
        after.saturating_sub(baseline)
    );
}
