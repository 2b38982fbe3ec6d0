//! What careless or hostile clients can cost the real hub process's memory, measured
//! from /proc: each test names the bound it holds the hub to.
#![cfg(target_os = "linux")]

use std::{os::unix::net::UnixStream, time::Duration};

use pipehub_tests::{HubProcess, Scratch, proc, status_report};

#[test]
fn a_text_listener_that_does_not_read_costs_the_hub_little_beyond_its_socket() {
    const LISTENERS: usize = 200;
    const LINES: u64 = 2_000;
    let scratch = Scratch::new();
    // Publishers never wait for them here, so the hub goes on writing to every one.
    let mut hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--when-behind", "skip"]);
    let silent: Vec<UnixStream> = (0..LISTENERS)
        .map(|_| UnixStream::connect(&hub.endpoint).expect("connect"))
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
    eprintln!("{grown} KiB for {LISTENERS} text listeners that do not read: {per_listener} B each");
    // The log itself (2,000 KiB) is shared; what is each listener's own is one batch of
    // lines waiting for its socket.
    assert!(
        per_listener < 64 * 1024,
        "a text listener that does not read costs the hub {per_listener} bytes"
    );
    drop(silent);
}
