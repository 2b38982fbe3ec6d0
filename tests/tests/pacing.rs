//! Lossless bursts, as a user meets them: a file piped into `pipehub-client send` on a
//! stock hub reaches every `pipehub-client listen` that keeps reading, line for line; a
//! stopped listener costs the others one stall timeout, and is told exactly what it
//! missed; `--when-behind skip` keeps the old freshness-first behaviour.
#![cfg(unix)]

use std::{
    fs::File,
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use pipehub_tests::{
    ClientProcess, HubProcess, Scratch, client, output_within, proc, signal, wait_timeout,
};

const LINES: u64 = 200_000;
const LISTENERS: usize = 10;

/// The bursts here are timed and use both cores: one at a time.
fn one_burst_at_a_time() -> MutexGuard<'static, ()> {
    static BURSTS: Mutex<()> = Mutex::new(());
    BURSTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `seq 1 LINES`, as a file.
fn numbers(scratch: &Scratch) -> PathBuf {
    let path = scratch.dir.path().join("numbers");
    let mut text = String::new();
    for i in 1..=LINES {
        text.push_str(&i.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the numbers");
    path
}

/// `pipehub-client listen --format plain [--count LINES]`, printing into `out`.
fn listener(endpoint: &str, out: &Path, count: bool) -> Child {
    let total = LINES.to_string();
    let mut args = vec!["listen", "--format", "plain"];
    if count {
        args.extend(["--count", &total]);
    }
    client(endpoint, &args)
        .stdout(File::create(out).expect("output file"))
        .spawn()
        .expect("start listener")
}

/// `pipehub-client send < file`; returns once the hub confirmed every line.
fn send_file(endpoint: &str, file: &Path) -> Child {
    client(endpoint, &["send"])
        .stdin(File::open(file).expect("numbers"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start send")
}

/// Ten listeners to files, then the burst; checks that each printed all of it, in
/// order, and returns how long that took from the start of the burst.
fn burst_to_ten(hub: &HubProcess, scratch: &Scratch) -> Duration {
    let numbers = numbers(scratch);
    let files: Vec<PathBuf> = (0..LISTENERS)
        .map(|i| scratch.dir.path().join(format!("listener-{i}")))
        .collect();
    let listeners: Vec<Child> = files
        .iter()
        .map(|file| listener(&hub.endpoint, file, true))
        .collect();
    hub.wait_for_listeners(LISTENERS);
    let started = Instant::now();
    let mut send = send_file(&hub.endpoint, &numbers);
    assert!(wait_timeout(&mut send).success(), "send exits 0");
    for (i, listener) in listeners.into_iter().enumerate() {
        let output = output_within(listener);
        assert!(
            output.status.success(),
            "listener {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let took = started.elapsed();
    let expected = std::fs::read(&numbers).expect("numbers");
    for (i, file) in files.iter().enumerate() {
        let got = std::fs::read(file).expect("listener output");
        assert!(
            got == expected,
            "listener {i} printed {} lines, not the {LINES} sent, in order",
            got.iter().filter(|&&b| b == b'\n').count()
        );
    }
    took
}

#[test]
fn every_listener_that_reads_prints_every_line_of_a_burst_on_a_stock_hub() {
    let _one = one_burst_at_a_time();
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    burst_to_ten(&hub, &scratch);
}

#[test]
fn a_stopped_listener_costs_the_others_one_stall_timeout_and_learns_its_exact_loss() {
    let _one = one_burst_at_a_time();
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    // The same burst without a stopped listener, for comparison, on the same hub.
    let unhindered = burst_to_ten(&hub, &scratch);

    let stopped = ClientProcess::spawn(client(&hub.endpoint, &["listen", "--format", "plain"]));
    hub.wait_for_listeners(1);
    signal(&stopped.child, libc::SIGSTOP);
    let hindered = burst_to_ten(&hub, &scratch);
    eprintln!(
        "ten listeners had the burst after {unhindered:?}; with one more stopped, after {hindered:?}"
    );
    // One stall timeout (1 s by default), once, not once per message or per window.
    assert!(
        hindered < unhindered + Duration::from_secs(5),
        "the stopped listener delayed the others by {:?} (the burst takes {unhindered:?} without it)",
        hindered.saturating_sub(unhindered)
    );
    let stalls = hub
        .stderr
        .until_within(Duration::from_secs(5), |line| {
            line.contains("took nothing for")
        })
        .expect("the hub says it stopped waiting for the stopped listener");
    assert!(stalls.contains("1000 ms"), "{stalls}");

    signal(&stopped.child, libc::SIGCONT);
    let mut end = client(&hub.endpoint, &["send", "end of burst"])
        .stdout(Stdio::null())
        .spawn()
        .expect("send");
    assert!(wait_timeout(&mut end).success());
    let mut received = Vec::new();
    loop {
        let line = stopped
            .stdout
            .next()
            .expect("the listener prints the burst");
        if line == "end of burst" {
            break;
        }
        received.push(line.parse::<u64>().expect("a number"));
    }
    let notice = stopped.stderr.until(|line| line.contains("missed"));
    // "pipehub-client: missed N messages; continuing at #M"
    let words: Vec<&str> = notice.split_whitespace().collect();
    let missed: u64 = words[2].parse().expect("missed count");
    let next: u64 = words[6].trim_start_matches('#').parse().expect("next seq");
    // Sequence numbers: the first burst was 1..=LINES, this one LINES+1..=2*LINES.
    let next = next - LINES;
    assert_eq!(
        received.len() as u64 + missed,
        LINES,
        "received + missed = sent"
    );
    let before: Vec<u64> = received.iter().copied().take_while(|&n| n < next).collect();
    let after = &received[before.len()..];
    assert_eq!(before, (1..=before.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        after,
        (next..=LINES).collect::<Vec<_>>(),
        "then every line from #next"
    );
    assert_eq!(
        before.len() as u64 + missed + 1,
        next,
        "the notice names exactly the gap"
    );
}

#[test]
fn a_listener_stopped_for_less_than_the_stall_timeout_loses_nothing() {
    let _one = one_burst_at_a_time();
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--stall-timeout", "5"]);
    let numbers = numbers(&scratch);
    let out = scratch.dir.path().join("listener");
    let listener = listener(&hub.endpoint, &out, true);
    hub.wait_for_listeners(1);
    let mut send = send_file(&hub.endpoint, &numbers);
    std::thread::sleep(Duration::from_millis(100));
    signal(&listener, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        send.try_wait().expect("try_wait").is_none(),
        "the hub took the whole burst while the listener was stopped"
    );
    signal(&listener, libc::SIGCONT);
    assert!(wait_timeout(&mut send).success());
    assert!(output_within(listener).status.success());
    assert!(
        std::fs::read(&out).expect("output") == std::fs::read(&numbers).expect("numbers"),
        "the listener printed every line, in order"
    );
}

#[test]
fn with_when_behind_skip_a_burst_skips_listeners_ahead_and_says_how_far() {
    let _one = one_burst_at_a_time();
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--when-behind", "skip"]);
    let numbers = numbers(&scratch);
    let listeners: Vec<ClientProcess> = (0..3)
        .map(|_| ClientProcess::spawn(client(&hub.endpoint, &["listen", "--format", "plain"])))
        .collect();
    hub.wait_for_listeners(listeners.len());
    let mut send = send_file(&hub.endpoint, &numbers);
    assert!(wait_timeout(&mut send).success());
    let mut end = client(&hub.endpoint, &["send", "end of burst"])
        .stdout(Stdio::null())
        .spawn()
        .expect("send");
    assert!(wait_timeout(&mut end).success());
    let mut anyone_missed = false;
    for listener in &listeners {
        let mut received = 0u64;
        while listener.stdout.next().expect("a line") != "end of burst" {
            received += 1;
        }
        let mut missed = 0u64;
        while let Some(notice) = listener
            .stderr
            .until_within(Duration::from_millis(500), |line| line.contains("missed"))
        {
            missed += notice
                .split_whitespace()
                .nth(2)
                .and_then(|n| n.parse::<u64>().ok())
                .expect("missed count");
        }
        assert_eq!(received + missed, LINES, "received + missed = sent");
        anyone_missed |= missed > 0;
    }
    assert!(
        anyone_missed,
        "the burst outran the listeners, and they skipped ahead"
    );
}

#[test]
fn a_publisher_paced_for_long_costs_the_hub_no_more_than_the_window() {
    let _one = one_burst_at_a_time();
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    // A text listener that reads, slowly: it never stalls, so it paces the publisher.
    let mut slow = UnixStream::connect(&hub.endpoint).expect("connect");
    hub.wait_for_joins(1);
    let before = proc::resident_kib(hub.pid());
    let mut send = client(&hub.endpoint, &["send"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("send");
    let mut input = send.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(1023));
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && input.write_all(line.as_bytes()).is_ok() {}
    });
    let mut buf = vec![0u8; 4096];
    let mut read = 0u64;
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        read += slow.read(&mut buf).expect("read") as u64;
        std::thread::sleep(Duration::from_millis(5));
        peak = peak.max(proc::resident_kib(hub.pid()));
    }
    let status = pipehub_tests::status_report(&hub.endpoint);
    assert_eq!(
        status["stats"]["paused_publishers"], 1,
        "the publisher was paused: {status}"
    );
    // The window: 4,096 messages of 1 KiB, and the hub's own few MiB.
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 24,
        "the hub grew by {grown_mib} MiB while pacing a publisher (it started at {before} KiB)"
    );
    assert!(read > 0, "the slow listener read");
    let _ = send.kill();
    let _ = send.wait();
    drop(slow);
    writer.join().expect("writer");
}
