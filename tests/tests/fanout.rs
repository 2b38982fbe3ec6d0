//! The whole system at once: the real hub binary, 100 `pipehub-client listen`
//! processes, a JSON listener and a plain socket reading lines, while the operator types
//! 1,000 lines and `pipehub-client send` broadcasts 100 more.
#![cfg(unix)]

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    process::Stdio,
};

use pipehub_tests::{HubProcess, Scratch, client, output_within, wait_timeout};

const LISTENERS: usize = 100;
const TYPED: usize = 1_000;
const SENT: usize = 100;
const TOTAL: usize = TYPED + SENT;

#[test]
fn every_listener_receives_every_message_in_hub_order_exactly_once() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let total = TOTAL.to_string();

    let mut plain: Vec<_> = (0..LISTENERS)
        .map(|_| {
            client(
                &endpoint,
                &["listen", "--format", "plain", "--count", &total],
            )
            .spawn()
            .expect("start listener")
        })
        .collect();
    let json = client(
        &endpoint,
        &["listen", "--format", "json", "--count", &total],
    )
    .spawn()
    .expect("start json listener");
    // A plain socket that says nothing: served as a text listener.
    let text = UnixStream::connect(&endpoint).expect("connect text listener");
    hub.wait_for_joins(LISTENERS + 2);

    // Typed lines and sent messages interleave, as they would in real use.
    let mut typed = Vec::new();
    let mut sent = Vec::new();
    for chunk in 0..10 {
        let lines: Vec<String> = (0..TYPED / 10)
            .map(|i| format!("typed {}", chunk * 100 + i))
            .collect();
        hub.type_lines(&lines);
        typed.extend(lines);
        for i in 0..SENT / 10 {
            let message = format!("sent {}", chunk * 10 + i);
            let status = client(&endpoint, &["send", &message])
                .stdout(Stdio::null())
                .status()
                .expect("run send");
            assert!(
                status.success(),
                "send exits 0 once the hub took the message"
            );
            sent.push(message);
        }
    }

    // The JSON listener gives the hub's order and proves the sequence numbers.
    let json = output_within(json);
    assert!(
        json.status.success(),
        "json listener: {}",
        String::from_utf8_lossy(&json.stderr)
    );
    let mut hub_order = Vec::new();
    for (i, line) in String::from_utf8(json.stdout)
        .expect("utf-8")
        .lines()
        .enumerate()
    {
        let value: serde_json::Value =
            serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(value["seq"], (i + 1) as u64, "consecutive sequence numbers");
        let body = value["body"].as_str().expect("text body").to_owned();
        let expected_sender_is_operator = body.starts_with("typed");
        assert_eq!(
            value["sender"] == 0,
            expected_sender_is_operator,
            "sender of {body}"
        );
        hub_order.push(body);
    }
    assert_eq!(hub_order.len(), TOTAL);
    // Each source's own order is kept, and nothing is lost or repeated.
    let only = |prefix: &str| -> Vec<String> {
        hub_order
            .iter()
            .filter(|b| b.starts_with(prefix))
            .cloned()
            .collect()
    };
    assert_eq!(only("typed"), typed);
    assert_eq!(only("sent"), sent);

    for (n, listener) in plain.drain(..).enumerate() {
        let output = output_within(listener);
        assert!(
            output.status.success(),
            "listener {n}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
            .expect("utf-8")
            .lines()
            .collect();
        assert_eq!(lines, hub_order, "listener {n} saw the hub's order exactly");
    }

    let mut text_lines = BufReader::new(text).lines();
    for (i, expected) in hub_order.iter().enumerate() {
        let line = text_lines
            .next()
            .expect("text line")
            .expect("read text line");
        assert_eq!(&line, expected, "text listener line {i}");
    }

    hub.terminate();
    assert!(hub.wait().success());
}

#[test]
fn send_without_text_broadcasts_each_stdin_line() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let hub = HubProcess::start(&endpoint, &[]);
    let listener = client(&endpoint, &["listen", "--format", "plain", "--count", "3"])
        .spawn()
        .expect("start listener");
    hub.wait_for_joins(1);
    let mut send = client(&endpoint, &["send"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start send");
    send.stdin
        .take()
        .expect("stdin")
        .write_all(b"first\n\nthird line\r\n")
        .expect("write");
    assert!(wait_timeout(&mut send).success());
    let output = output_within(listener);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "first\n\nthird line\n"
    );
}

#[test]
fn a_silent_socat_style_reader_gets_plain_lines() {
    // The same as `socat - UNIX-CONNECT:...` or `nc -U ...`, with no tool installed.
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let reader = UnixStream::connect(&endpoint).expect("connect");
    hub.wait_for_joins(1);
    hub.type_lines(&["hello, plain tools".to_owned()]);
    let mut line = String::new();
    BufReader::new(reader)
        .read_line(&mut line)
        .expect("read line");
    assert_eq!(line, "hello, plain tools\n");
}
