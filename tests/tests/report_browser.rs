//! The HTML load report, looked at in a real browser: a small sweep of the real load tool
//! against the real hub and the raw baseline writes `--report`, Debian's headless
//! Chromium renders it, and the test checks what a person would see: the four charts are
//! in the rendered DOM with lines drawn in them, and the screenshot is a picture, not a
//! blank page.
//!
//! Chromium is required (`apt-get install -y chromium`; .ci/run installs it): without it
//! the test fails and says so, rather than passing without having looked.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pipehub_tests::{Scratch, binary, output_within};
use serde_json::Value;

/// The charts the report must show, by the id of their `<figure>`.
const CHARTS: [&str; 4] = ["deliveries", "latency", "connect", "memory"];

/// Finds Debian's `chromium` on PATH, or fails the test with the command that installs it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "this test renders the load report in a real browser and needs Debian's headless \
             Chromium, which is not installed; install it with \
             `apt-get update && apt-get install -y chromium`"
        )
    })
}

/// Runs headless Chromium on `page` with `mode` (`--dump-dom`, or `--screenshot=PATH`) and
/// a fresh profile; returns what it printed on stdout.
fn render(page: &Path, profile: &Path, mode: &str) -> String {
    let output = output_within(
        Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,2000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(mode)
            .arg(format!("file://{}", page.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium"),
    );
    assert!(
        output.status.success(),
        "chromium {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The markup of the element that starts with `<figure ... id="chart-ID"`, up to its end.
fn figure<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"chart-{id}\"");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("the rendered page has no chart {id}"));
    let end = dom[start..]
        .find("</figure>")
        .map_or(dom.len(), |end| start + end);
    &dom[start..end]
}

/// The most points any `<polyline points="...">` in `markup` has.
fn longest_line(markup: &str) -> usize {
    markup
        .split("<polyline")
        .skip(1)
        .filter_map(|element| {
            let points = element.split("points=\"").nth(1)?;
            let points = &points[..points.find('"')?];
            Some(points.split_whitespace().count())
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn the_html_report_renders_its_charts_in_a_browser() {
    let browser = chromium();
    let scratch = Scratch::new();
    let dir = scratch.dir.path();
    let page = dir.join("report.html");
    let json = dir.join("report.json");

    // A two-point sweep, hub and raw baseline at each: a few seconds. Paced, so that each
    // message is a batch of its own with a send time of its own, and the latency curves
    // have points to draw.
    let output = output_within(
        Command::new(binary("pipehub-client"))
            .args([
                "load",
                "--spawn-hub",
                "--baseline",
                "raw",
                "--sweep",
                "1,20",
                "--messages",
                "100",
                "--rate",
                "1000",
            ])
            .arg("--report")
            .arg(&page)
            .arg("--json")
            .arg(&json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pipehub-client load"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every point in the same table: a row per target per client count...
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| line.split_whitespace().take(2).collect())
        .collect();
    for (target, clients) in [("hub", "1"), ("raw", "1"), ("hub", "20"), ("raw", "20")] {
        assert!(
            rows.iter().any(|row| row[..] == [target, clients]),
            "no row for the {target} at N={clients}: {stdout}"
        );
    }
    // ... and in the same JSON, latency distributions included.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON report")).expect("JSON");
    let points = report["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    for (point, clients) in points.iter().zip([1, 20]) {
        assert_eq!(point["clients"], clients);
        let runs = point["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2, "hub and raw at N={clients}");
        for run in runs {
            assert_eq!(run["delivery"]["delivered"], 100 * clients);
            let distribution = run["latency_us"]["distribution"]
                .as_array()
                .expect("distribution");
            assert!(distribution.len() > 5, "N={clients}: {distribution:?}");
        }
        assert!(point["ratios"]["deliveries_per_second"].is_number());
    }

    // Self-contained: nothing for the browser to fetch.
    let html = std::fs::read_to_string(&page).expect("HTML report");
    for fetch in ["<link", "src=", "@import", "url("] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    assert!(html.contains("id=\"report-data\""), "no embedded data");

    // The DOM after the browser parsed it: four charts, each with lines drawn.
    let dom = render(&page, &dir.join("profile-dom"), "--dump-dom");
    for id in CHARTS {
        let chart = figure(&dom, id);
        assert!(chart.contains("<svg"), "chart {id} has no SVG: {chart}");
        assert!(
            longest_line(chart) >= 2,
            "chart {id} has no line with two points"
        );
    }
    assert!(
        figure(&dom, "deliveries").contains("<circle"),
        "no markers on the deliveries chart"
    );
    // The latency curves are whole percentile distributions, not two points.
    assert!(longest_line(figure(&dom, "latency")) >= 10);
    assert!(
        dom.contains("hub N=20"),
        "no legend entry for a sweep point"
    );

    // The screenshot: 1280 x 2000 pixels of something, not a blank page.
    let screenshot = dir.join("report.png");
    render(
        &page,
        &dir.join("profile-shot"),
        &format!("--screenshot={}", screenshot.display()),
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&screenshot).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("PNG size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG pixels");
    assert_eq!((frame.width, frame.height), (1280, 2000));
    let channels = frame.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected PNG colour type {:?}",
        frame.color_type
    );
    let pixels = &pixels[..frame.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    for pixel in pixels.chunks_exact(channels) {
        colours.insert((pixel[0], pixel[1], pixel[2]));
        if pixel[..3].iter().any(|&c| c < 200) {
            inked += 1;
        }
    }
    let total = pixels.len() / channels;
    assert!(
        colours.len() > 50,
        "the screenshot has only {} colours: blank? ({})",
        colours.len(),
        browser.display()
    );
    assert!(
        inked * 100 > total,
        "only {inked} of {total} pixels are drawn on: blank?"
    );
}
