//! The `pipehub-client` binary against a scripted fake hub: what it prints, and its exit
//! codes.

#![cfg(unix)]

mod common;

use std::process::{Output, Stdio};

use bytes::Bytes;
use common::{
    FakeHub, INSTANCE, broadcast, direct, missing_endpoint, origin, remote_broadcast, welcome,
};
use pipehub_client::protocol::{
    ByeReason, ClientId, Frame, Hello, HubInstance, RefuseCode, Role, Seq, Welcome,
};
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

/// What `listen` says, and its exit code, for an endpoint no hub could serve.
async fn listen_to_unusable(endpoint: &str) -> String {
    let output = run(endpoint, &["listen"], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with(&format!("pipehub-client: error: no hub at {endpoint}: ")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("start one"),
        "a hub could not serve it: {stderr}"
    );
    assert!(!stderr.contains("I/O error"), "{stderr}");
    stderr
}

#[tokio::test]
async fn a_socket_path_too_long_is_named_with_the_limit() {
    let (dir, _) = missing_endpoint();
    let path = dir.path().join(format!("{}.sock", "x".repeat(120)));
    let endpoint = path.to_string_lossy().into_owned();
    let stderr = listen_to_unusable(&endpoint).await;
    assert!(
        stderr.contains(&format!(
            "the path is {} bytes, longer than the {} bytes a Unix socket address holds; \
             pass a shorter endpoint",
            endpoint.len(),
            pipehub_client::transport::max_socket_path()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_directory_is_named_instead_of_suggesting_a_hub_there() {
    let (dir, _) = missing_endpoint();
    let missing = dir.path().join("nonexist").join("dir");
    let endpoint = missing.join("hub.sock").to_string_lossy().into_owned();
    let stderr = listen_to_unusable(&endpoint).await;
    assert!(
        stderr.contains(&format!("directory {} does not exist", missing.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_named() {
    let (_dir, path) = missing_endpoint();
    std::fs::write(&path, b"not a socket").expect("write a regular file");
    let endpoint = path.to_string_lossy().into_owned();
    let stderr = listen_to_unusable(&endpoint).await;
    assert!(
        stderr.contains(&format!("{endpoint} exists and is not a socket")),
        "{stderr}"
    );

    // A path under that file: its "directory" is the file.
    let below = path.join("hub.sock").to_string_lossy().into_owned();
    let stderr = listen_to_unusable(&below).await;
    assert!(
        stderr.contains(&format!("{endpoint} is not a directory")),
        "{stderr}"
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

/// What `listen --format json --count 1` prints when a fake hub welcomes it and sends
/// `frames`; the listener must exit 0.
async fn listen_json_to(frames: Vec<Frame>) -> String {
    let endpoint = FakeHub::welcoming_and_sending(0, frames);
    let output = run(
        &endpoint,
        &["listen", "--format", "json", "--count", "1"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn listen_json_prints_one_object_per_line() {
    assert_eq!(
        listen_json_to(vec![broadcast(1, "hi")]).await,
        "{\"seq\":1,\"sender\":3,\"timestamp_us\":1700000000000000,\"body\":\"hi\"}\n"
    );
}

#[tokio::test]
async fn listen_json_prints_the_origin_of_a_message_from_another_hub() {
    assert_eq!(
        listen_json_to(vec![Frame::Origin(origin(12)), remote_broadcast(1, "hi")]).await,
        "{\"seq\":1,\"sender\":18446744073709551615,\"origin\":{\"hub\":\"hub-a\",\"instance\":\"0123456789abcdef\",\"seq\":12,\"sender\":9},\"timestamp_us\":1700000000000000,\"body\":\"hi\"}\n"
    );
}

/// #11 "a", a `LAGGED` of 5 (#12 to #16), then #17 "b".
fn a_lag_after_11() -> Vec<Frame> {
    vec![
        broadcast(11, "a"),
        Frame::Lagged {
            missed: 5,
            next_seq: Seq(17),
        },
        broadcast(17, "b"),
    ]
}

#[tokio::test]
async fn listen_reports_lag_and_gaps_on_stderr() {
    let mut frames = a_lag_after_11();
    frames.push(broadcast(19, "c"));
    let endpoint = FakeHub::welcoming_and_sending(10, frames);

    let output = run(&endpoint, &["listen", "--count", "3"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"a\nb\nc\n");
    assert_eq!(
        stderr(&output),
        "pipehub-client: missed 5 messages; continuing at #17\n\
         pipehub-client: warning: sequence gap: expected #18, got #19 (1 message lost without notice)\n"
    );
}

/// The `seq` of every line that has one: what a consumer that only reads broadcasts sees.
fn seqs(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value.get("seq").and_then(serde_json::Value::as_u64))
        .collect()
}

#[tokio::test]
async fn listen_json_prints_a_lag_as_an_event_line_where_it_happened() {
    let endpoint = FakeHub::welcoming_and_sending(10, a_lag_after_11());

    let output = run(
        &endpoint,
        &["listen", "--format", "json", "--count", "2"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[1],
        "{\"event\":\"lagged\",\"missed\":5,\"next_seq\":17}"
    );
    assert_eq!(seqs(&stdout), [11, 17]);
    assert_eq!(
        stderr(&output),
        "pipehub-client: missed 5 messages; continuing at #17\n",
        "the notice stays"
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

#[tokio::test]
async fn an_empty_endpoint_is_a_usage_error_not_the_default_hub() {
    // Whether the default hub is up or not, an empty endpoint must not reach it.
    for (args, variable) in [
        (&["--endpoint", "", "listen"][..], None),
        (&["listen"][..], Some("")),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipehub-client"));
        command.args(args).env_remove("PIPEHUB_ENDPOINT");
        if let Some(value) = variable {
            command.env("PIPEHUB_ENDPOINT", value);
        }
        let output = command.output().await.expect("run pipehub-client");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("the endpoint is empty"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test]
async fn listen_prints_direct_messages_without_counting_them() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        for _ in 0..3 {
            let (mut side, _) = hub.accept_welcomed(0).await;
            side.send_all([broadcast(1, "one"), direct("just you"), broadcast(2, "two")])
                .await;
            side.recv().await;
        }
    });

    let plain = run(&endpoint, &["listen", "--count", "2"], b"").await;
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(plain.stdout, b"one\njust you\ntwo\n");

    let pretty = run(
        &endpoint,
        &["listen", "--count", "2", "--format", "pretty"],
        b"",
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&pretty.stdout),
        "22:13:20.000 #1 <client 3> one\n\
         22:13:20.000 direct from operator: just you\n\
         22:13:20.000 #2 <client 3> two\n"
    );

    let json = run(
        &endpoint,
        &["listen", "--count", "2", "--format", "json"],
        b"",
    )
    .await;
    let lines: Vec<String> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[1],
        "{\"direct\":true,\"sender\":0,\"timestamp_us\":1700000000000000,\"body\":\"just you\"}"
    );
}

#[tokio::test]
async fn listen_last_asks_for_the_last_k() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, hello) = hub.accept_welcomed(50).await;
        // Holds only 48 to 50 of the last 10 asked for: no loss to report.
        side.send_all([broadcast(48, "a"), broadcast(49, "b"), broadcast(50, "c")])
            .await;
        side.recv().await;
        hello
    });

    let output = run(&endpoint, &["listen", "--last", "10", "--count", "3"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"a\nb\nc\n");
    assert_eq!(stderr(&output), "");
    let hello = server.await.expect("hub task");
    assert_eq!(hello.last, Some(10));
    assert_eq!(hello.resume, None);
}

/// Accepts the next client, checks it is a listener and welcomes it as `welcome` says.
async fn session(hub: &FakeHub, welcome: Welcome) -> (common::HubSide, Hello) {
    let (side, hello) = hub.accept_with(welcome).await;
    assert_eq!(hello.role, Role::Listener);
    (side, hello)
}

#[tokio::test]
async fn listen_reconnects_and_resumes_after_the_last_message_printed() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, first) = session(&hub, welcome(10)).await;
        side.send_all([broadcast(11, "a"), broadcast(12, "b")])
            .await;
        drop(side); // the connection is lost, without BYE
        let (mut side, second) = session(&hub, welcome(14)).await;
        // The hub resumes exactly after 12, then goes on live.
        side.send_all([broadcast(13, "c"), broadcast(14, "d"), broadcast(15, "e")])
            .await;
        side.recv().await;
        (first, second)
    });

    let output = run(
        &endpoint,
        &["listen", "--reconnect", "--count", "5", "--name", "tail"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        output.stdout, b"a\nb\nc\nd\ne\n",
        "each message once, in order"
    );
    let stderr = stderr(&output);
    assert!(
        stderr.contains("lost the connection to the hub at"),
        "{stderr}"
    );
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(stderr.contains("going on after #12"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    let (first, second) = server.await.expect("hub task");
    assert_eq!(first.resume, None);
    assert_eq!(second.resume, Some((INSTANCE, Seq(12))));
    assert_eq!(second.name, "tail");
    assert_eq!(
        second.last,
        Some(u32::MAX),
        "asks a new instance for all it holds"
    );
}

#[tokio::test]
async fn listen_reconnect_waits_for_the_first_hub() {
    let (dir, path) = missing_endpoint();
    let endpoint = path.to_string_lossy().into_owned();
    let server = tokio::spawn(async move {
        // Long enough for several attempts, backing off.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let hub = FakeHub::bind_at(dir, &path);
        let (mut side, hello) = session(&hub, welcome(0)).await;
        side.send(broadcast(1, "first")).await;
        side.recv().await;
        hello
    });

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "1"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"first\n");
    assert_eq!(
        stderr(&output),
        format!(
            "pipehub-client: no hub at {endpoint} (start one with: pipehub --endpoint \
             {endpoint}); waiting for it (--reconnect)\n\
             pipehub-client: connected to the hub at {endpoint} (as client 7)\n"
        ),
        "one notice while waiting"
    );
    let hello = server.await.expect("hub task");
    assert_eq!(hello.resume, None, "a first session resumes nothing");
}

#[tokio::test]
async fn listen_reconnect_does_not_wait_for_a_path_no_hub_can_serve() {
    let (_dir, path) = missing_endpoint();
    std::fs::write(&path, b"").expect("write a regular file");
    let endpoint = path.to_string_lossy().into_owned();

    let output = run(&endpoint, &["listen", "--reconnect"], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("exists and is not a socket"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn listen_resumes_after_the_welcome_when_nothing_was_printed() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (side, _) = session(&hub, welcome(30)).await;
        drop(side);
        let (mut side, second) = session(&hub, welcome(31)).await;
        side.send(broadcast(31, "x")).await;
        side.recv().await;
        second
    });

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "1"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"x\n");
    let second = server.await.expect("hub task");
    assert_eq!(second.resume, Some((INSTANCE, Seq(30))));
}

#[tokio::test]
async fn listen_reports_a_lag_announced_after_a_resume() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = session(&hub, welcome(0)).await;
        side.send(broadcast(1, "a")).await;
        drop(side);
        let (mut side, _) = session(&hub, welcome(900)).await;
        // The hub no longer holds 2 to 400.
        side.send_all([
            Frame::Lagged {
                missed: 399,
                next_seq: Seq(401),
            },
            broadcast(401, "b"),
        ])
        .await;
        side.recv().await;
    });

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "2"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"a\nb\n");
    let stderr = stderr(&output);
    assert!(
        stderr.contains("missed 399 messages; continuing at #401"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// A hub that sends #1 and #2 and goes; then, restarted as instance 0x5678 with six
/// broadcasts of which it no longer holds #1 and #2, welcomes the listener back and sends
/// #3 and #4. Returns the listener's second `HELLO`.
async fn restart_under_a_listener(hub: &FakeHub) -> Hello {
    let (mut side, _) = session(hub, welcome(0)).await;
    side.send_all([broadcast(1, "old 1"), broadcast(2, "old 2")])
        .await;
    drop(side);
    let restarted = Welcome {
        hub_instance: HubInstance(0x5678),
        client_id: ClientId(1),
        ..welcome(6)
    };
    let (mut side, second) = session(hub, restarted).await;
    side.send_all([broadcast(3, "new 3"), broadcast(4, "new 4")])
        .await;
    side.recv().await;
    second
}

#[tokio::test]
async fn listen_says_when_the_hub_is_a_new_instance() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move { restart_under_a_listener(&hub).await });

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "4"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"old 1\nold 2\nnew 3\nnew 4\n");
    let stderr = stderr(&output);
    assert!(stderr.contains("new hub instance"), "{stderr}");
    assert!(
        stderr.contains("Messages the previous instance broadcast after #2 may have been lost"),
        "{stderr}"
    );
    assert!(stderr.contains("how many cannot be known"), "{stderr}");
    assert!(
        stderr.contains("missed 2 messages of the new hub instance (#1 to #2)"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    let second = server.await.expect("hub task");
    assert_eq!(second.resume, Some((INSTANCE, Seq(2))));
    assert_eq!(second.last, Some(u32::MAX));
}

#[tokio::test]
async fn listen_json_marks_a_new_hub_instance_and_its_missed_messages() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move { restart_under_a_listener(&hub).await });

    let output = run(
        &endpoint,
        &["listen", "--reconnect", "--format", "json", "--count", "4"],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let events: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("{\"event\""))
        .collect();
    assert_eq!(
        events,
        [
            "{\"event\":\"new_instance\",\"instance\":\"0000000000005678\",\
             \"previous\":\"0000000000001234\"}",
            "{\"event\":\"lagged\",\"missed\":2,\"next_seq\":3}",
        ]
    );
    // Where they happened: after the old instance's broadcasts, before the new one's.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[2], events[0], "{stdout}");
    assert_eq!(lines[3], events[1], "{stdout}");
    assert_eq!(seqs(&stdout), [1, 2, 3, 4]);
    let stderr = stderr(&output);
    assert!(stderr.contains("new hub instance"), "{stderr}");
    assert!(
        stderr.contains("missed 2 messages of the new hub instance"),
        "{stderr}"
    );
}

#[tokio::test]
async fn listen_reconnects_after_a_bye_for_shutdown() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        let (mut side, _) = session(&hub, welcome(0)).await;
        side.send_all([
            broadcast(1, "before"),
            Frame::Bye {
                reason: ByeReason::SHUTDOWN,
                text: "restarting".into(),
            },
        ])
        .await;
        drop(side);
        let (mut side, _) = session(&hub, welcome(1)).await;
        side.send(broadcast(2, "after")).await;
        side.recv().await;
    });

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "2"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"before\nafter\n");
    let stderr = stderr(&output);
    assert!(stderr.contains("shutdown: restarting"), "{stderr}");
    assert!(stderr.contains("going on after #1"), "{stderr}");
}

#[tokio::test]
async fn listen_does_not_reconnect_when_kicked() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (mut side, _) = session(&hub, welcome(0)).await;
            side.send_all([
                broadcast(1, "x"),
                Frame::Bye {
                    reason: ByeReason::KICKED,
                    text: "enough".into(),
                },
            ])
            .await;
        }
    });

    let output = run(&endpoint, &["listen", "--reconnect"], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"x\n");
    let stderr_text = stderr(&output);
    assert!(stderr_text.contains("kicked: enough"), "{stderr_text}");
    assert!(!stderr_text.contains("reconnect"), "{stderr_text}");

    let output = run(&endpoint, &["listen", "--reconnect", "--count", "2"], b"").await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

#[tokio::test]
async fn listen_gives_up_on_a_silent_hub() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        // Takes the keepalive PING and answers nothing.
        let probe = side.recv().await;
        side.recv().await;
        probe
    });

    let output = run(&endpoint, &["listen", "--keepalive", "0.2"], b"").await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!("the hub at {endpoint} sent nothing for")),
        "{stderr}"
    );
    assert!(matches!(
        server.await.expect("hub task"),
        Some(Frame::Ping(_))
    ));
}

#[tokio::test]
async fn send_answers_the_hubs_ping() {
    let hub = FakeHub::bind();
    let endpoint = hub.endpoint();
    let server = tokio::spawn(async move {
        let (mut side, _) = hub.accept_welcomed(0).await;
        side.send(Frame::Ping(77)).await;
        let mut frames = Vec::new();
        loop {
            match side.recv().await {
                Some(Frame::Ping(nonce)) => {
                    side.send(Frame::Pong(nonce)).await;
                    return frames;
                }
                Some(frame) => frames.push(frame),
                None => panic!("closed before the final PING"),
            }
        }
    });

    let output = run(&endpoint, &["send"], b"one\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let frames = server.await.expect("hub task");
    assert!(frames.contains(&Frame::Pong(77)), "{frames:?}");
    assert!(
        frames.contains(&Frame::Send(Bytes::from_static(b"one"))),
        "{frames:?}"
    );
}
