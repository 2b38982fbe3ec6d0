//! `load --report PATH.html`: the report as one self-contained HTML page that anyone can
//! open, mail or attach to an issue. Everything is inline: the CSS, the charts (SVG from
//! [`super::charts`]) and the full JSON report (in a `<script type="application/json">`
//! element, which browsers never run), so the page needs no network and keeps every
//! number the charts were drawn from, latency distributions included.
//!
//! What the page shows, top to bottom: when and where the run was made, its parameters,
//! a results table (one row per target per client count), the four charts, and any
//! errors the listeners saw.

use std::fmt::Write as _;

use super::charts::{self, Chart};
use super::report::{
    Report, RunReport, count, cpu_time, deliveries_cell, micros, percent, tool_limit_note,
};

/// The whole page for `report`.
pub fn page(report: &Report) -> String {
    let date = utc_date(report.started_unix_seconds);
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>pipehub load report, {date}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>pipehub load report</h1>\n<p class=\"meta\">{date} · {tool} {version} \
         · {machine}</p>\n</header>\n",
        tool = escape(report.tool),
        version = escape(report.version),
        machine = escape(&machine(report)),
    );
    parameters(&mut out, report);
    results(&mut out, report);
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    for chart in charts::all(report) {
        figure(&mut out, &chart);
    }
    out.push_str("</section>\n");
    errors(&mut out, report);
    // The data the page was made from, for scripts and for a closer look.
    let json = serde_json::to_string(report).unwrap_or_else(|_| "null".to_owned());
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n</body>\n</html>\n",
        json.replace("</", "<\\/")
    );
    out
}

/// How the page looks: readable on a screen and on paper, charts at their own width.
const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
  max-width: 1200px; padding: 0 1rem; color: #1d1d1f; background: #fff; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
.scroll { overflow-x: auto; }
th, td { padding: 0.25rem 0.5rem; border-bottom: 1px solid #e4e4e4; text-align: right;
  white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
table.parameters th { text-align: left; font-weight: 600; color: #444; }
table.parameters td { text-align: left; }
thead th { background: #f3f5f8; }
tr.hub td { background: #f7faff; }
td.bad { color: #b00020; font-weight: 600; }
figure.chart { margin: 1.5rem 0; }
figure.chart h3 { margin: 0; }
figure.chart p { margin: 0.2rem 0 0.5rem; color: #555; font-size: 0.9rem; }
figure.chart svg { max-width: 100%; height: auto; border: 1px solid #eee; }
p.missing { font-style: italic; color: #777; }
p.note { color: #8a5a00; }
ul.errors li { color: #b00020; }
";

/// The publishers' window: `--window`, or the default each target got (none where it
/// paces the publishers itself, half its queue elsewhere).
fn window(report: &Report) -> String {
    let describe = |window: u64| match window {
        0 => "none".to_owned(),
        w => format!("{} messages", count(w)),
    };
    if let Some(window) = report.config.window {
        return describe(window);
    }
    let mut used: Vec<String> = Vec::new();
    for (_, run) in report.runs() {
        let entry = format!(
            "{} for the {}",
            describe(run.delivery.window),
            run.target.describe()
        );
        if !used.contains(&entry) {
            used.push(entry);
        }
    }
    format!("by default: {}", used.join(", "))
}

fn parameters(out: &mut String, report: &Report) {
    let config = &report.config;
    let mut rows: Vec<(&str, String)> = Vec::new();
    if config.sweep.is_empty() {
        rows.push(("listeners (N)", count(config.clients)));
    } else {
        let points: Vec<String> = config.sweep.iter().map(|&n| count(n)).collect();
        rows.push(("listeners (N), swept", points.join(", ")));
    }
    rows.push(("listener processes", config.procs.to_string()));
    rows.push((
        "receiver threads",
        config.receiver_threads.map_or(
            "one per core, shared by the listener processes".to_owned(),
            |t| format!("{t} per listener process"),
        ),
    ));
    rows.push(("publishers", config.publishers.to_string()));
    rows.push((
        "messages",
        match config.duration_seconds {
            Some(s) => format!("for {s} s"),
            None => count(config.messages),
        },
    ));
    rows.push((
        "message size",
        format!("{} bytes", count(config.size as u64)),
    ));
    rows.push((
        "rate",
        if config.rate > 0.0 {
            format!("{} messages/s", config.rate)
        } else {
            "unthrottled".to_owned()
        },
    ));
    rows.push(("window", window(report)));
    rows.push((
        "target",
        if config.spawn_hub {
            let started = if config.sweep.is_empty() {
                "a pipehub started for the run"
            } else {
                "a pipehub started for each point"
            };
            match config.hub_args.join(" ") {
                args if args.is_empty() => started.to_owned(),
                args => format!("{started}, with {args}"),
            }
        } else if config.spread.is_empty() {
            format!("the running hub at {}", config.endpoint)
        } else {
            format!(
                "the running hub at {} (publishers; memory and CPU), with the listeners \
                 spread over it and the hubs bridged to it at {}",
                config.endpoint,
                config.spread.join(", ")
            )
        },
    ));
    rows.push((
        "baseline",
        if config.baseline_raw {
            "raw: a direct Unix-socket fan-out with no hub".to_owned()
        } else {
            "none".to_owned()
        },
    ));
    rows.push((
        "connect concurrency",
        config.connect_concurrency.to_string(),
    ));
    rows.push((
        "drain timeout",
        format!("{} s", config.drain_timeout_seconds),
    ));
    out.push_str(
        "<section id=\"parameters\">\n<h2>Parameters</h2>\n<table class=\"parameters\">\n",
    );
    for (name, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(&value)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn results(out: &mut String, report: &Report) {
    out.push_str(
        "<section id=\"results\">\n<h2>Results</h2>\n<div class=\"scroll\"><table class=\"results\">\n<thead><tr>\
         <th>N</th><th>target</th><th>connected</th><th>connect/s</th><th>deliveries/s</th>\
         <th>hub/raw</th><th>lost</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th>\
         <th>RSS per listener</th><th>CPU measuring</th><th>limit</th><th>receivers busy</th>\
         </tr></thead>\n<tbody>\n",
    );
    for point in &report.points {
        for run in &point.runs {
            let ratio = point
                .ratios
                .as_ref()
                .filter(|_| run.target == super::hub_proc::TargetKind::Hub)
                .and_then(|r| r.deliveries_per_second)
                .map_or(String::new(), |r| format!("{r:.2}"));
            let _ = writeln!(
                out,
                "<tr class=\"{target}\"><td>{n}</td><td>{target}</td><td>{connected}</td>\
                 <td>{connect}</td><td>{deliveries}</td><td>{ratio}</td>{lost}<td>{p50}</td>\
                 <td>{p99}</td><td>{p999}</td><td>{max}</td><td>{rss}</td><td>{cpu}</td>\
                 <td>{limit}</td><td>{busy}</td></tr>",
                n = count(point.clients),
                target = run.target.name(),
                connected = count(run.connect.listeners),
                connect = count(run.connect.per_second as u64),
                deliveries = escape(&deliveries_cell(run)),
                lost = lost_cell(run),
                p50 = escape(&micros(run.latency_us.p50)),
                p99 = escape(&micros(run.latency_us.p99)),
                p999 = escape(&micros(run.latency_us.p999)),
                max = escape(&micros(run.latency_us.max)),
                rss = run
                    .memory
                    .bytes_per_idle_listener
                    .map_or("-".to_owned(), |b| format!(
                        "{} B",
                        count(b.max(0.0) as u64)
                    )),
                cpu = cpu_time(run.cpu.measuring_seconds),
                limit = escape(run.tool.limit.describe(run.target)),
                busy = escape(&percent(run.tool.receivers_busy)),
            );
        }
    }
    out.push_str("</tbody>\n</table></div>\n");
    for (clients, run) in report.runs().filter(|(_, run)| run.tool.limit.is_tool()) {
        let _ = writeln!(
            out,
            "<p class=\"note\">{}</p>",
            escape(&tool_limit_note(clients, run))
        );
    }
    out.push_str("</section>\n");
}

/// Loss in red when there is any: it is never hidden.
fn lost_cell(run: &RunReport) -> String {
    let lost = run.loss.lost + run.loss.unexplained_gaps;
    if lost > 0 {
        format!(
            "<td class=\"bad\">{} of {}</td>",
            count(run.loss.lost),
            count(run.delivery.expected)
        )
    } else {
        "<td>0</td>".to_owned()
    }
}

fn figure(out: &mut String, chart: &Chart) {
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"chart-{id}\">\n<figcaption><h3>{title}</h3><p>{caption}\
         </p></figcaption>\n",
        id = chart.id,
        title = escape(chart.title),
        caption = escape(&chart.caption),
    );
    match &chart.svg {
        // plotters writes a complete SVG document; inline it without an XML prolog.
        Ok(svg) => out.push_str(svg.trim_start_matches(|c| c != '<')),
        Err(reason) => {
            let _ = write!(out, "<p class=\"missing\">{}</p>", escape(reason));
        }
    }
    out.push_str("\n</figure>\n");
}

fn errors(out: &mut String, report: &Report) {
    let errors: Vec<String> = report
        .runs()
        .flat_map(|(clients, run)| {
            run.loss
                .errors
                .iter()
                .map(move |e| format!("{} N={clients}: {e}", run.target.name()))
        })
        .collect();
    if errors.is_empty() {
        return;
    }
    out.push_str("<section id=\"errors\">\n<h2>Errors</h2>\n<ul class=\"errors\">\n");
    for error in errors {
        let _ = writeln!(out, "<li>{}</li>", escape(&error));
    }
    out.push_str("</ul>\n</section>\n");
}

/// The machine in one line: `linux x86_64, 2 cpus (model), kernel 6.1.0`.
fn machine(report: &Report) -> String {
    let machine = &report.machine;
    let mut text = format!("{} {}, {} cpus", machine.os, machine.arch, machine.cpus);
    if let Some(model) = &machine.cpu_model {
        let _ = write!(text, " ({model})");
    }
    if let Some(kernel) = &machine.kernel {
        let _ = write!(text, ", kernel {kernel}");
    }
    text
}

/// Text made safe to put in HTML, in element content or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds since the Unix epoch as `2026-03-01 14:05 UTC`.
fn utc_date(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let minutes = unix_seconds % 86_400 / 60;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn the_window_says_what_each_target_got_by_default() {
        let mut report = crate::report::sample::report(&[10, 100]);
        assert_eq!(window(&report), "by default: none for the hub");
        report.points[1].runs[0].delivery.window = 2048;
        assert_eq!(
            window(&report),
            "by default: none for the hub, 2,048 messages for the hub"
        );
        report.config.window = Some(0);
        assert_eq!(window(&report), "none");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
