//! A bounded smoke run of `pipehub-client load`: the real load tool starts the real hub
//! (and, once, the raw baseline), and its JSON report must show every delivery made and
//! nothing lost. Small N and a few hundred messages, so it takes seconds; the full
//! benchmark grid is `bench/fanout.sh`, not a test.
#![cfg(unix)]

use std::process::Command;
use std::time::{Duration, Instant};

use pipehub_tests::{Scratch, binary};
use serde_json::Value;

const CLIENTS: u64 = 20;
const MESSAGES: u64 = 200;

/// How long one smoke run may take; it normally takes about a second.
const BUDGET: Duration = Duration::from_secs(20);

/// Runs `pipehub-client load --spawn-hub` with `extra` arguments; returns the JSON
/// report.
fn run_load(extra: &[&str]) -> Value {
    let scratch = Scratch::new();
    let json = scratch.dir.path().join("report.json");
    let started = Instant::now();
    let output = Command::new(binary("pipehub-client"))
        .args(["load", "--spawn-hub", "--clients"])
        .arg(CLIENTS.to_string())
        .arg("--messages")
        .arg(MESSAGES.to_string())
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .expect("run pipehub-client load");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "load failed: {stderr}");
    assert!(elapsed < BUDGET, "load took {elapsed:?}: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("deliveries/s"),
        "no table on stdout: {stdout}"
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report exists");
    serde_json::from_str(&text).expect("the JSON report is JSON")
}

/// Checks one target's run: every listener connected, every delivery made, no loss.
fn assert_complete(run: &Value) {
    let target = &run["target"];
    assert_eq!(run["connect"]["listeners"], CLIENTS, "{target}: listeners");
    assert_eq!(
        run["delivery"]["published"], MESSAGES,
        "{target}: published"
    );
    assert_eq!(
        run["delivery"]["delivered"],
        CLIENTS * MESSAGES,
        "{target}: deliveries"
    );
    assert_eq!(run["loss"]["lost"], 0, "{target}: lost");
    assert_eq!(run["loss"]["unexplained_gaps"], 0, "{target}: gaps");
    assert_eq!(
        run["loss"]["unfinished_listeners"], 0,
        "{target}: unfinished"
    );
    assert!(
        run["delivery"]["per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{target}: deliveries/s"
    );
    assert_eq!(
        run["latency_us"]["count"],
        CLIENTS * MESSAGES,
        "{target}: latencies"
    );
    // How hard the tool worked, and who set the pace, for every run.
    let tool = &run["tool"];
    assert!(
        tool["receiver_threads"].as_u64().is_some_and(|t| t >= 1),
        "{target}: {tool}"
    );
    for share in ["receivers_busy", "publisher_busy"] {
        assert!(
            tool[share]
                .as_f64()
                .is_some_and(|s| (0.0..=1.0).contains(&s)),
            "{target}: {share} in {tool}"
        );
    }
    let limit = tool["limit"].as_str().unwrap_or_default();
    assert!(
        ["target", "receivers", "publisher", "rate"].contains(&limit),
        "{target}: {tool}"
    );
    if tool["receivers_busy"]
        .as_f64()
        .is_some_and(|busy| busy >= 0.9)
    {
        assert_eq!(limit, "receivers", "{target}: {tool}");
    }
}

#[test]
fn load_against_a_spawned_hub_delivers_everything() {
    let report = run_load(&[]);
    let points = report["points"].as_array().expect("points");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["clients"], CLIENTS);
    let runs = points[0]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["target"], "hub");
    assert_complete(&runs[0]);
    assert!(points[0]["ratios"].is_null());
    if cfg!(target_os = "linux") {
        let memory = &runs[0]["memory"];
        assert!(memory["rss_idle_bytes"].as_u64().is_some_and(|b| b > 0));
        assert!(memory["bytes_per_idle_listener"].is_number());
        assert!(runs[0]["cpu"]["total_seconds"].is_number());
    }
}

#[test]
fn a_paced_run_says_the_rate_set_the_pace_not_the_tool() {
    // 200 messages at 400/s: half a second in which nobody is saturated.
    let report = run_load(&["--rate", "400"]);
    let run = &report["points"][0]["runs"][0];
    assert_complete(run);
    let tool = &run["tool"];
    assert_eq!(tool["limit"], "rate", "{tool}");
    assert!(
        tool["receivers_busy"]
            .as_f64()
            .is_some_and(|busy| busy < 0.5),
        "{tool}"
    );
}

#[test]
fn load_with_the_raw_baseline_reports_both_and_their_ratio() {
    let report = run_load(&["--baseline", "raw", "--procs", "2", "--publishers", "2"]);
    let point = &report["points"][0];
    let runs = point["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["target"], "hub");
    assert_eq!(runs[1]["target"], "raw");
    for run in runs {
        assert_complete(run);
    }
    assert!(point["ratios"]["deliveries_per_second"].is_number());
}

#[test]
fn publishers_keep_no_window_of_their_own_where_the_target_paces_them() {
    // A stock hub waits for its listeners, and so does the raw baseline: a window of the
    // tool's would only add its own round trip to every batch.
    let report = run_load(&["--baseline", "raw"]);
    for run in report["points"][0]["runs"].as_array().expect("runs") {
        assert_complete(run);
        assert_eq!(run["delivery"]["window"], 0, "{}", run["target"]);
    }
}

#[test]
fn publishers_stay_half_the_queue_ahead_of_a_hub_that_skips() {
    // 200 messages through a queue of 64: without the window, listeners would lose some.
    let report = run_load(&["--hub-arg=--when-behind=skip", "--hub-arg=--queue=64"]);
    let run = &report["points"][0]["runs"][0];
    assert_complete(run);
    assert_eq!(run["delivery"]["window"], 32);
}

/// The CPUs this process may run on, as `/proc/self/status` lists them.
#[cfg(target_os = "linux")]
fn own_cpus() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_owned()
}

#[cfg(target_os = "linux")]
#[test]
fn the_targets_run_on_the_cpus_given_and_the_tool_on_the_others() {
    let cpus = own_cpus();
    // The last CPU of the list ("0-1" -> 1, "0,2" -> 2, "3" -> 3).
    let last = cpus.rsplit([',', '-']).next().expect("a CPU").to_owned();
    if cpus == last {
        // One CPU: nothing would be left for the tool, and it says so.
        let output = Command::new(binary("pipehub-client"))
            .args(["load", "--spawn-hub", "--clients", "2", "--messages", "10"])
            .args(["--target-cpus", &last])
            .output()
            .expect("run pipehub-client load");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("leaves no CPU for the tool"), "{stderr}");
        return;
    }
    let report = run_load(&["--baseline", "raw", "--target-cpus", &last]);
    let runs = report["points"][0]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_complete(run);
        assert_eq!(run["tool"]["target_cpus"], last.as_str(), "{}", run["tool"]);
    }
}

#[test]
fn target_cpus_without_a_started_target_is_a_usage_error() {
    let output = Command::new(binary("pipehub-client"))
        .args([
            "load",
            "--endpoint",
            "/nonexistent/hub.sock",
            "--target-cpus",
            "0",
        ])
        .output()
        .expect("run pipehub-client load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--spawn-hub"), "{stderr}");
}
