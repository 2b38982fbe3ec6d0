//! `pipehub demo` without a terminal: the same hub and listeners, with every line of
//! stdin broadcast and the end of stdin ending the demo.
#![cfg(unix)]

use std::{
    io::Write,
    process::{Command, Stdio},
};

use pipehub_tests::{binary, output_within};

#[test]
fn the_demo_labels_each_listener_and_stops_at_the_end_of_input() {
    let mut demo = Command::new(binary("pipehub"))
        .args(["demo", "--listeners", "2"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let mut stdin = demo.stdin.take().expect("stdin");
    stdin.write_all(b"hello demo\n").expect("type");
    drop(stdin);
    let output = output_within(demo);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for k in [1, 2] {
        assert!(
            stdout.lines().any(|l| {
                l.starts_with(&format!("[listener {k}] "))
                    && l.ends_with("#1 <operator> hello demo")
            }),
            "listener {k} printed the line:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "[listener {k}] pipehub-client: the hub closed the session: shutdown"
            )),
            "listener {k} was told the hub stopped:\n{stdout}"
        );
    }
    let endpoint = stderr
        .split("a hub on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner names the endpoint");
    let dir = std::path::Path::new(endpoint)
        .parent()
        .expect("its directory");
    assert!(!dir.exists(), "{} removed", dir.display());
}

#[test]
fn the_demo_without_pipehub_client_next_to_it_says_where_it_looked() {
    let alone = tempfile::tempdir().expect("tempdir");
    let hub = alone.path().join("pipehub");
    std::fs::copy(binary("pipehub"), &hub).expect("copy pipehub");
    let output = Command::new(&hub)
        .arg("demo")
        .stdin(Stdio::null())
        .output()
        .expect("run the demo");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = alone.path().join("pipehub-client");
    assert!(
        stderr.contains(&format!("{} does not exist", expected.display())),
        "{stderr}"
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_command_lines() {
    for (program, subcommand) in [("pipehub", "demo"), ("pipehub-client", "status")] {
        for shell in ["bash", "zsh", "fish"] {
            let output = Command::new(binary(program))
                .args(["completions", shell])
                .output()
                .expect("completions");
            assert!(output.status.success(), "{program} completions {shell}");
            let script = String::from_utf8_lossy(&output.stdout);
            assert!(script.contains(subcommand), "{program} {shell}: {script}");
        }
        let output = Command::new(binary(program))
            .arg("man")
            .output()
            .expect("man");
        assert!(output.status.success(), "{program} man");
        let page = String::from_utf8_lossy(&output.stdout);
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
        assert!(
            page.contains(&program.replace('-', "\\-")),
            "{program}: {page}"
        );
        // The page is read by anyone: the default endpoint as a rule, not the path
        // computed for whoever generated it.
        let own = pipehub_protocol::endpoint::platform_default().replace('-', "\\-");
        assert!(!page.contains(&own), "{program} man names {own}");
        assert!(page.contains("XDG_RUNTIME_DIR"), "{program}: {page}");
    }
}
