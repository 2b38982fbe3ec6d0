//! The Python client package (`clients/python/`) against the real hub.
//!
//! Its driver program (`clients/python/tests/scenarios.py`) runs from the source tree
//! with `python3`; the scenarios are those every client library passes
//! (`pipehub_tests::clients`), with the blocking client, and with the asyncio client
//! where it does something of its own (many listeners on one event loop, reconnecting
//! from a background task). The package's unit tests check it against the test vectors
//! of docs/protocol.md, and `python -m pipehub` is run as a user would.
#![cfg(unix)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use pipehub_tests::{ClientProcess, HubProcess, Scratch, clients, clients::Driver, output_within};

/// How to get Python on the Debian machines CI runs on.
const INSTALL_PYTHON: &str = "apt-get install -y --no-install-recommends python3";

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python")
}

/// `python3`, failing with the fix if it cannot be run.
fn python3() -> Command {
    if let Err(err) = Command::new("python3").arg("--version").output() {
        panic!(
            "`python3` cannot be run ({err}); these tests need Python 3.9 or later: {INSTALL_PYTHON}"
        );
    }
    let mut command = Command::new("python3");
    // No __pycache__ in the source tree.
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

fn driver(listen_flags: &[&str]) -> Driver {
    python3();
    Driver {
        program: vec![
            "python3".into(),
            "-B".into(),
            python_dir().join("tests/scenarios.py").into(),
        ],
        listen_flags: listen_flags.iter().map(|flag| (*flag).to_owned()).collect(),
    }
}

/// `python3 -m pipehub --endpoint ENDPOINT ARGS...` from the source tree.
fn python_m_pipehub(endpoint: &str, args: &[&str]) -> Command {
    let mut command = python3();
    command
        .env("PYTHONPATH", python_dir().join("src"))
        .args(["-m", "pipehub", "--endpoint", endpoint])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn the_python_codec_agrees_with_the_documents_vectors() {
    let output = output_within(
        python3()
            .args([
                "-m",
                "unittest",
                "discover",
                "-s",
                "tests",
                "-p",
                "test_*.py",
            ])
            .current_dir(python_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the unit tests"),
    );
    // unittest reports on stderr.
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("\nOK"), "{report}");
}

#[test]
fn twenty_asyncio_listeners_receive_ten_thousand_broadcasts_in_order() {
    clients::twenty_listeners_receive_ten_thousand_broadcasts_in_order(&driver(&["--asyncio"]));
}

#[test]
fn a_publishers_messages_reach_pipehub_client_listen() {
    clients::a_publishers_messages_reach_pipehub_client_listen(&driver(&[]));
}

#[test]
fn a_stopped_listener_is_told_its_exact_loss() {
    clients::a_stopped_listener_is_told_its_exact_loss(&driver(&[]));
}

#[test]
fn resume_after_a_cut_connection_loses_nothing() {
    clients::resume_after_a_cut_connection_loses_nothing(&driver(&[]));
}

#[test]
fn an_asyncio_listener_resumes_after_a_cut_connection_and_loses_nothing() {
    clients::resume_after_a_cut_connection_loses_nothing(&driver(&["--asyncio"]));
}

#[test]
fn a_restarted_hub_is_announced_and_followed() {
    clients::a_restarted_hub_is_announced_and_followed(&driver(&[]));
}

#[test]
fn a_refused_connection_raises_a_clear_error() {
    clients::a_refused_connection_raises_a_clear_error(&driver(&[]), &[]);
    clients::a_refused_connection_raises_a_clear_error(&driver(&[]), &["--asyncio"]);
}

#[test]
fn a_missing_hub_raises_a_clear_error() {
    clients::a_missing_hub_raises_a_clear_error(&driver(&[]));
}

#[test]
fn the_hubs_bye_ends_the_stream_cleanly() {
    clients::the_hubs_bye_ends_the_stream_cleanly(&driver(&[]));
    clients::the_hubs_bye_ends_the_stream_cleanly(&driver(&["--asyncio"]));
}

#[test]
fn python_m_pipehub_listens_sends_and_asks_for_status() {
    let scratch = Scratch::new();
    let hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let mut listen = ClientProcess::spawn(python_m_pipehub(
        &hub.endpoint,
        &["listen", "--format", "json", "--count", "3"],
    ));
    hub.wait_for_listeners(1);
    let sent = output_within(
        python_m_pipehub(&hub.endpoint, &["send", "one", "two", "three"])
            .spawn()
            .expect("python -m pipehub send"),
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(listen.wait().success(), "listen --count 3 exits 0");
    let bodies: Vec<(u64, String)> = listen
        .stdout
        .rest()
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                value["seq"].as_u64().expect("seq"),
                value["body"].as_str().expect("body").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (1, "one".to_owned()),
            (2, "two".to_owned()),
            (3, "three".to_owned())
        ]
    );

    let status = output_within(
        python_m_pipehub(&hub.endpoint, &["status", "--json"])
            .spawn()
            .expect("python -m pipehub status"),
    );
    assert!(status.status.success());
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(report["stats"]["broadcasts"], 3);
    assert_eq!(report["clients"][0]["id"], report["requested_by"]);

    let nobody = scratch.endpoint("nobody.sock");
    let missing = output_within(
        python_m_pipehub(&nobody, &["status"])
            .spawn()
            .expect("python -m pipehub status"),
    );
    assert_eq!(
        missing.status.code(),
        Some(3),
        "no hub: exit 3, as pipehub-client"
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no hub at"));
}
