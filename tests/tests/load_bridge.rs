//! `pipehub-client load --spread`: the load tool's listeners spread over three real hubs
//! bridged through a real `nats-server`, the publishers on the first. Every delivery to
//! the other two hubs crosses the bridge, so a report with nothing lost says the bridge
//! carried every message to every listener. The bridged benchmark is `bench/bridge.sh`,
//! not a test.
#![cfg(unix)]

use std::process::Command;

use pipehub_tests::{HubProcess, Scratch, binary, nats::NatsServer};
use serde_json::Value;

const CLIENTS: u64 = 6;
const MESSAGES: u64 = 200;

/// Three hubs bridged through one NATS server, each with its bridge connected.
struct Bridged {
    // Dropped in this order: the hubs before the NATS server they use.
    hubs: [HubProcess; 3],
    _nats: NatsServer,
    scratch: Scratch,
}

impl Bridged {
    fn start() -> Bridged {
        let nats = NatsServer::start();
        let scratch = Scratch::new();
        let hubs = nats.connected_hubs(&scratch, ["hub-a", "hub-b", "hub-c"]);
        Bridged {
            hubs,
            _nats: nats,
            scratch,
        }
    }
}

/// `pipehub-client --endpoint ENDPOINT load ARGS...`, run to the end.
fn load(endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary("pipehub-client"))
        .args(["--endpoint", endpoint, "load"])
        .args(args)
        .output()
        .expect("run pipehub-client load")
}

/// Runs `load --endpoint A --spread B,C` with `extra` arguments over `bridged`; checks
/// the table says so and returns the one run of the JSON report.
fn load_spread(bridged: &Bridged, extra: &[&str]) -> Value {
    let json = bridged.scratch.dir.path().join("report.json");
    let others = format!("{},{}", bridged.hubs[1].endpoint, bridged.hubs[2].endpoint);
    let clients = CLIENTS.to_string();
    let messages = MESSAGES.to_string();
    let json_arg = json.display().to_string();
    let mut args = vec![
        "--spread",
        &others,
        "--clients",
        &clients,
        "--messages",
        &messages,
        "--json",
        &json_arg,
    ];
    args.extend_from_slice(extra);
    let output = load(&bridged.hubs[0].endpoint, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "load failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("listeners spread over 3 bridged hubs"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report exists");
    let report: Value = serde_json::from_str(&text).expect("the JSON report is JSON");
    let runs = report["points"][0]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{report}");
    runs[0].clone()
}

/// Checks that every listener received every message, on whichever hub.
fn assert_complete(run: &Value) {
    assert_eq!(run["hubs"], 3, "{run}");
    assert_eq!(run["connect"]["listeners"], CLIENTS, "{run}");
    assert_eq!(run["delivery"]["published"], MESSAGES, "{run}");
    assert_eq!(run["delivery"]["delivered"], CLIENTS * MESSAGES, "{run}");
    assert_eq!(run["loss"]["lost"], 0, "{run}");
    assert_eq!(run["loss"]["unexplained_gaps"], 0, "{run}");
    assert_eq!(run["loss"]["unfinished_listeners"], 0, "{run}");
    assert_eq!(run["latency_us"]["count"], CLIENTS * MESSAGES, "{run}");
}

/// Checks that each hub delivered the measured messages to its share of the listeners
/// (two each): the listeners really were spread, and the bridge carried the messages.
fn assert_each_hub_served_its_share(bridged: &Bridged) {
    let share = CLIENTS / bridged.hubs.len() as u64;
    for hub in &bridged.hubs {
        let status = hub.status();
        // Warm-up and end markers are deliveries too, hence "at least".
        assert!(
            status["stats"]["deliveries"]
                .as_u64()
                .is_some_and(|n| n >= share * MESSAGES),
            "{}: {}",
            hub.endpoint,
            status["stats"]
        );
    }
}

#[test]
fn listeners_spread_over_three_bridged_hubs_receive_every_message() {
    let bridged = Bridged::start();
    assert_complete(&load_spread(&bridged, &[]));
    assert_each_hub_served_its_share(&bridged);
}

#[test]
fn listeners_in_worker_processes_spread_over_bridged_hubs_too() {
    let bridged = Bridged::start();
    assert_complete(&load_spread(&bridged, &["--procs", "2"]));
    assert_each_hub_served_its_share(&bridged);
}

#[test]
fn spread_with_a_spawned_hub_is_a_usage_error() {
    let scratch = Scratch::new();
    let output = load(
        &scratch.endpoint("a.sock"),
        &["--spawn-hub", "--spread", &scratch.endpoint("b.sock")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--spread"), "{stderr}");
}
