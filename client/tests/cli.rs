//! The `pipehub-client` binary against a scripted fake hub: what it prints, and its exit
//! codes.

#![cfg(unix)]

mod common;

use std::process::{Output, Stdio};

use bytes::Bytes;
use common::{FakeHub, broadcast, missing_endpoint};
use pipehub_client::protocol::{ByeReason, ClientId, Frame, RefuseCode, Role, Seq};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs `pipehub-client ARGS` against `endpoint`, with `stdin` as its input.
async fn run(endpoint: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipehub-client"))
        .args(args)
        .arg("--endpoint")
        .arg(endpoint)
        .env_remove("PIPEHUB_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start pipehub-client");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    let output = child.wait_with_output();
    tokio::time::timeout(std::time::Duration::from_secs(20), output)
        .await
        .expect("pipehub-client finished in time")
        .expect("pipehub-client output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn no_hub_exits_3_and_says_how_to_start_one() {
    let (_dir, path) = missing_endpoint();
    let endpoint = path.to_string_lossy().into_owned();

    let output = run(&endpoint, &["listen"], b"").await;
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        format!(
            "pipehub-client: error: no hub at {endpoint} (start one with: pipehub --endpoint {endpoint})\n"
        )
    );
}

#[tokio::test]
async fn refusal_exits_4() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let mut side = hub.accept().await;
        side.expect_hello().await;
        side.send(Frame::Refused {
            code: RefuseCode::HUB_FULL,
            text: "full".into(),
        })
        .await;
    });

    let output = run(&endpoint, &["send", "hi"], b"").await;
    assert_eq!(output.status.code(), Some(4));
    let stderr = stderr(&output);
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(stderr.contains("hub full: full"), "{stderr}");
}

#[tokio::test]
async fn listen_prints_plain_bodies_and_stops_at_count() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, hello) = hub.accept_welcomed(0).await;
        side.send_all([
            broadcast(1, "one"),
            broadcast(2, ""),
            broadcast(3, "three"),
            broadcast(4, "four"),
        ])
        .await;
        side.recv().await;
        hello
    });

    let output = run(
        &endpoint,
        &["listen", "--count", "3", "--name", "tail"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"one\n\nthree\n");
    let hello = server.await.expect("hub task");
    assert_eq!(hello.role, Role::Listener);
    assert_eq!(hello.name, "tail");
}

#[tokio::test]
async fn listen_json_prints_one_object_per_line() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(broadcast(1, "hi")).await;
        side.recv().await;
    });

    let output = run(
        &endpoint,
        &["listen", "--format", "json", "--count", "1"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"seq\":1,\"sender\":3,\"timestamp_us\":1700000000000000,\"body\":\"hi\"}\n"
    );
}

#[tokio::test]
async fn listen_reports_lag_and_gaps_on_stderr() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(10).await;
        side.send_all([
            broadcast(11, "a"),
            Frame::Lagged {
                missed: 5,
                next_seq: Seq(17),
            },
            broadcast(17, "b"),
            broadcast(19, "c"),
        ])
        .await;
        side.recv().await;
    });

    let output = run(&endpoint, &["listen", "--count", "3"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"a\nb\nc\n");
    assert_eq!(
        stderr(&output),
        "pipehub-client: missed 5 messages; continuing at #17\n\
         pipehub-client: warning: sequence gap: expected #18, got #19 (1 message lost without notice)\n"
    );
}

#[tokio::test]
async fn listen_ends_with_0_on_bye_without_count() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([
            broadcast(1, "last words"),
            Frame::Bye {
                reason: ByeReason::SHUTDOWN,
                text: "bye all".into(),
            },
        ])
        .await;
    });

    let output = run(&endpoint, &["listen"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"last words\n");
    assert_eq!(
        stderr(&output),
        "pipehub-client: the hub closed the session: shutdown: bye all\n"
    );
}

#[tokio::test]
async fn listen_exits_5_on_bye_before_count() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send_all([
            broadcast(1, "only one"),
            Frame::Bye {
                reason: ByeReason::KICKED,
                text: String::new(),
            },
        ])
        .await;
    });

    let output = run(&endpoint, &["listen", "--count", "2"], b"").await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert_eq!(output.stdout, b"only one\n");
    let stderr = stderr(&output);
    assert!(
        stderr.contains("the hub closed the session: kicked\n"),
        "{stderr}"
    );
    assert!(stderr.contains("after 1 of 2 messages"), "{stderr}");
}

#[tokio::test]
async fn listen_exits_1_when_the_hub_vanishes() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(broadcast(1, "x")).await;
    });

    let output = run(&endpoint, &["listen"], b"").await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(output.stdout, b"x\n");
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("pipehub-client: error: listening to the hub at "),
        "{stderr}"
    );
    assert!(stderr.contains("without a BYE"), "{stderr}");
}

#[tokio::test]
async fn send_joins_words_into_one_message_and_waits_for_the_hub() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, hello) = hub.accept_welcomed(0).await;
        let (bodies, nonce) = side.recv_until_ping().await;
        side.send(Frame::Pong(nonce)).await;
        (hello, bodies)
    });

    let output = run(&endpoint, &["send", "deploy", "at", "5"], b"ignored\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let (hello, bodies) = server.await.expect("hub task");
    assert_eq!(hello.role, Role::Publisher);
    assert_eq!(bodies, [Bytes::from_static(b"deploy at 5")]);
}

#[tokio::test]
async fn send_without_text_sends_each_stdin_line() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let (bodies, nonce) = side.recv_until_ping().await;
        side.send(Frame::Pong(nonce)).await;
        bodies
    });

    let output = run(&endpoint, &["send"], b"one\r\n\ntwo \xff\nlast").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bodies = server.await.expect("hub task");
    assert_eq!(bodies, [&b"one"[..], b"", b"two \xff", b"last"]);
}

#[tokio::test]
async fn send_fails_when_the_hub_never_confirms() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.recv_until_ping().await;
    });

    let output = run(&endpoint, &["send", "hello"], b"").await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.contains("did not confirm 1 messages"), "{stderr}");
}

#[tokio::test]
async fn send_exits_5_when_kicked_before_confirming() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.recv_until_ping().await;
        side.send(Frame::Bye {
            reason: ByeReason::KICKED,
            text: "spam".into(),
        })
        .await;
    });

    let output = run(&endpoint, &["send", "hello"], b"").await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stderr(&output).contains("kicked: spam"));
}

#[tokio::test]
async fn pretty_format_names_the_sender() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        let Frame::Broadcast(mut b) = broadcast(1, "hi") else {
            unreachable!()
        };
        b.sender = ClientId::OPERATOR;
        side.send(Frame::Broadcast(b)).await;
        side.recv().await;
    });

    let output = run(
        &endpoint,
        &["listen", "--format", "pretty", "--count", "1"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "22:13:20.000 #1 <operator> hi\n"
    );
}

#[tokio::test]
async fn usage_error_exits_2() {
    let (_dir, path) = missing_endpoint();
    let output = run(&path.to_string_lossy(), &["listen", "--count", "0"], b"").await;
    assert_eq!(output.status.code(), Some(2));
}
