//! Whatever a client chooses (its name, its words) reaches the hub's output without
//! breaking a line, forging one of the hub's, or driving a terminal: escaped in text
//! written to a pipe or a file, and kept whole inside JSON strings with --log-format json.
#![cfg(unix)]

use std::{io::Write, os::unix::net::UnixStream, path::Path};

use pipehub_protocol::{Frame, Hello, Role};
use pipehub_tests::{HubProcess, Scratch};

/// A name that tries to end the hub's line and start one of its own, and to clear the
/// operator's screen.
const FORGING_NAME: &str = "x\r\n[client 1 (admin) says] \u{1b}[2J";
/// Words that try the same.
const FORGING_WORDS: &[u8] = b"hi\x07\n[client 1 (admin) says] shut down now\x1b]0;owned\x07";

/// Joins as a listener named [`FORGING_NAME`], says [`FORGING_WORDS`] to the operator,
/// and leaves.
fn forge(endpoint: &str) {
    let mut hello = Hello::new(Role::Listener);
    hello.name = FORGING_NAME.into();
    let mut stream = UnixStream::connect(endpoint).expect("connect");
    stream
        .write_all(&Frame::Hello(hello).to_bytes())
        .expect("HELLO");
    stream
        .write_all(&Frame::Send(FORGING_WORDS.to_vec().into()).to_bytes())
        .expect("SEND");
    // The hub has taken it once the client's leaving is on the console.
    std::thread::sleep(std::time::Duration::from_millis(200));
}

#[test]
fn a_client_cannot_forge_lines_in_the_hubs_output_to_a_pipe() {
    let scratch = Scratch::new();
    let hub = HubProcess::start_with_env(
        &scratch.endpoint("hub.sock"),
        &[],
        &[("RUST_LOG", Path::new("debug"))],
    );
    forge(&hub.endpoint);
    let console = [
        hub.stdout.until(|line| line.contains(" joined as ")),
        hub.stdout.until(|line| line.contains(" says]")),
        hub.stdout.until(|line| line.ends_with(" left]")),
    ];
    let log = hub.stderr.until(|line| line.contains("client left"));
    for line in console.iter().chain([&log]) {
        assert!(
            !line.contains(['\u{1b}', '\u{7}', '\r']),
            "a control character reached the output: {line:?}"
        );
    }
    assert!(
        console[0].contains(r"x\r\n[client 1 (admin) says] \u{1b}[2J"),
        "the name is shown escaped on one line: {:?}",
        console[0]
    );
    assert!(
        console[1].contains(r"hi\u{7}\n[client 1 (admin) says] shut down now"),
        "the words are shown escaped on one line: {:?}",
        console[1]
    );
    assert!(log.contains(r"x\r\n[client 1 (admin) says]"), "{log:?}");
}

#[test]
fn json_output_keeps_a_clients_text_whole_inside_its_strings() {
    let scratch = Scratch::new();
    let hub = HubProcess::start_with_env(
        &scratch.endpoint("hub.sock"),
        &["--log-format", "json"],
        &[("RUST_LOG", Path::new("debug"))],
    );
    let parse = |line: String| -> serde_json::Value {
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    };
    forge(&hub.endpoint);
    let joined = parse(
        hub.stdout
            .until(|line| line.contains(r#""event":"joined""#)),
    );
    assert_eq!(joined["name"], FORGING_NAME);
    let said = parse(
        hub.stdout
            .until(|line| line.contains(r#""event":"message""#)),
    );
    assert_eq!(
        said["text"],
        String::from_utf8_lossy(FORGING_WORDS).as_ref()
    );
    let left = parse(hub.stdout.until(|line| line.contains(r#""event":"left""#)));
    assert_eq!(left["name"], FORGING_NAME);
    let log = parse(hub.stderr.until(|line| line.contains("client left")));
    assert_eq!(log["name"], FORGING_NAME);
    assert_eq!(log["level"], "DEBUG");
    assert!(log["timestamp"].is_string());
}
