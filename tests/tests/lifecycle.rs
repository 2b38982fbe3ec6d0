//! The hub and client binaries as a user meets them: starting, refusing to start,
//! stopping, and the errors they print.
#![cfg(unix)]

use std::{
    os::unix::net::UnixListener,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use pipehub_tests::{HubProcess, Scratch, binary, client, output_within};

#[test]
fn sigterm_says_bye_to_every_client_removes_the_socket_and_exits_zero() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    let listener = client(&endpoint, &["listen", "--format", "plain"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    hub.type_lines(&["before shutdown".to_owned()]);
    std::thread::sleep(Duration::from_millis(200));
    hub.terminate();
    assert_eq!(hub.wait().code(), Some(0));
    assert!(!Path::new(&endpoint).exists(), "socket file removed");
    let output = output_within(listener);
    assert_eq!(output.status.code(), Some(0), "a listener told BYE exits 0");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "before shutdown\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("shutdown"),
        "listener reports the BYE: {stderr}"
    );
}

#[test]
fn a_second_hub_on_a_live_endpoint_refuses_and_the_first_keeps_serving() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut first = HubProcess::start(&endpoint, &[]);
    let second = Command::new(binary("pipehub"))
        .args(["--endpoint", &endpoint])
        .stdin(Stdio::null())
        .output()
        .expect("run second hub");
    assert_eq!(second.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("another hub is already serving {endpoint}")),
        "{stderr}"
    );
    assert!(stderr.contains("--endpoint"), "names the fix: {stderr}");

    let listener = client(&endpoint, &["listen", "--format", "plain", "--count", "1"])
        .spawn()
        .expect("listener");
    first.wait_for_joins(1);
    first.type_lines(&["first hub still here".to_owned()]);
    let output = output_within(listener);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "first hub still here\n"
    );
}

#[test]
fn a_stale_socket_file_is_recovered() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    drop(UnixListener::bind(&endpoint).expect("leave a stale socket"));
    assert!(Path::new(&endpoint).exists());
    let mut hub = HubProcess::start(&endpoint, &[]);
    let listener = client(&endpoint, &["listen", "--format", "plain", "--count", "1"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    hub.type_lines(&["served".to_owned()]);
    let output = output_within(listener);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "served\n");
}

#[test]
fn end_of_input_keeps_serving_unless_exit_on_eof() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &[]);
    hub.close_stdin();
    hub.stderr
        .until(|line| line.contains("operator input closed"));
    let listener = client(&endpoint, &["listen", "--format", "plain", "--count", "1"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    let status = client(&endpoint, &["send", "after eof"])
        .status()
        .expect("send");
    assert!(status.success());
    let output = output_within(listener);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "after eof\n");
    assert!(
        hub.child.try_wait().expect("try_wait").is_none(),
        "still serving"
    );
}

#[test]
fn exit_on_eof_delivers_everything_then_stops() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut hub = HubProcess::start(&endpoint, &["--exit-on-eof"]);
    let listener = client(&endpoint, &["listen", "--format", "plain"])
        .spawn()
        .expect("listener");
    hub.wait_for_joins(1);
    let lines: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    hub.type_lines(&lines);
    hub.close_stdin();
    assert_eq!(hub.wait().code(), Some(0));
    let output = output_within(listener);
    assert!(output.status.success());
    let got: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(got, lines);
    assert!(!Path::new(&endpoint).exists());
}

#[test]
fn a_client_with_no_hub_says_how_to_start_one() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("nobody.sock");
    let output = client(&endpoint, &["listen"]).output().expect("run listen");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("no hub at {endpoint}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pipehub --endpoint {endpoint}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_client_told_to_wait_connects_when_the_hub_comes_up() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("later.sock");
    let listener = client(
        &endpoint,
        &[
            "--wait", "30", "listen", "--format", "plain", "--count", "1",
        ],
    )
    .spawn()
    .expect("listener");
    std::thread::sleep(Duration::from_millis(500));
    let mut hub = HubProcess::start(&endpoint, &[]);
    hub.wait_for_joins(1);
    hub.type_lines(&["worth the wait".to_owned()]);
    let output = output_within(listener);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "worth the wait\n");
}

#[test]
fn a_wrong_argument_is_a_usage_error() {
    let output = Command::new(binary("pipehub"))
        .args(["--queue", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run pipehub");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--queue"), "{stderr}");
}

#[test]
fn an_empty_endpoint_is_a_usage_error_for_both_programs() {
    for program in ["pipehub", "pipehub-client"] {
        let mut command = Command::new(binary(program));
        command.args(["--endpoint", ""]);
        if program == "pipehub-client" {
            command.arg("listen");
        }
        let output = command
            .env_remove("PIPEHUB_ENDPOINT")
            .stdin(Stdio::null())
            .output()
            .expect("run the program");
        assert_eq!(output.status.code(), Some(2), "{program}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("the endpoint is empty"),
            "{program}: {stderr}"
        );
    }
}
