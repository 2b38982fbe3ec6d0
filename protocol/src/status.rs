//! The hub's status report: who is connected and what the hub has done, as the answer to
//! a `STATUS_REQUEST` (the body of the `STATUS` frames, JSON) and as the operator's
//! `/list` and `/stats`.
//!
//! One type, [`StatusReport`], and one rendering of it ([`clients_table`],
//! [`stats_text`]) serve the hub's console and `pipehub-client status`, so the two print
//! the same thing. The JSON field names and meanings are part of the protocol
//! (docs/protocol.md, section 4.14): fields may be added, never removed or changed in
//! meaning, and readers ignore fields they do not know.

use std::fmt::Write as _;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Frame;

/// A snapshot of one hub: itself, its counters, and every connected client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub hub: HubStatus,
    pub stats: StatusStats,
    /// Every connected client, by ID.
    pub clients: Vec<ClientStatus>,
    /// The client ID of the session that asked for this report; absent when the
    /// operator's console made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<u64>,
    /// The bridge to other hubs; absent when the hub runs without `--bridge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeStatus>,
}

/// The hub's bridge to other hubs (docs/protocol.md, section 12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStatus {
    /// The NATS server(s), credentials left out.
    pub url: String,
    /// The subject every bridged hub publishes to and reads from.
    pub subject: String,
    /// This hub's name, as other hubs' listeners see it.
    pub hub_name: String,
    /// `connecting` (never connected yet), `connected`, or `down` (lost; reconnecting).
    pub state: String,
    /// When `state` last changed, in microseconds since the Unix epoch.
    pub since_us: u64,
    /// Times the connection was lost.
    pub outages: u64,
    /// Broadcasts that started on this hub and were published to the bridge.
    pub published: u64,
    /// Broadcasts that started on this hub and were not published: the bridge was down,
    /// or refused them (too large), or fell too far behind.
    pub not_bridged: u64,
    /// Broadcasts from other hubs broadcast here.
    pub received: u64,
    /// Broadcasts from other hubs that arrived again and were dropped.
    pub duplicates: u64,
    /// Messages from the bridge that were dropped as invalid or too large for this hub.
    pub rejected: u64,
}

/// The hub process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HubStatus {
    /// The hub program's version, such as `0.1.0`.
    pub version: String,
    /// The hub instance (as in `WELCOME`), 16 lowercase hex digits.
    pub instance: String,
    /// The hub's process ID.
    pub pid: u32,
    /// When the hub started, in microseconds since the Unix epoch.
    pub started_at_us: u64,
    /// When the report was made, in microseconds since the Unix epoch.
    pub now_us: u64,
    /// Most clients served at once (`--max-clients`).
    pub max_clients: u64,
    /// The largest frame the hub accepts and sends (`--max-frame`).
    pub max_frame: u32,
    /// How many broadcasts a listener may be behind (`--queue`; as in `WELCOME`).
    #[serde(default)]
    pub queue_frames: u64,
    /// How many of the latest broadcasts a connecting client may have replayed
    /// (`--history`).
    #[serde(default)]
    pub history_frames: u64,
    /// `wait` (publishers are paced by the listeners that read) or `skip` (listeners a
    /// window behind skip ahead); `--when-behind`.
    #[serde(default)]
    pub when_behind: String,
    /// Milliseconds a listener may take nothing while publishers wait for it before they
    /// stop waiting for it (`--stall-timeout`).
    #[serde(default)]
    pub stall_timeout_ms: u64,
}

impl HubStatus {
    /// Whether the hub holds publishers to its slowest reading listener
    /// (`when_behind: wait`, section 6.5 of docs/protocol.md) rather than letting
    /// listeners a window behind skip ahead.
    pub fn paces_publishers(&self) -> bool {
        self.when_behind == "wait"
    }
}

/// The hub's counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusStats {
    /// Connected clients: `listeners + publishers + text_listeners`.
    pub clients: u64,
    pub listeners: u64,
    pub publishers: u64,
    pub text_listeners: u64,
    /// Broadcasts so far: the latest sequence number.
    pub broadcasts: u64,
    /// Bytes of broadcast bodies so far.
    pub bytes_broadcast: u64,
    /// Broadcasts handed to clients so far, summed over clients.
    pub deliveries: u64,
    /// Broadcasts per second over the last `rate_window_s` seconds; `null` until the hub
    /// has measured for a moment.
    pub broadcasts_per_s: Option<f64>,
    /// Deliveries per second over the last `rate_window_s` seconds; `null` until the hub
    /// has measured for a moment.
    pub deliveries_per_s: Option<f64>,
    /// How many seconds the two rates are measured over (0 while they are `null`).
    pub rate_window_s: f64,
    /// Connected clients that missed at least one broadcast.
    pub lagged_clients: u64,
    /// Broadcasts missed, summed over connected clients.
    pub missed: u64,
    /// Broadcasts the hub holds for clients that are behind and for replay.
    pub retained: u64,
    /// Connections turned away since the hub started.
    pub refused: u64,
    /// Listeners publishers no longer wait for: they took nothing for the stall timeout.
    #[serde(default)]
    pub stalled_listeners: u64,
    /// Publishers whose messages the hub is not taking now: the listeners are behind.
    #[serde(default)]
    pub paused_publishers: u64,
    /// Seconds publishers (and input piped into the hub) spent paused, summed.
    #[serde(default)]
    pub paused_s: f64,
}

/// One connected client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientStatus {
    /// The client ID (as in its `WELCOME`; the ID `/to` and `/kick` take).
    pub id: u64,
    /// The name from its `HELLO`; empty for none (and for text clients).
    pub name: String,
    /// `listener`, `publisher` or `text`.
    pub role: String,
    /// The peer's user ID, group ID and process ID, where the platform gives them.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<u32>,
    /// When it connected, in microseconds since the Unix epoch.
    pub connected_at_us: u64,
    /// Broadcasts published but not yet handed to this client.
    pub queued: u64,
    /// Broadcasts this client missed because it fell behind: told of, or already gone
    /// from the hub before it reached them.
    pub missed: u64,
    /// A listener that took nothing for the stall timeout while publishers waited for it;
    /// they no longer wait for it until it reads again.
    #[serde(default)]
    pub stalled: bool,
    /// A publisher the hub is not reading now, because the listeners are behind.
    #[serde(default)]
    pub paused: bool,
}

impl StatusReport {
    /// This report as the `STATUS` frames that carry it: its JSON cut into parts that
    /// each fit a frame of `max_frame` (the length field counts the type byte and the
    /// flags byte too), `more` set on every part but the last.
    pub fn to_frames(&self, max_frame: u32) -> Vec<Frame> {
        // Serializing plain structs of strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let part_len = (max_frame as usize).saturating_sub(2).max(1);
        let mut parts = json.chunks(part_len).peekable();
        let mut frames = Vec::with_capacity(json.len() / part_len + 1);
        while let Some(part) = parts.next() {
            frames.push(Frame::Status {
                more: parts.peek().is_some(),
                part: Bytes::copy_from_slice(part),
            });
        }
        frames
    }
}

/// Puts a report back together from its `STATUS` parts, on the client's side.
#[derive(Debug, Default)]
pub struct StatusAssembler {
    json: Vec<u8>,
}

impl StatusAssembler {
    /// Adds one part. Returns the report once its last part (`more` clear) is in, or the
    /// error that keeps the parts from being a report.
    pub fn push(
        &mut self,
        more: bool,
        part: &[u8],
    ) -> Option<Result<StatusReport, serde_json::Error>> {
        self.json.extend_from_slice(part);
        if more {
            return None;
        }
        let json = std::mem::take(&mut self.json);
        Some(serde_json::from_slice(&json))
    }
}

/// The longest name shown in the table; longer ones are cut.
const NAME_WIDTH: usize = 24;

/// The connected clients as a table, one line per client, for a person.
pub fn clients_table(report: &StatusReport) -> String {
    if report.clients.is_empty() {
        return "no clients connected\n".to_owned();
    }
    let header = [
        "ID",
        "NAME",
        "ROLE",
        "UID",
        "PID",
        "CONNECTED",
        "QUEUED",
        "MISSED",
        "STATE",
    ];
    let rows: Vec<[String; 9]> = report
        .clients
        .iter()
        .map(|c| {
            let mut name = if c.name.is_empty() {
                "-".to_owned()
            } else {
                shorten(&printable(&c.name), NAME_WIDTH)
            };
            if report.requested_by == Some(c.id) {
                name.push_str(" *");
            }
            let age = report.hub.now_us.saturating_sub(c.connected_at_us) / 1_000_000;
            [
                c.id.to_string(),
                name,
                c.role.clone(),
                c.uid.map_or("-".into(), |uid| uid.to_string()),
                c.pid.map_or("-".into(), |pid| pid.to_string()),
                format!("{} ago", duration(age)),
                c.queued.to_string(),
                c.missed.to_string(),
                state(c).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Numbers are right-aligned, words left-aligned.
    let right = [true, false, false, true, true, true, true, true, false];
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if right[i] {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    if let Some(id) = report.requested_by {
        let _ = writeln!(out, "* client {id} is this status request");
    }
    out
}

/// A client's pacing state in a word: `stalled` (a listener publishers no longer wait
/// for), `paused` (a publisher the hub is not reading now), or `-`.
fn state(client: &ClientStatus) -> &'static str {
    if client.stalled {
        "stalled"
    } else if client.paused {
        "paused"
    } else {
        "-"
    }
}

/// The hub and its counters, one fact per line, for a person.
pub fn stats_text(report: &StatusReport) -> String {
    let (hub, s) = (&report.hub, &report.stats);
    let up = hub.now_us.saturating_sub(hub.started_at_us) / 1_000_000;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hub         pipehub {}, instance {}, pid {}, up {}",
        hub.version,
        hub.instance,
        hub.pid,
        duration(up)
    );
    let _ = writeln!(
        out,
        "clients     {}: {}, {}, {}",
        s.clients,
        count(s.listeners, "listener"),
        count(s.publishers, "publisher"),
        count(s.text_listeners, "text listener"),
    );
    let _ = writeln!(
        out,
        "broadcast   {}, {}{}",
        count(s.broadcasts, "message"),
        bytes(s.bytes_broadcast),
        rate(s.broadcasts_per_s, s.rate_window_s),
    );
    let _ = writeln!(
        out,
        "delivered   {}{}",
        count(s.deliveries, "message"),
        rate(s.deliveries_per_s, s.rate_window_s),
    );
    let _ = writeln!(
        out,
        "lagged      {}, {} missed in all",
        count(s.lagged_clients, "client"),
        count(s.missed, "message"),
    );
    let _ = writeln!(
        out,
        "retained    {} (for clients behind, and replay)",
        count(s.retained, "message")
    );
    match hub.when_behind.as_str() {
        "wait" => {
            let _ = writeln!(
                out,
                "pacing      publishers wait for listeners (stall timeout {} ms): {} paused now, \
                 {:.1} s paused in all; {} stalled",
                hub.stall_timeout_ms,
                count(s.paused_publishers, "publisher"),
                s.paused_s,
                count(s.stalled_listeners, "listener"),
            );
        }
        "skip" => {
            let _ = writeln!(
                out,
                "pacing      none: a listener {} behind skips ahead",
                count(hub.queue_frames, "message")
            );
        }
        _ => {} // a hub from before pacing
    }
    let _ = writeln!(out, "refused     {}", count(s.refused, "connection"));
    if let Some(bridge) = &report.bridge {
        let since = hub.now_us.saturating_sub(bridge.since_us) / 1_000_000;
        let _ = writeln!(
            out,
            "bridge      {} to {} ({}) for {}, as {:?} on {}",
            bridge.state,
            bridge.url,
            count(bridge.outages, "outage"),
            duration(since),
            printable(&bridge.hub_name),
            bridge.subject,
        );
        let _ = writeln!(
            out,
            "            out: {} published, {} not bridged; in: {} received, {} duplicate, {} rejected",
            bridge.published,
            bridge.not_bridged,
            bridge.received,
            bridge.duplicates,
            bridge.rejected,
        );
    }
    out
}

/// `n thing` or `n things`.
fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `, 12.5/s over the last 10 s`, or a word on why there is no rate yet.
fn rate(per_s: Option<f64>, window_s: f64) -> String {
    match per_s {
        Some(per_s) => format!(", {per_s:.1}/s over the last {window_s:.0} s"),
        None => ", rate not measured yet".to_owned(),
    }
}

/// A byte count with a binary unit: `345 B`, `1.5 KiB`, `12.0 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// A count with its digits grouped by threes: `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Whole seconds as the two largest units: `42s`, `3m12s`, `2h05m`, `3d04h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `text` with control characters escaped, so a client's name can neither span lines
/// nor drive the operator's terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` characters of `text`, the last one `…` when it was cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with two clients, made 75 s after the hub started.
    pub(crate) fn sample() -> StatusReport {
        let started = 1_700_000_000_000_000;
        StatusReport {
            hub: HubStatus {
                version: "0.1.0".into(),
                instance: "0123456789abcdef".into(),
                pid: 4242,
                started_at_us: started,
                now_us: started + 75_000_000,
                max_clients: 100_000,
                max_frame: 1_048_576,
                queue_frames: 4096,
                history_frames: 1024,
                when_behind: "wait".into(),
                stall_timeout_ms: 1000,
            },
            stats: StatusStats {
                clients: 2,
                listeners: 1,
                publishers: 0,
                text_listeners: 1,
                broadcasts: 12,
                bytes_broadcast: 3_000,
                deliveries: 20,
                broadcasts_per_s: Some(0.5),
                deliveries_per_s: Some(1.0),
                rate_window_s: 10.0,
                lagged_clients: 1,
                missed: 4,
                retained: 12,
                refused: 0,
                stalled_listeners: 1,
                paused_publishers: 0,
                paused_s: 2.25,
            },
            clients: vec![
                ClientStatus {
                    id: 1,
                    name: "alice".into(),
                    role: "listener".into(),
                    uid: Some(1000),
                    gid: Some(1000),
                    pid: Some(31337),
                    connected_at_us: started + 5_000_000,
                    queued: 0,
                    missed: 0,
                    stalled: false,
                    paused: false,
                },
                ClientStatus {
                    id: 12,
                    name: String::new(),
                    role: "text".into(),
                    uid: None,
                    gid: None,
                    pid: None,
                    connected_at_us: started + 70_000_000,
                    queued: 3,
                    missed: 4,
                    stalled: true,
                    paused: false,
                },
            ],
            requested_by: None,
            bridge: None,
        }
    }

    #[test]
    fn the_table_has_a_row_per_client_in_aligned_columns() {
        let table = clients_table(&sample());
        assert_eq!(
            table,
            "\
ID  NAME   ROLE       UID    PID  CONNECTED  QUEUED  MISSED  STATE
 1  alice  listener  1000  31337  1m10s ago       0       0  -
12  -      text         -      -     5s ago       3       4  stalled
"
        );
    }

    #[test]
    fn the_requesting_client_is_marked() {
        let mut report = sample();
        report.requested_by = Some(12);
        let table = clients_table(&report);
        assert!(table.contains("\n12  - *"), "{table}");
        assert!(table.ends_with("* client 12 is this status request\n"));
    }

    #[test]
    fn names_cannot_drive_the_terminal_or_widen_the_table() {
        let mut report = sample();
        report.clients[0].name = "evil\u{1b}[2J\nname".into();
        let table = clients_table(&report);
        assert!(!table.contains('\u{1b}'), "{table:?}");
        assert_eq!(table.lines().count(), 3);
        report.clients[0].name = "x".repeat(100);
        let table = clients_table(&report);
        assert!(table.contains(&format!("{}…", "x".repeat(23))), "{table}");
    }

    #[test]
    fn no_clients_is_said_in_words() {
        let mut report = sample();
        report.clients.clear();
        assert_eq!(clients_table(&report), "no clients connected\n");
    }

    #[test]
    fn stats_name_every_counter() {
        let text = stats_text(&sample());
        assert_eq!(
            text,
            "\
hub         pipehub 0.1.0, instance 0123456789abcdef, pid 4242, up 1m15s
clients     2: 1 listener, 0 publishers, 1 text listener
broadcast   12 messages, 2.9 KiB, 0.5/s over the last 10 s
delivered   20 messages, 1.0/s over the last 10 s
lagged      1 client, 4 messages missed in all
retained    12 messages (for clients behind, and replay)
pacing      publishers wait for listeners (stall timeout 1000 ms): 0 publishers paused now, 2.2 s paused in all; 1 listener stalled
refused     0 connections
"
        );
        let mut report = sample();
        report.stats.deliveries_per_s = None;
        assert!(stats_text(&report).contains("20 messages, rate not measured yet"));
    }

    #[test]
    fn a_report_is_cut_into_parts_that_fit_the_frame_limit() {
        let report = sample();
        for max_frame in [256, 300, 1_048_576] {
            let frames = report.to_frames(max_frame);
            let mut assembler = StatusAssembler::default();
            let mut result = None;
            for (i, frame) in frames.iter().enumerate() {
                assert!(frame.to_bytes().len() - 4 <= max_frame as usize);
                let Frame::Status { more, part } = frame else {
                    panic!("{frame:?}");
                };
                assert_eq!(*more, i + 1 < frames.len());
                result = assembler.push(*more, part);
                assert_eq!(result.is_some(), !more);
            }
            assert_eq!(result.unwrap().unwrap(), report, "max_frame {max_frame}");
        }
        assert_eq!(report.to_frames(1_048_576).len(), 1);
        assert!(report.to_frames(256).len() > 1);
    }

    #[test]
    fn durations_keep_the_two_largest_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(192), "3m12s");
        assert_eq!(duration(7_500), "2h05m");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 59), "3d04h");
    }

    #[test]
    fn byte_counts_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 * 1024 * 1024), "12.0 MiB");
    }

    #[test]
    fn stats_tell_the_bridge_state_and_counters_when_bridged() {
        let mut report = sample();
        assert!(!stats_text(&report).contains("bridge"));
        report.bridge = Some(BridgeStatus {
            url: "nats://h:4222".into(),
            subject: "pipehub.broadcast".into(),
            hub_name: "hub-a".into(),
            state: "down".into(),
            since_us: report.hub.now_us - 12_000_000,
            outages: 1,
            published: 5,
            not_bridged: 2,
            received: 7,
            duplicates: 0,
            rejected: 1,
        });
        let text = stats_text(&report);
        assert!(
            text.contains("bridge      down to nats://h:4222 (1 outage) for 12s"),
            "{text}"
        );
        assert!(text.contains("5 published, 2 not bridged"), "{text}");
        assert!(
            text.contains("7 received, 0 duplicate, 1 rejected"),
            "{text}"
        );
    }

    #[test]
    fn the_report_survives_json_and_ignores_unknown_fields() {
        let report = sample();
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            !json.contains("requested_by"),
            "absent when not set: {json}"
        );
        let back: StatusReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["future_member"] = serde_json::json!({"state": "up"});
        value["stats"]["future_counter"] = 7.into();
        let back: StatusReport = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);
    }
}
