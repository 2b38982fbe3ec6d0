//! The real `pipehub.exe` and `pipehub-client.exe` over a Windows named pipe: many
//! listener processes and a read-only line reader (what .NET's `PipeDirection.In` client
//! does) receive every message in order, a second hub on the same pipe is refused, and a
//! listener started before its hub waits for it. CI runs these under Wine
//! (`.ci/windows`), with the binaries built beforehand (`PIPEHUB_TEST_PREBUILT`).
#![cfg(windows)]

use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::Duration,
};

use pipehub_tests::{HubProcess, Lines, binary, client, output_within, wait_timeout};

/// Listener processes started at once: enough that some find every instance of the
/// pipe busy and must retry.
const LISTENERS: usize = 24;
const TYPED: usize = 300;
const SENT: usize = 20;
const TOTAL: usize = TYPED + SENT;

/// A pipe name no other test (or test run) uses.
fn pipe_name(what: &str) -> String {
    format!(r"\\.\pipe\pipehub-e2e-{}-{what}", std::process::id())
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts the read-only line reader on `endpoint`.
fn line_reader(endpoint: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_line-reader"))
        .arg(endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start line-reader")
}

#[test]
fn every_listener_and_a_read_only_reader_receive_every_message_in_order() {
    let endpoint = pipe_name("fanout");
    let mut hub = HubProcess::start(&endpoint, &["--exit-on-eof"]);
    let count = TOTAL.to_string();
    let listeners: Vec<Child> = (0..LISTENERS)
        .map(|_| {
            client(
                &endpoint,
                &["listen", "--format", "plain", "--count", &count],
            )
            .spawn()
            .expect("start pipehub-client listen")
        })
        .collect();
    let mut reader = line_reader(&endpoint);
    let reader_lines = Lines::spawn(reader.stdout.take().expect("reader stdout"));
    hub.wait_for_joins(LISTENERS + 1);

    // The operator types; the reader shows when all of it is out.
    let typed: Vec<String> = (0..TYPED).map(|i| format!("typed {i:04}")).collect();
    hub.type_lines(&typed);
    for expected in &typed {
        assert_eq!(reader_lines.next().as_ref(), Some(expected));
    }
    // Then a publisher sends, one message per line of its stdin.
    let sent: Vec<String> = (0..SENT).map(|i| format!("sent {i:02}")).collect();
    let mut sender = client(&endpoint, &["send"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start pipehub-client send");
    let mut stdin = sender.stdin.take().expect("sender stdin");
    stdin
        .write_all(format!("{}\n", sent.join("\n")).as_bytes())
        .expect("write to the sender");
    drop(stdin);
    let out = output_within(sender);
    assert!(out.status.success(), "send failed: {}", stderr_of(&out));
    for expected in &sent {
        assert_eq!(reader_lines.next().as_ref(), Some(expected));
    }

    let expected: String = typed
        .iter()
        .chain(&sent)
        .map(|line| format!("{line}\n"))
        .collect();
    for (i, listener) in listeners.into_iter().enumerate() {
        let out = output_within(listener);
        assert!(
            out.status.success(),
            "listener {i} exited with {:?}: {}",
            out.status,
            stderr_of(&out)
        );
        assert!(
            stdout_of(&out) == expected,
            "listener {i} printed something else than every message in order:\n{}",
            stdout_of(&out)
        );
    }

    // End of the operator's input: the hub says goodbye, the reader sees the end of the
    // pipe, and both exit cleanly.
    hub.close_stdin();
    assert!(hub.wait().success(), "the hub exits 0");
    assert!(wait_timeout(&mut reader).success(), "the reader exits 0");
    assert_eq!(reader_lines.rest(), Vec::<String>::new(), "nothing more");
}

#[test]
fn a_second_hub_on_the_same_pipe_is_refused_and_the_first_serves_on() {
    let endpoint = pipe_name("second");
    let hub = HubProcess::start(&endpoint, &["--exit-on-eof"]);
    let second = Command::new(binary("pipehub"))
        .args(["--endpoint", &endpoint])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second pipehub");
    let out = output_within(second);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("another hub is already serving {endpoint}")),
        "{}",
        stderr_of(&out)
    );
    let out = output_within(client(&endpoint, &["send", "still here"]).spawn().unwrap());
    assert!(out.status.success(), "{}", stderr_of(&out));
    hub.stdout.until(|line| line.contains("still here"));
}

#[test]
fn a_listener_started_before_the_hub_waits_for_it() {
    let endpoint = pipe_name("wait");
    let mut listener = client(
        &endpoint,
        &[
            "--wait", "60", "listen", "--format", "plain", "--count", "1",
        ],
    )
    .spawn()
    .expect("start pipehub-client listen");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        listener.try_wait().expect("try_wait").is_none(),
        "no hub yet: the listener waits"
    );
    let mut hub = HubProcess::start(&endpoint, &["--exit-on-eof"]);
    hub.wait_for_joins(1);
    hub.type_lines(&["at last".to_owned()]);
    let out = output_within(listener);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "at last\n");
}

#[test]
fn without_a_hub_the_client_says_so_and_exits_3() {
    let endpoint = pipe_name("nobody");
    let out = output_within(client(&endpoint, &["send", "anyone?"]).spawn().unwrap());
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("no hub at"), "{}", stderr_of(&out));
}
