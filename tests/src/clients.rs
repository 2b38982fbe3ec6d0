//! The scenarios every client library of `clients/` must pass, against the real hub.
//!
//! Each library has a small driver program (`clients/dotnet/tests/Scenarios.cs`,
//! `clients/python/tests/scenarios.py`) with the same commands and output: it does one
//! thing with the library and prints what it got, line by line, and the scenario here
//! decides whether that was right. A [`Driver`] says how to start one; the test files
//! (`tests/tests/dotnet_client.rs`, `tests/tests/python_client.rs`) run each scenario with
//! theirs. [`CutProxy`] sits between a client and the hub to cut its connection while
//! the hub runs on.
use std::{
    ffi::OsString,
    fs::File,
    io::Write,
    net::Shutdown,
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::{
    ClientProcess, HubProcess, Scratch, client, output_within, status_report, wait_timeout,
};

/// How to start one client library's driver program.
pub struct Driver {
    /// The program and its first arguments, e.g. `mono .../Scenarios.exe`.
    pub program: Vec<OsString>,
    /// Extra arguments for `listen`, e.g. `--asyncio` for the Python client's asyncio flavour.
    pub listen_flags: Vec<String>,
}

impl Driver {
    /// `PROGRAM ARGS...` with stdin closed and stdout and stderr piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program[0]);
        command
            .args(&self.program[1..])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts `listen ENDPOINT ARGS...` and waits for its `ready` line; returns the
    /// process and the client IDs of its listeners.
    fn listen(&self, endpoint: &str, args: &[&str]) -> (ClientProcess, Vec<u64>) {
        let mut all = vec!["listen", endpoint];
        all.extend_from_slice(args);
        all.extend(self.listen_flags.iter().map(String::as_str));
        let listener = ClientProcess::spawn(self.command(&all));
        let ready = listener
            .stdout
            .until(|line| line.starts_with("ready") || line.starts_with("error"));
        let ids = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the listeners did not connect: {ready}"))
            .split(' ')
            .map(|id| id.parse().expect("a client ID"))
            .collect();
        (listener, ids)
    }
}

/// One line a driver's listener printed about an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Message { seq: u64, sender: u64, body: String },
    Lagged { missed: u64, next_seq: u64 },
    Other(String),
}

impl Seen {
    /// Parses `message SEQ SENDER BODY`, `lagged MISSED NEXT_SEQ`, or keeps the line.
    pub fn parse(line: &str) -> Seen {
        let mut words = line.splitn(4, ' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("message"), Some(seq), Some(sender), body) => Seen::Message {
                seq: seq.parse().expect("a seq"),
                sender: sender.parse().expect("a sender"),
                body: body.unwrap_or_default().to_owned(),
            },
            (Some("lagged"), Some(missed), Some(next), None) => Seen::Lagged {
                missed: missed.parse().expect("a count"),
                next_seq: next.parse().expect("a seq"),
            },
            _ => Seen::Other(line.to_owned()),
        }
    }
}

/// Reads listener 0's lines up to and including its `0 done ...` line; returns the
/// events and the `done` line's `RECEIVED END`.
fn events_until_done(listener: &ClientProcess) -> (Vec<Seen>, String) {
    let mut seen = Vec::new();
    loop {
        let line = listener
            .stdout
            .next()
            .expect("the listener printed its events, then a done line");
        let line = line
            .strip_prefix("0 ")
            .unwrap_or_else(|| panic!("not a line of listener 0: {line}"));
        if let Some(done) = line.strip_prefix("done ") {
            return (seen, done.to_owned());
        }
        seen.push(Seen::parse(line));
    }
}

/// Reads listener 0's next `n` events.
fn next_events(listener: &ClientProcess, n: usize) -> Vec<Seen> {
    (0..n)
        .map(|_| {
            let line = listener.stdout.next().expect("an event line");
            Seen::parse(line.strip_prefix("0 ").unwrap_or(&line))
        })
        .collect()
}

/// Broadcasts `lines` with `pipehub-client send`, which returns once the hub took them.
pub fn send_lines(endpoint: &str, scratch: &Scratch, name: &str, lines: &[String]) {
    let file = scratch.dir.path().join(name);
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the lines");
    let mut send = client(endpoint, &["send"])
        .stdin(File::open(&file).expect("the lines"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start send");
    assert!(wait_timeout(&mut send).success(), "pipehub-client send");
}

fn numbered(prefix: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// 20 listeners of one driver process each receive 10,000 broadcasts, in order, with
/// consecutive sequence numbers, the bodies sent and one sender.
pub fn twenty_listeners_receive_ten_thousand_broadcasts_in_order(driver: &Driver) {
    const LISTENERS: usize = 20;
    const MESSAGES: usize = 10_000;
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let out = scratch.dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir out");
    let (mut listeners, ids) = driver.listen(
        &hub.endpoint,
        &[
            "--listeners",
            &LISTENERS.to_string(),
            "--count",
            &MESSAGES.to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(ids.len(), LISTENERS);
    let bodies = numbered("message ", 1..=MESSAGES);
    send_lines(&hub.endpoint, &scratch, "messages", &bodies);
    assert!(listeners.wait().success(), "the listeners' process exits 0");
    let mut done: Vec<String> = listeners.stdout.rest();
    done.sort();
    let mut expected: Vec<String> = (0..LISTENERS)
        .map(|k| format!("{k} done {MESSAGES} count"))
        .collect();
    expected.sort();
    assert_eq!(
        done, expected,
        "every listener received its count, no error"
    );
    for k in 0..LISTENERS {
        let text = std::fs::read_to_string(out.join(format!("{k}.txt"))).expect("its events");
        let seen: Vec<Seen> = text.lines().map(Seen::parse).collect();
        assert_eq!(
            seen.len(),
            MESSAGES,
            "listener {k}: one event per broadcast"
        );
        let Seen::Message { sender, .. } = seen[0] else {
            panic!("listener {k} began with {:?}", seen[0])
        };
        assert!(sender > 0, "a publisher, not the operator");
        for (i, event) in seen.iter().enumerate() {
            let want = Seen::Message {
                seq: i as u64 + 1,
                sender,
                body: bodies[i].clone(),
            };
            assert_eq!(event, &want, "listener {k}, broadcast {}", i + 1);
        }
    }
}

/// A driver's publisher sends lines (some confirmed one by one, the rest at once); once
/// it says they were confirmed, the hub has broadcast every one, and `pipehub-client
/// listen` received them in order from that publisher.
pub fn a_publishers_messages_reach_pipehub_client_listen(driver: &Driver) {
    const MESSAGES: usize = 300;
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let reference = ClientProcess::spawn(client(
        &hub.endpoint,
        &[
            "listen",
            "--format",
            "json",
            "--count",
            &MESSAGES.to_string(),
        ],
    ));
    hub.wait_for_listeners(1);
    // Text with what a protocol must carry unchanged: UTF-8, quotes, a backslash.
    let lines: Vec<String> = (1..=MESSAGES)
        .map(|i| format!("line {i}: grüße \"{i}\" \\"))
        .collect();
    let mut publish = driver
        .command(&["publish", &hub.endpoint, "--each", "10"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start the publisher");
    let mut stdin = publish.stdin.take().expect("stdin");
    stdin
        .write_all((lines.join("\n") + "\n").as_bytes())
        .expect("write the lines");
    drop(stdin);
    let output = output_within(publish);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the publisher: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said: Vec<&str> = stdout.lines().collect();
    let id: u64 = said[0]
        .strip_prefix("welcome ")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no welcome line: {stdout}"));
    assert_eq!(
        &said[1..],
        [
            format!("confirmed {MESSAGES}"),
            format!("status {MESSAGES} {id}")
        ],
        "confirmed, then its own status request saw every broadcast"
    );
    // Confirmed means taken: another connection sees them all at once.
    assert_eq!(
        status_report(&hub.endpoint)["stats"]["broadcasts"],
        MESSAGES as u64
    );
    let mut reference = reference;
    assert!(reference.wait().success(), "pipehub-client listen");
    let received: Vec<serde_json::Value> = reference
        .stdout
        .rest()
        .iter()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(received.len(), MESSAGES);
    for (i, message) in received.iter().enumerate() {
        assert_eq!(message["seq"], i as u64 + 1);
        assert_eq!(message["sender"], id, "from the publisher's client ID");
        assert_eq!(message["body"], lines[i].as_str());
    }
}

/// A listener stopped (SIGSTOP) through a burst larger than the hub's window and the
/// socket buffers is told, when it goes on, exactly how many broadcasts it missed, where
/// they were.
pub fn a_stopped_listener_is_told_its_exact_loss(driver: &Driver) {
    // 2 MB in all: far more than the kernel buffers between the hub and the listener
    // hold, so the stopped listener falls the window (64) behind.
    const BURST: usize = 2000;
    let padding = "x".repeat(1000);
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--queue", "64"]);
    let (mut listener, _) = driver.listen(&hub.endpoint, &["--until", "end of burst"]);
    crate::signal(&listener.child, libc::SIGSTOP);
    // Takes the stall timeout (1 s): then publishers stop waiting for the stopped listener.
    let burst: Vec<String> = (1..=BURST).map(|i| format!("{i} {padding}")).collect();
    send_lines(&hub.endpoint, &scratch, "burst", &burst);
    crate::signal(&listener.child, libc::SIGCONT);
    send_lines(&hub.endpoint, &scratch, "end", &["end of burst".to_owned()]);
    let (seen, done) = events_until_done(&listener);
    assert!(listener.wait().success());

    let mut expected_seq = 1;
    let (mut received, mut missed, mut notices) = (0, 0, 0);
    for event in &seen {
        match event {
            Seen::Message { seq, body, .. } => {
                assert_eq!(*seq, expected_seq, "no gap that no notice explains");
                if *seq as usize <= BURST {
                    assert_eq!(
                        body,
                        &burst[*seq as usize - 1],
                        "broadcast #{seq} is line {seq}"
                    );
                    received += 1;
                }
                expected_seq = seq + 1;
            }
            Seen::Lagged {
                missed: m,
                next_seq,
            } => {
                assert_eq!(
                    *next_seq,
                    expected_seq + m,
                    "the notice names exactly the gap"
                );
                missed += m;
                notices += 1;
                expected_seq = *next_seq;
            }
            Seen::Other(line) => panic!("unexpected event {line}"),
        }
    }
    assert!(
        notices >= 1 && missed > 0,
        "the listener was told of its loss"
    );
    assert_eq!(received + missed, BURST as u64, "received + missed = sent");
    assert_eq!(done, format!("{} until", received + 1));
}

/// A reconnecting listener whose connection is cut while broadcasts go on comes back and
/// receives every broadcast exactly once: the hub resumes it where it was.
pub fn resume_after_a_cut_connection_loses_nothing(driver: &Driver) {
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let proxy = CutProxy::start(
        Path::new(&hub.endpoint),
        &scratch.dir.path().join("proxy.sock"),
    );
    let (mut listener, ids) = driver.listen(
        &proxy.path.display().to_string(),
        &["--reconnect", "--count", "200"],
    );
    let before = numbered("before ", 1..=100);
    send_lines(&hub.endpoint, &scratch, "before", &before);
    let first = next_events(&listener, 100);

    proxy.cut();
    // `[client ID (NAME) left]`: the hub saw the connection end.
    let client = format!("[client {} ", ids[0]);
    hub.stdout
        .until(|line| line.starts_with(&client) && line.ends_with(" left]"));
    let after = numbered("after ", 1..=100);
    send_lines(&hub.endpoint, &scratch, "after", &after);
    std::thread::sleep(Duration::from_millis(300));
    proxy.restore();
    let (rest, done) = events_until_done(&listener);
    assert!(listener.wait().success());
    assert_eq!(done, "200 count", "no error, no end before its count");

    let bodies: Vec<String> = before.iter().chain(&after).cloned().collect();
    let seen: Vec<Seen> = first.into_iter().chain(rest).collect();
    let want: Vec<(u64, &str)> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| (i as u64 + 1, body.as_str()))
        .collect();
    let got: Vec<(u64, &str)> = seen
        .iter()
        .map(|event| match event {
            Seen::Message { seq, body, .. } => (*seq, body.as_str()),
            other => panic!("resuming lost nothing, yet: {other:?}"),
        })
        .collect();
    assert_eq!(got, want, "every broadcast once, in order, across the cut");
}

/// A reconnecting listener outlives a hub restart: it says the hub is a new instance,
/// then follows the new hub's numbering from its first broadcast.
pub fn a_restarted_hub_is_announced_and_followed(driver: &Driver) {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut first = HubProcess::start(&endpoint, &[]);
    let (mut listener, _) = driver.listen(&endpoint, &["--reconnect", "--count", "3"]);
    send_lines(&endpoint, &scratch, "one", &["one".to_owned()]);
    let before = next_events(&listener, 1);
    first.terminate();
    assert!(first.wait().success(), "the first hub stops cleanly");
    let second = HubProcess::start(&endpoint, &[]);
    second.wait_for_listeners(1);
    send_lines(
        &endpoint,
        &scratch,
        "two",
        &["two".to_owned(), "three".to_owned()],
    );
    let (after, done) = events_until_done(&listener);
    assert!(listener.wait().success());
    assert_eq!(done, "3 count");
    let bodies = |seen: &[Seen]| -> Vec<String> {
        seen.iter()
            .map(|event| match event {
                Seen::Message { seq, body, .. } => format!("#{seq} {body}"),
                Seen::Lagged { missed, next_seq } => format!("lagged {missed} {next_seq}"),
                Seen::Other(line) => line.clone(),
            })
            .collect()
    };
    assert_eq!(bodies(&before), ["#1 one"]);
    assert_eq!(bodies(&after), ["restarted", "#1 two", "#2 three"]);
}

/// A hub that refuses the client (full; a role it may not take) makes connecting fail
/// with an error that names the refusal and the fix.
pub fn a_refused_connection_raises_a_clear_error(driver: &Driver, extra: &[&str]) {
    let scratch = Scratch::new();
    let full = HubProcess::start(&scratch.endpoint("full.sock"), &["--max-clients", "1"]);
    let _holder = ClientProcess::spawn(client(&full.endpoint, &["listen"]));
    full.wait_for_joins(1);
    let mut args = vec!["connect", full.endpoint.as_str()];
    args.extend_from_slice(extra);
    let (code, said) = run(driver.command(&args));
    assert_eq!(code, Some(4), "refused: {said}");
    assert!(
        said.starts_with("error ")
            && said.contains("refused")
            && said.contains("hub full")
            && said.contains("--max-clients"),
        "{said}"
    );

    let closed = HubProcess::start(&scratch.endpoint("closed.sock"), &["--publishers", "none"]);
    let mut args = vec!["connect", closed.endpoint.as_str(), "--role", "publisher"];
    args.extend_from_slice(extra);
    let (code, said) = run(driver.command(&args));
    assert_eq!(code, Some(4), "refused: {said}");
    assert!(
        said.contains("refused") && said.contains("not permitted") && said.contains("operator"),
        "{said}"
    );
}

/// Connecting where no hub serves fails with an error that says so and how to start one.
pub fn a_missing_hub_raises_a_clear_error(driver: &Driver) {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("nobody.sock");
    let (code, said) = run(driver.command(&["connect", &endpoint]));
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains(&format!("no hub at {endpoint}"))
            && said.contains(&format!("pipehub --endpoint {endpoint}")),
        "{said}"
    );
}

/// The hub's `BYE` on shutdown ends a listener's stream as its normal end, after every
/// broadcast queued for it, with the reason and no error.
pub fn the_hubs_bye_ends_the_stream_cleanly(driver: &Driver) {
    let scratch = Scratch::new();
    let mut hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let (mut listener, _) = driver.listen(&hub.endpoint, &[]);
    send_lines(&hub.endpoint, &scratch, "lines", &numbered("line ", 1..=3));
    hub.terminate();
    let (seen, done) = events_until_done(&listener);
    assert!(listener.wait().success(), "the listener exits 0");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(done, "3 bye 1 the hub is shutting down");
    assert!(hub.wait().success(), "the hub stops cleanly");
}

/// Runs `command` to its end; returns its exit code and its stdout's first line.
fn run(command: Command) -> (Option<i32>, String) {
    let mut command = command;
    let output = output_within(command.spawn().expect("start the driver"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or_default().to_owned();
    (
        output.status.code(),
        format!("{first}{}", String::from_utf8_lossy(&output.stderr)),
    )
}

/// A Unix-socket relay between clients and a hub that can cut every connection through
/// it while the hub runs on, and refuse new ones until restored.
pub struct CutProxy {
    /// Where clients connect.
    pub path: PathBuf,
    target: PathBuf,
    relays: Arc<Mutex<Vec<UnixStream>>>,
    accepting: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl CutProxy {
    /// Serves `path`, relaying each connection to the hub at `target`.
    pub fn start(target: &Path, path: &Path) -> CutProxy {
        let proxy = CutProxy {
            path: path.to_owned(),
            target: target.to_owned(),
            relays: Arc::default(),
            accepting: Mutex::new(None),
        };
        proxy.restore();
        proxy
    }

    /// Accepts connections again (after [`CutProxy::cut`]).
    pub fn restore(&self) {
        let listener = UnixListener::bind(&self.path).expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (target, relays, stopped) = (self.target.clone(), self.relays.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((near, _)) => relay(near, &target, &relays),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        *self.accepting.lock().expect("lock") = Some((stop, accept));
    }

    /// Cuts every relayed connection, both ways, and stops accepting: clients see their
    /// connection end without a word, and nothing at the path until restored.
    pub fn cut(&self) {
        if let Some((stop, accept)) = self.accepting.lock().expect("lock").take() {
            stop.store(true, Ordering::Relaxed);
            accept.join().expect("the accept thread");
        }
        let _ = std::fs::remove_file(&self.path);
        for stream in self.relays.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Relays `near` (a client) to a new connection to `target` (the hub) on two threads.
fn relay(near: UnixStream, target: &Path, relays: &Mutex<Vec<UnixStream>>) {
    let Ok(far) = UnixStream::connect(target) else {
        return;
    };
    let _ = near.set_nonblocking(false);
    let pump = |mut from: UnixStream, mut to: UnixStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    };
    let clones = (
        near.try_clone().expect("clone"),
        far.try_clone().expect("clone"),
    );
    relays.lock().expect("lock").extend([
        clones.0.try_clone().expect("clone"),
        clones.1.try_clone().expect("clone"),
    ]);
    pump(near, far);
    pump(clones.1, clones.0);
}
