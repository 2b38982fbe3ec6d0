//! `pipehub-client load` is run by the `pipehub-load` program next to it: what the user
//! sees of the handover is what the load tool says and its exit code, and a client
//! installed without the load tool says how to get it.
#![cfg(unix)]

use std::process::Command;

use pipehub_tests::{Scratch, binary};

#[test]
fn the_load_tools_errors_reach_the_user_through_the_handover() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("nobody.sock");
    let output = Command::new(binary("pipehub-client"))
        .args(["--endpoint", &endpoint, "load", "--clients", "1"])
        .output()
        .expect("run pipehub-client load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // No hub: exit 3, as for every other command.
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("pipehub-client: error: ")
            && stderr.contains(&format!("no hub at {endpoint}")),
        "{stderr}"
    );
}

#[test]
fn a_client_without_the_load_program_next_to_it_says_how_to_get_it() {
    let scratch = Scratch::new();
    // A copy of the client alone in a directory: no pipehub-load beside it.
    let alone = scratch.dir.path().join("pipehub-client");
    std::fs::copy(binary("pipehub-client"), &alone).expect("copy pipehub-client");
    let output = Command::new(&alone)
        .args(["load", "--clients", "1"])
        .output()
        .expect("run the copied pipehub-client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pipehub-load"), "{stderr}");
    assert!(
        stderr.contains("cargo install --locked --path load"),
        "{stderr}"
    );
}
