//! `pipehub --metrics`: the real hub serves Prometheus metrics over HTTP on loopback, and
//! a scraper sees the counters move as broadcasts go out: clients by role, broadcasts,
//! bytes and deliveries, refusals by reason, the log's occupancy.
#![cfg(unix)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pipehub_tests::{
    HubProcess, Lines, PATIENCE, Scratch, client, nats::NatsServer, output_within,
};

/// One scrape: every sample, keyed by its name and labels as written
/// (`pipehub_clients{role="listener"}`).
struct Scrape(HashMap<String, f64>);

impl Scrape {
    /// `GET /metrics` at `address`, with a plain HTTP/1.1 request.
    fn take(address: &str) -> Scrape {
        let mut stream = TcpStream::connect(address).expect("connect to the metrics endpoint");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("send the request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "not the Prometheus text format: {head}"
        );
        let samples = body
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .filter_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                Some((key.to_owned(), value.parse().ok()?))
            })
            .collect();
        Scrape(samples)
    }

    /// The value of `key`, which the scrape must have.
    fn get(&self, key: &str) -> f64 {
        *self
            .0
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in {:?}", self.0))
    }
}

/// The `HOST:PORT` the hub says it serves metrics at.
fn metrics_address(hub: &HubProcess) -> String {
    let line = hub
        .stderr
        .until(|line| line.starts_with("pipehub: metrics at http://"));
    line.trim_start_matches("pipehub: metrics at http://")
        .trim_end_matches("/metrics")
        .to_owned()
}

/// Starts `pipehub-client listen --format plain` and collects what it prints.
fn listener(endpoint: &str) -> (Child, Lines) {
    let mut child = client(endpoint, &["listen", "--format", "plain"])
        .spawn()
        .expect("start a listener");
    let lines = Lines::spawn(child.stdout.take().expect("stdout"));
    (child, lines)
}

#[test]
fn metrics_follow_broadcasts_deliveries_and_refusals() {
    let scratch = Scratch::new();
    let endpoint = scratch.endpoint("hub.sock");
    // Room for two listeners and one publisher: a fourth client is refused.
    let mut hub = HubProcess::start(
        &endpoint,
        &["--metrics", "127.0.0.1:0", "--max-clients", "3"],
    );
    let address = metrics_address(&hub);

    let before = Scrape::take(&address);
    assert_eq!(before.get("pipehub_broadcasts_total"), 0.0);
    assert_eq!(before.get("pipehub_deliveries_total"), 0.0);
    assert_eq!(before.get("pipehub_clients{role=\"listener\"}"), 0.0);
    assert_eq!(before.get("pipehub_log_capacity_broadcasts"), 4096.0);
    assert!(
        !before.0.keys().any(|key| key.starts_with("pipehub_bridge")),
        "no bridge metrics without --bridge"
    );

    let (mut first, first_lines) = listener(&endpoint);
    let (mut second, second_lines) = listener(&endpoint);
    hub.wait_for_joins(2);
    let joined = Scrape::take(&address);
    assert_eq!(joined.get("pipehub_clients{role=\"listener\"}"), 2.0);
    assert_eq!(joined.get("pipehub_clients{role=\"publisher\"}"), 0.0);

    // Three operator lines: 3 broadcasts, 11 bytes, 6 deliveries once both have them.
    hub.type_lines(&["one".into(), "two".into(), "three".into()]);
    for lines in [&first_lines, &second_lines] {
        lines.until(|line| line == "three");
    }
    let typed = Scrape::take(&address);
    assert_eq!(typed.get("pipehub_broadcasts_total"), 3.0);
    assert_eq!(typed.get("pipehub_broadcast_bytes_total"), 11.0);
    assert_eq!(typed.get("pipehub_deliveries_total"), 6.0);
    assert_eq!(typed.get("pipehub_log_retained_broadcasts"), 3.0);
    assert_eq!(typed.get("pipehub_lagged_clients"), 0.0);
    assert_eq!(typed.get("pipehub_missed_broadcasts"), 0.0);
    assert_eq!(typed.get("pipehub_listeners_stalled"), 0.0);
    assert_eq!(typed.get("pipehub_publishers_paused"), 0.0);
    assert_eq!(typed.get("pipehub_publishers_paused_seconds_total"), 0.0);

    // A publisher streams 500 messages; scrapes meanwhile only ever see the counters
    // grow, up to the total. Its stdin stays open, so it stays connected.
    const STREAMED: usize = 500;
    let mut publisher = client(&endpoint, &["send"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start a publisher");
    let mut feed = publisher.stdin.take().expect("publisher stdin");
    let mut text = String::new();
    for i in 0..STREAMED {
        text.push_str(&format!("message {i}\n"));
    }
    feed.write_all(text.as_bytes()).expect("feed the publisher");
    feed.flush().expect("flush the publisher's stdin");
    let total = (3 + STREAMED) as f64;
    let deadline = Instant::now() + PATIENCE;
    let mut last = typed;
    loop {
        let now = Scrape::take(&address);
        for counter in [
            "pipehub_broadcasts_total",
            "pipehub_broadcast_bytes_total",
            "pipehub_deliveries_total",
        ] {
            assert!(
                now.get(counter) >= last.get(counter),
                "{counter} went down: {} after {}",
                now.get(counter),
                last.get(counter)
            );
        }
        let done = now.get("pipehub_deliveries_total") == 2.0 * total;
        last = now;
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never reached 2 x {total}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(last.get("pipehub_broadcasts_total"), total);
    assert_eq!(last.get("pipehub_clients{role=\"publisher\"}"), 1.0);

    // A fourth client while three are connected: refused, counted as "hub full".
    let refused = output_within(
        client(&endpoint, &["send", "one too many"])
            .spawn()
            .expect("start send"),
    );
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    let full = Scrape::take(&address);
    assert_eq!(
        full.get("pipehub_refused_connections_total{reason=\"hub_full\"}"),
        1.0
    );
    assert_eq!(
        full.get("pipehub_refused_connections_total{reason=\"not_permitted\"}"),
        0.0
    );
    assert_eq!(full.get("pipehub_clients{role=\"listener\"}"), 2.0);
    assert_eq!(full.get("pipehub_broadcasts_total"), total);

    drop(feed);
    let sent = output_within(publisher);
    assert!(sent.status.success(), "send failed: {sent:?}");
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn bridge_metrics_count_what_crosses_the_bridge() {
    let nats = NatsServer::start();
    let scratch = Scratch::new();
    let bridged = |name: &str| {
        HubProcess::start(
            &scratch.endpoint(&format!("{name}.sock")),
            &[
                "--bridge",
                &nats.url(),
                "--hub-name",
                name,
                "--metrics",
                "127.0.0.1:0",
            ],
        )
    };
    let mut a = bridged("hub-a");
    let b = bridged("hub-b");
    let (a_metrics, b_metrics) = (metrics_address(&a), metrics_address(&b));
    let deadline = Instant::now() + PATIENCE;
    while Scrape::take(&a_metrics).get("pipehub_bridge_up") != 1.0
        || Scrape::take(&b_metrics).get("pipehub_bridge_up") != 1.0
    {
        assert!(Instant::now() < deadline, "the bridge did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut on_b, on_b_lines) = listener(&b.endpoint);
    b.wait_for_joins(1);
    a.type_lines(&["one".into(), "two".into()]);
    on_b_lines.until(|line| line == "two");

    let a_scrape = Scrape::take(&a_metrics);
    let outcome = |scrape: &Scrape, outcome: &str| {
        scrape.get(&format!(
            "pipehub_bridge_messages_total{{outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(outcome(&a_scrape, "published"), 2.0);
    assert_eq!(outcome(&a_scrape, "not_bridged"), 0.0);
    assert_eq!(a_scrape.get("pipehub_bridge_outages_total"), 0.0);
    let b_scrape = Scrape::take(&b_metrics);
    assert_eq!(outcome(&b_scrape, "received"), 2.0);
    assert_eq!(outcome(&b_scrape, "duplicate"), 0.0);
    assert_eq!(b_scrape.get("pipehub_broadcasts_total"), 2.0);
    let _ = on_b.kill();
    let _ = on_b.wait();
}
