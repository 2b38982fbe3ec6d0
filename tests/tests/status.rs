//! `pipehub-client status` against real hubs: what it prints, and how it fails.
#![cfg(unix)]

use std::{
    io::{Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    time::Duration,
};

use pipehub_tests::{HubProcess, Scratch, client, output_within};

#[test]
fn status_prints_the_counters_and_a_row_per_client() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let listener = client(&endpoint, &["listen", "--name", "alice"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    // A plain tool that says nothing is served as a text listener.
    let _text = UnixStream::connect(&endpoint).expect("text client");
    hub.wait_for_joins(1);
    hub.type_lines(&["one".to_owned(), "two".to_owned()]);

    let output = output_within(client(&endpoint, &["status"]).spawn().expect("status"));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("clients     3: 2 listeners, 0 publishers, 1 text listener"),
        "{text}"
    );
    assert!(text.contains("broadcast   2 messages, 6 B"), "{text}");
    let row = |id: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(&format!("{id}  ")))
            .unwrap_or_else(|| panic!("no row for client {id}:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("1")[1..3], ["alice", "listener"]);
    assert_eq!(row("1")[4], listener.id().to_string());
    assert_eq!(row("2")[1..3], ["-", "text"]);
    assert_eq!(row("3")[1..4], ["status", "*", "listener"]);
    assert!(text.contains("* client 3 is this status request"), "{text}");
    drop(listener);
}

#[test]
fn status_without_a_hub_exits_3_and_says_how_to_start_one() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("nobody.sock");
    let output = output_within(client(&endpoint, &["status"]).spawn().expect("status"));
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "no hub at {endpoint} (start one with: pipehub --endpoint {endpoint})"
        )),
        "{stderr}"
    );
}

#[test]
fn status_from_a_hub_older_than_status_requests_says_so() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("old.sock");
    let socket = UnixListener::bind(&endpoint).expect("bind");
    // A hub of an earlier revision: it welcomes the client, then answers the unknown
    // STATUS_REQUEST with ERROR code 5 (unknown frame type) and closes.
    let old_hub = std::thread::spawn(move || {
        let (mut conn, _) = socket.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut hello = [0u8; 4 + 26 + 6]; // HELLO with the name "status"
        conn.read_exact(&mut hello).expect("HELLO");
        let mut welcome = vec![0, 0, 0, 0x23, 0x81, 0, 1];
        welcome.extend_from_slice(&1u64.to_be_bytes()); // client_id
        welcome.extend_from_slice(&7u64.to_be_bytes()); // hub_instance
        welcome.extend_from_slice(&0u64.to_be_bytes()); // current_seq
        welcome.extend_from_slice(&1_048_576u32.to_be_bytes());
        welcome.extend_from_slice(&1024u32.to_be_bytes());
        conn.write_all(&welcome).expect("WELCOME");
        let mut request = [0u8; 5];
        conn.read_exact(&mut request).expect("STATUS_REQUEST");
        assert_eq!(request, [0, 0, 0, 1, 0x05]);
        let text = b"unknown frame type 0x05";
        let mut error = ((3 + text.len()) as u32).to_be_bytes().to_vec();
        error.extend_from_slice(&[0x87, 0, 5]);
        error.extend_from_slice(text);
        conn.write_all(&error).expect("ERROR");
    });
    let output = output_within(client(&endpoint, &["status"]).spawn().expect("status"));
    old_hub.join().expect("the old hub");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot report its status: it is older than status requests"),
        "{stderr}"
    );
}

#[test]
fn a_piped_console_broadcasts_command_lines_as_they_are() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let listener = client(&endpoint, &["listen", "--format", "plain", "--count", "2"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    hub.type_lines(&["/list".to_owned(), "//twice".to_owned()]);
    let output = output_within(listener);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "/list\n//twice\n");
}
