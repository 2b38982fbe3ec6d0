//! `pipehub-client listen --reconnect` against the real hub: across a brief loss of the
//! connection it prints every message exactly once (the hub resumes it), and across a
//! hub restart it comes back to the new hub and says that it is a new instance.
#![cfg(unix)]

use std::process::Child;
use std::time::Duration;

use pipehub_tests::{HubProcess, Lines, Scratch, client, signal};

/// A running `listen --reconnect --format json` client and its output.
struct Listener {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl Listener {
    fn start(endpoint: &str, extra: &[&str]) -> Listener {
        let mut args = vec!["listen", "--reconnect", "--format", "json"];
        args.extend_from_slice(extra);
        let mut child = client(endpoint, &args).spawn().expect("start the listener");
        let stdout = Lines::spawn(child.stdout.take().expect("stdout"));
        let stderr = Lines::spawn(child.stderr.take().expect("stderr"));
        Listener {
            child,
            stdout,
            stderr,
        }
    }

    /// The next message printed, as (seq, body); event lines (a new hub instance, lost
    /// messages) are skipped: the tests read those notices on stderr.
    fn next_message(&self) -> (u64, String) {
        loop {
            let line = self.stdout.next().expect("the listener printed a message");
            let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if value.get("event").is_some() {
                continue;
            }
            let seq = value["seq"].as_u64().expect("a broadcast with a seq");
            let body = value["body"].as_str().expect("a UTF-8 body").to_owned();
            return (seq, body);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

#[test]
fn a_listener_cut_off_briefly_prints_every_message_exactly_once() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let listener = Listener::start(&endpoint, &["--keepalive", "0.5"]);
    hub.wait_for_joins(1);
    hub.type_lines(&lines(&["one", "two", "three"]));
    for (seq, body) in [(1, "one"), (2, "two"), (3, "three")] {
        assert_eq!(listener.next_message(), (seq, body.to_owned()));
    }

    // A stopped hub is silent: the listener gives up on the connection after two
    // keepalive intervals and reconnects; its HELLO waits in the socket's backlog.
    signal(&hub.child, libc::SIGSTOP);
    listener
        .stderr
        .until(|line| line.contains("lost the connection") && line.contains("reconnecting"));
    // Typed while the hub is stopped, broadcast when it goes on.
    hub.type_lines(&lines(&["four", "five"]));
    std::thread::sleep(Duration::from_millis(500));
    signal(&hub.child, libc::SIGCONT);

    listener
        .stderr
        .until(|line| line.contains("reconnected") && line.contains("going on after #3"));
    hub.type_lines(&lines(&["six"]));
    for (seq, body) in [(4, "four"), (5, "five"), (6, "six")] {
        assert_eq!(listener.next_message(), (seq, body.to_owned()));
    }
}

#[test]
fn a_listener_comes_back_to_a_restarted_hub_and_says_it_is_a_new_instance() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut first = HubProcess::start(&endpoint, &[]);
    let listener = Listener::start(&endpoint, &[]);
    first.wait_for_joins(1);
    first.type_lines(&lines(&["before 1", "before 2"]));
    assert_eq!(listener.next_message(), (1, "before 1".to_owned()));
    assert_eq!(listener.next_message(), (2, "before 2".to_owned()));

    first.child.kill().expect("SIGKILL the first hub");
    first.child.wait().expect("the first hub is gone");
    let mut second = HubProcess::start(&endpoint, &[]);
    // Typed at once: whether the listener is back already or not, it gets it (a new
    // instance replays what it holds to a client that asked to resume another one).
    second.type_lines(&lines(&["after 1"]));
    assert_eq!(listener.next_message(), (1, "after 1".to_owned()));
    second.type_lines(&lines(&["after 2"]));
    assert_eq!(listener.next_message(), (2, "after 2".to_owned()));

    let notice = listener
        .stderr
        .until(|line| line.contains("new hub instance"));
    assert!(
        notice.contains("after #2 may have been lost") && notice.contains("cannot be known"),
        "{notice}"
    );
}
