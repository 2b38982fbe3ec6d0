//! `pipehub-client listen --reconnect` started before the real hub: it waits for the hub,
//! backing off as it does between reconnections, says so once, and prints what the hub
//! broadcasts once it is up.
#![cfg(unix)]

use std::time::Duration;

use pipehub_tests::{ClientProcess, HubProcess, Scratch, client};

#[test]
fn a_listener_that_reconnects_waits_for_the_first_hub() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    let mut listener = ClientProcess::spawn(client(
        &endpoint,
        &["listen", "--reconnect", "--format", "plain", "--count", "1"],
    ));
    let waiting = listener
        .stderr
        .until(|line| line.contains("waiting for it"));
    assert!(
        waiting.contains(&format!("no hub at {endpoint}")),
        "{waiting}"
    );
    // Several attempts go by, backing off, without another notice or an exit.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        listener.child.try_wait().expect("try_wait").is_none(),
        "the listener gave up"
    );

    let mut hub = HubProcess::start(&endpoint, &[]);
    hub.wait_for_listeners(1);
    hub.type_lines(&["the first message".to_owned()]);
    assert_eq!(listener.stdout.next().as_deref(), Some("the first message"));
    assert!(listener.wait().success());
    let rest = listener.stderr.rest();
    assert!(
        rest.iter().all(|line| !line.contains("waiting")),
        "more than one notice: {rest:?}"
    );
    assert!(
        rest.iter()
            .any(|line| line.contains("connected to the hub")),
        "{rest:?}"
    );
}
