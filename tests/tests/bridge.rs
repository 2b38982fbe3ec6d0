//! Hubs bridged through a real NATS server (`pipehub --bridge`): real `pipehub`
//! processes on their own endpoints, Debian's `nats-server` on 127.0.0.1, and real
//! `pipehub-client` listeners and publishers.
#![cfg(unix)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use bytes::Bytes;
use pipehub_protocol::{
    ClientId, Frame, Hello, HubInstance, Origin, Role, Seq, bridge::BridgeMessage,
};
use pipehub_tests::{
    ClientProcess, HubProcess, PATIENCE, Scratch, client, nats::NatsServer, output_within,
};
use serde_json::Value;

/// Long enough for a message that is going to arrive to have arrived.
const SETTLE: Duration = Duration::from_millis(700);

/// A `listen --format json` client named `name` on `hub`, once the hub has it.
fn listener(hub: &HubProcess, name: &str) -> ClientProcess {
    let listener = ClientProcess::spawn(client(
        &hub.endpoint,
        &["listen", "--format", "json", "--name", name],
    ));
    hub.stdout
        .until(|line| line.contains(&format!("({name}) joined as listener")));
    listener
}

/// The next message `listener` printed.
fn next_message(listener: &ClientProcess) -> Value {
    let line = listener.stdout.next().expect("a message");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Fails if `listener` prints anything more within [`SETTLE`].
fn assert_nothing_more(listener: &ClientProcess) {
    if let Some(line) = listener.stdout.until_within(SETTLE, |_| true) {
        panic!("an unexpected message: {line}");
    }
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i}")).collect()
}

/// Reads one message per body from `listener`: the bodies in order, with consecutive
/// sequence numbers, each from the hub named `origin` (`None`: broadcast on the
/// listener's own hub). Returns the messages.
fn assert_receives(
    listener: &ClientProcess,
    bodies: &[String],
    origin: Option<&str>,
) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    for body in bodies {
        let message = next_message(listener);
        assert_eq!(message["body"], body.as_str(), "{message}");
        if let Some(previous) = messages.last() {
            assert_eq!(
                message["seq"].as_u64(),
                previous["seq"].as_u64().map(|seq| seq + 1),
                "not the next sequence number: {message} after {previous}"
            );
        }
        match origin {
            None => assert!(message.get("origin").is_none(), "{message}"),
            Some(hub) => assert_eq!(message["origin"]["hub"], hub, "{message}"),
        }
        messages.push(message);
    }
    messages
}

#[test]
fn a_line_typed_on_one_hub_reaches_every_listener_on_three_hubs_once_in_order() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let mut hubs = nats.connected_hubs(&scratch, ["hub-a", "hub-b", "hub-c"]);
    let listeners: Vec<(usize, ClientProcess)> = (0..hubs.len())
        .flat_map(|h| [(h, 0), (h, 1)])
        .map(|(h, i)| (h, listener(&hubs[h], &format!("l{h}{i}"))))
        .collect();

    let lines = numbered("line", 50);
    hubs[0].type_lines(&lines);

    for (h, listener) in &listeners {
        let origin = (*h != 0).then_some("hub-a");
        let messages = assert_receives(listener, &lines, origin);
        if origin.is_some() {
            for (i, message) in messages.iter().enumerate() {
                assert_eq!(message["origin"]["seq"], i as u64 + 1, "{message}");
                assert_eq!(message["origin"]["sender"], 0, "the operator: {message}");
            }
        }
    }
    for (_, listener) in &listeners {
        assert_nothing_more(listener);
    }
    assert_eq!(hubs[0].status()["bridge"]["published"], 50);
    for hub in &hubs[1..] {
        let bridge = hub.status()["bridge"].clone();
        assert_eq!(bridge["received"], 50, "{bridge}");
        assert_eq!(bridge["duplicates"], 0, "{bridge}");
    }
}

/// A listener written before `ORIGIN` existed, from the protocol's section 9: it knows
/// the frame types up to `STATUS` (0x89) and skips any other hub frame. Returns the
/// `(seq, body)` of the next `n` broadcasts it reads.
fn read_like_an_old_client(stream: &mut UnixStream, n: usize) -> Vec<(u64, String)> {
    let mut broadcasts = Vec::new();
    while broadcasts.len() < n {
        let mut length = [0; 4];
        stream.read_exact(&mut length).expect("a frame's length");
        let mut frame = vec![0; u32::from_be_bytes(length) as usize];
        stream.read_exact(&mut frame).expect("the frame");
        match frame[0] {
            0x83 => broadcasts.push((
                u64::from_be_bytes(frame[1..9].try_into().expect("seq")),
                String::from_utf8_lossy(&frame[25..]).into_owned(),
            )),
            0x81 | 0x84 | 0x85 | 0x88 | 0x89 => {}
            0x82 | 0x86 | 0x87 => panic!("the hub ended the session: {frame:?}"),
            unknown => assert!(unknown >= 0x80, "not a hub frame: {unknown:#x}"),
        }
    }
    broadcasts
}

#[test]
fn listeners_that_predate_origin_and_text_listeners_get_bridged_messages() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let [mut a, b] = nats.connected_hubs(&scratch, ["hub-a", "hub-b"]);
    let mut old = UnixStream::connect(&b.endpoint).expect("connect");
    old.set_read_timeout(Some(PATIENCE)).expect("timeout");
    old.write_all(&Frame::Hello(Hello::new(Role::Listener).with_name("old")).to_bytes())
        .expect("HELLO");
    b.stdout
        .until(|line| line.contains("(old) joined as listener"));
    let text = UnixStream::connect(&b.endpoint).expect("connect");
    text.set_read_timeout(Some(PATIENCE)).expect("timeout");
    b.stdout.until(|line| line.contains("joined as text"));

    let lines = numbered("over the bridge", 3);
    a.type_lines(&lines);

    let got = read_like_an_old_client(&mut old, 3);
    let bodies: Vec<&str> = got.iter().map(|(_, body)| body.as_str()).collect();
    assert_eq!(bodies, lines, "every message, in order");
    assert_eq!(
        got.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "consecutive local sequence numbers: no gap for an old client"
    );
    let mut text = BufReader::new(text);
    for line in &lines {
        let mut received = String::new();
        text.read_line(&mut received).expect("a line");
        assert_eq!(received, format!("{line}\n"));
    }
}

#[test]
fn a_publisher_on_one_hub_reaches_the_listeners_of_the_others() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let hubs = nats.connected_hubs(&scratch, ["hub-a", "hub-b", "hub-c"]);
    let on_a = listener(&hubs[0], "on-a");
    let on_b = listener(&hubs[1], "on-b");
    let on_c = listener(&hubs[2], "on-c");

    let sent = output_within(
        client(&hubs[1].endpoint, &["send", "--name", "pub", "from b"])
            .spawn()
            .expect("send"),
    );
    assert!(sent.status.success(), "{sent:?}");

    let body = ["from b".to_owned()];
    let local = assert_receives(&on_b, &body, None);
    let publisher = local[0]["sender"].as_u64().expect("sender");
    assert_ne!(publisher, 0, "a publisher, not the operator");
    for remote in [&on_a, &on_c] {
        let message = &assert_receives(remote, &body, Some("hub-b"))[0];
        assert_eq!(message["origin"]["sender"], publisher, "{message}");
        assert_eq!(message["sender"], ClientId::REMOTE.0, "{message}");
    }
}

#[test]
fn a_late_listener_replays_bridged_messages_with_their_origin() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let [mut a, b] = nats.connected_hubs(&scratch, ["hub-a", "hub-b"]);
    let on_b = listener(&b, "on-b");
    let lines = numbered("history", 3);
    a.type_lines(&lines);
    assert_receives(&on_b, &lines, Some("hub-a"));

    let late = output_within(
        client(
            &b.endpoint,
            &["listen", "--format", "json", "--last", "2", "--count", "2"],
        )
        .spawn()
        .expect("listen --last"),
    );
    assert!(late.status.success(), "{late:?}");
    let replayed: Vec<Value> = String::from_utf8_lossy(&late.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(replayed.len(), 2, "{replayed:?}");
    for (message, (seq, body)) in replayed.iter().zip([(2, &lines[1]), (3, &lines[2])]) {
        assert_eq!(message["seq"], seq, "{message}");
        assert_eq!(message["body"], body.as_str(), "{message}");
        assert_eq!(message["origin"]["hub"], "hub-a", "{message}");
        assert_eq!(message["origin"]["seq"], seq, "{message}");
    }
}

#[test]
fn broadcasts_cross_the_bridge_once_and_never_loop_back() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let mut hubs = nats.connected_hubs(&scratch, ["hub-a", "hub-b", "hub-c"]);
    let on_c = listener(&hubs[2], "on-c");
    let from_a = numbered("a", 5);
    let from_b = numbered("b", 5);
    hubs[0].type_lines(&from_a);
    assert_receives(&on_c, &from_a, Some("hub-a"));
    hubs[1].type_lines(&from_b);
    assert_receives(&on_c, &from_b, Some("hub-b"));
    std::thread::sleep(SETTLE);

    // Every hub broadcast each of the ten messages once: none came back as an echo.
    for (hub, published) in hubs.iter().zip([5, 5, 0]) {
        let report = hub.status();
        assert_eq!(report["stats"]["broadcasts"], 10, "{report}");
        assert_eq!(report["bridge"]["published"], published, "{report}");
        assert_eq!(report["bridge"]["received"], 10 - published, "{report}");
        assert_eq!(report["bridge"]["duplicates"], 0, "{report}");
    }
    assert_nothing_more(&on_c);
}

#[test]
fn hubs_serve_their_clients_while_nats_is_down_and_the_bridge_recovers() {
    let mut nats = NatsServer::start();
    let scratch = Scratch::new();
    let [mut a, mut b] = nats.connected_hubs(&scratch, ["hub-a", "hub-b"]);
    let on_a = listener(&a, "on-a");
    let on_b = listener(&b, "on-b");
    a.type_lines(&["before".to_owned()]);
    assert_receives(&on_b, &["before".to_owned()], Some("hub-a"));

    nats.stop();
    a.wait_for_bridge("down");
    b.wait_for_bridge("down");
    let during = ["during".to_owned()];
    a.type_lines(&during);
    b.type_lines(&["local on b".to_owned()]);
    assert_receives(&on_a, &["before".to_owned(), during[0].clone()], None);
    assert_receives(&on_b, &["local on b".to_owned()], None);
    let late = listener(&b, "late-on-b");
    b.type_lines(&["still serving".to_owned()]);
    assert_receives(&late, &["still serving".to_owned()], None);
    assert_receives(&on_b, &["still serving".to_owned()], None);
    let bridge = a.wait_for_bridge("down");
    assert_eq!(bridge["not_bridged"], 1, "{bridge}");
    assert_eq!(bridge["outages"], 1, "{bridge}");

    std::thread::sleep(Duration::from_secs(2));
    nats.restart();
    a.wait_for_bridge("connected");
    b.wait_for_bridge("connected");
    // The subscriptions are renewed just after the reconnection: probe until one lands.
    let mut landed = None;
    for probe in 1..=20 {
        a.type_lines(&[format!("after {probe}")]);
        if let Some(line) = on_b.stdout.until_within(Duration::from_secs(1), |_| true) {
            landed = Some(line);
            break;
        }
    }
    let landed: Value = serde_json::from_str(&landed.expect("the bridge recovered")).expect("json");
    assert!(
        landed["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("after ")),
        "{landed}"
    );
    assert_eq!(landed["origin"]["hub"], "hub-a", "{landed}");
    // The outage was logged once as it began and once as it ended, not once per
    // reconnect attempt (there were several in the seconds it lasted).
    drop(on_a);
    a.terminate();
    a.wait();
    let log = a.stderr.rest();
    let count = |words: &str| log.iter().filter(|line| line.contains(words)).count();
    assert_eq!(count("lost the NATS server"), 1, "{log:#?}");
    assert_eq!(count("reconnected to the NATS server"), 1, "{log:#?}");
}

#[test]
fn garbage_and_repeats_on_the_subject_are_dropped_and_counted() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let [mut hub] = nats.connected_hubs(&scratch, ["hub-a"]);
    let on_a = listener(&hub, "on-a");
    let message = |seq: u64, body: &'static [u8]| {
        let origin = Origin {
            hub_instance: HubInstance(0x5eed),
            seq: Seq(seq),
            sender: ClientId(4),
            hub_name: "far".into(),
        };
        let broadcast = pipehub_protocol::broadcast_frame(Seq(seq), ClientId(4), 1, body);
        BridgeMessage::encode(&origin, &broadcast)
    };
    let subject = "pipehub.broadcast";
    nats.publish(subject, b"GET / HTTP/1.1");
    nats.publish(subject, &message(1, b"one"));
    nats.publish(subject, &message(1, b"one"));
    nats.publish(subject, &Bytes::from(vec![0xff; 40]));
    nats.publish(subject, &message(2, b"two"));

    assert_receives(&on_a, &["one".to_owned(), "two".to_owned()], Some("far"));
    assert_nothing_more(&on_a);
    let bridge = hub.status()["bridge"].clone();
    assert_eq!(bridge["received"], 2, "{bridge}");
    assert_eq!(bridge["duplicates"], 1, "{bridge}");
    assert_eq!(bridge["rejected"], 2, "{bridge}");
    hub.stderr
        .until(|line| line.contains("dropped a message that is not a pipehub broadcast"));
    hub.type_lines(&["still fine".to_owned()]);
    assert_receives(&on_a, &["still fine".to_owned()], None);
}

#[test]
fn a_message_nats_refuses_is_counted_not_bridged_and_the_next_goes_through() {
    let scratch = Scratch::new();
    let config = scratch.dir.path().join("nats.conf");
    std::fs::write(&config, "max_payload: 512\n").expect("write nats.conf");
    let nats = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]);
    let [mut a, b] = nats.connected_hubs(&scratch, ["hub-a", "hub-b"]);
    let on_a = listener(&a, "on-a");
    let on_b = listener(&b, "on-b");

    let big = "x".repeat(600);
    let lines = [big.clone(), "small".to_owned()];
    a.type_lines(&lines);
    assert_receives(&on_a, &lines, None);
    assert_receives(&on_b, &["small".to_owned()], Some("hub-a"));
    let complaint = a
        .stderr
        .until(|line| line.contains("broadcast 1 not bridged"));
    assert!(
        complaint.contains("max_payload"),
        "names the fix: {complaint}"
    );
    let bridge = a.status()["bridge"].clone();
    assert_eq!(bridge["not_bridged"], 1, "{bridge}");
    assert_eq!(bridge["published"], 1, "{bridge}");
}

#[test]
fn a_hub_started_before_nats_serves_and_bridges_once_nats_is_up() {
    // A port with nothing behind it: a server started and stopped again.
    let mut nats = NatsServer::start();
    nats.stop();
    let scratch = Scratch::new();
    let mut hub = nats.bridged_hub(&scratch, "early");
    hub.stderr
        .until(|line| line.contains("cannot reach the NATS server"));
    let on_hub = listener(&hub, "local");
    hub.type_lines(&["local only".to_owned()]);
    assert_receives(&on_hub, &["local only".to_owned()], None);
    let bridge = hub.wait_for_bridge("connecting");
    assert_eq!(bridge["not_bridged"], 1, "{bridge}");
    assert_eq!(bridge["published"], 0, "{bridge}");

    nats.restart();
    let late = nats.bridged_hub(&scratch, "late");
    hub.wait_for_bridge("connected");
    late.wait_for_bridge("connected");
    let on_late = listener(&late, "on-late");
    hub.type_lines(&["bridged now".to_owned()]);
    assert_receives(&on_late, &["bridged now".to_owned()], Some("early"));
    assert_eq!(hub.wait_for_bridge("connected")["published"], 1);
}

#[test]
fn credentials_come_from_the_environment_and_never_reach_the_log() {
    let token = "s3cret-token-4711";
    let nats = NatsServer::start_with(&["--auth", token]);
    let scratch = Scratch::new();
    let args = ["--bridge", &nats.url()];
    let good = HubProcess::start_with_env(
        &scratch.endpoint("good.sock"),
        &args,
        &[("PIPEHUB_BRIDGE_TOKEN", Path::new(token))],
    );
    good.wait_for_bridge("connected");
    let mut bad = HubProcess::start_with_env(
        &scratch.endpoint("bad.sock"),
        &args,
        &[("PIPEHUB_BRIDGE_TOKEN", Path::new("wrong-token-0815"))],
    );
    let complaint = bad
        .stderr
        .until(|line| line.contains("bridge:") && line.to_lowercase().contains("authorization"));
    assert!(
        complaint.contains("--bridge-token"),
        "names the fix: {complaint}"
    );
    assert_eq!(bad.wait_for_bridge("connecting")["state"], "connecting");
    bad.terminate();
    bad.wait();
    let log = bad.stderr.rest().join("\n") + &complaint;
    assert!(!log.contains("wrong-token-0815"), "{log}");
    let help = output_within(
        std::process::Command::new(pipehub_tests::binary("pipehub"))
            .arg("--help")
            .env("PIPEHUB_BRIDGE_TOKEN", token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("help"),
    );
    assert!(!String::from_utf8_lossy(&help.stdout).contains(token));
}

#[test]
fn a_list_of_servers_is_tried_until_one_answers() {
    let mut gone = NatsServer::start();
    gone.stop();
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let servers = format!("{}, {}", gone.url(), nats.url());
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &["--bridge", &servers]);
    let bridge = hub.wait_for_bridge("connected");
    assert_eq!(bridge["url"], servers.replace(' ', ""), "{bridge}");
}

#[test]
fn a_user_and_password_from_the_environment_are_used_and_never_logged() {
    let nats = NatsServer::start_with(&["--user", "bob", "--pass", "s3cret-pass-4711"]);
    let scratch = Scratch::new();
    let mut hub = HubProcess::start_with_env(
        &scratch.endpoint("hub.sock"),
        &["--bridge", &nats.url()],
        &[
            ("PIPEHUB_BRIDGE_USER", Path::new("bob")),
            ("PIPEHUB_BRIDGE_PASSWORD", Path::new("s3cret-pass-4711")),
        ],
    );
    hub.wait_for_bridge("connected");
    hub.terminate();
    hub.wait();
    let log = hub.stderr.rest().join("\n");
    assert!(!log.contains("s3cret-pass-4711"), "{log}");
}

#[test]
fn bad_bridge_arguments_are_usage_errors_that_say_what_to_give() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    for (args, says) in [
        (
            &["--bridge", "nats://h:4222", "--bridge-subject", "a.*"][..],
            "not a NATS subject",
        ),
        (&["--bridge-token", "x"][..], "--bridge"),
        (
            &["--bridge", "nats://h:4222", "--hub-name", &"n".repeat(65)][..],
            "at most 64",
        ),
        (
            &["--bridge", "nats://h:4222", "--bridge-user", "bob"][..],
            "--bridge-password",
        ),
    ] {
        let output = output_within(
            std::process::Command::new(pipehub_tests::binary("pipehub"))
                .arg("--endpoint")
                .arg(&endpoint)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("pipehub"),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
