//! The JSON report of `pipehub-client load --spawn-hub` names the hub it measured: the
//! endpoint the spawned hubs served, not the default endpoint nobody measured.
#![cfg(unix)]

use std::process::Command;

use pipehub_tests::{Scratch, binary};
use serde_json::Value;

#[test]
fn a_spawned_hubs_report_names_the_endpoint_it_measured() {
    let scratch = Scratch::new();
    let json = scratch.dir.path().join("report.json");
    // The default endpoint, were it used: a path of this test's own.
    let default = scratch.endpoint("pipehub.sock");
    let output = Command::new(binary("pipehub-client"))
        .args(["load", "--spawn-hub", "--sweep", "1,2", "--messages", "20"])
        .arg("--json")
        .arg(&json)
        .env("XDG_RUNTIME_DIR", scratch.dir.path())
        .env_remove("PIPEHUB_ENDPOINT")
        .output()
        .expect("run pipehub-client load");
    assert!(
        output.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("JSON");

    let endpoint = report["config"]["endpoint"]
        .as_str()
        .expect("config.endpoint");
    assert_ne!(endpoint, default, "the report names the unused default");
    let points = report["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    for point in points {
        let measured = &point["runs"][0];
        assert_eq!(measured["target"], "hub");
        assert_eq!(
            measured["endpoint"], endpoint,
            "the hub of N={} served elsewhere",
            point["clients"]
        );
    }
}
