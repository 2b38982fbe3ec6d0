//! What the operator's typed lines do to the hub: broadcast a message, or carry out a
//! command ([`Command`]) and say how it went. Each answer is text for the operator's
//! terminal; nothing here reads or writes the terminal itself.

use pipehub_protocol::{
    ClientId,
    status::{clients_table, printable, stats_text},
};

use super::{
    commands::{Command, Input},
    style::{Style, Tone},
};
use crate::{hub::Hub, link::LinkState};

/// What a typed line asks of the console, once it has been carried out.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Show this (possibly empty) text and read the next line.
    Show(String),
    /// Show this text and stop the hub.
    Quit(String),
}

/// The reason a kicked client is told when the operator gives none.
pub const DEFAULT_KICK_REASON: &str = "removed by the operator";

/// Carries out one typed line against `hub`.
pub fn handle_line(hub: &Hub, line: &str, style: Style) -> Outcome {
    match super::commands::parse(line) {
        Input::Nothing => Outcome::Show(String::new()),
        Input::Broadcast(text) => Outcome::Show(broadcast(hub, text, style)),
        Input::Mistake(hint) => Outcome::Show(line_of(style, Tone::Problem, &hint)),
        Input::Command(command) => execute(hub, &command, style),
    }
}

/// Broadcasts `text`, and says which sequence number it got, how many listeners there
/// are to receive it, and, on a bridged hub, whether it goes over the bridge.
fn broadcast(hub: &Hub, text: &str, style: Style) -> String {
    match hub.publish(text.as_bytes()) {
        Ok(seq) => {
            let stats = hub.stats();
            let listeners = (stats.listeners + stats.text_listeners) as u64;
            let bridge = hub.bridge_link();
            let local = match listeners {
                0 => None,
                1 => Some("1 listener".to_owned()),
                n => Some(format!("{n} listeners")),
            };
            let note = match (local, bridge) {
                (None, None) => format!("[#{seq}: no listener is connected]"),
                (Some(local), None) => format!("[#{seq} to {local}]"),
                (None, Some(LinkState::Connected)) => {
                    format!("[#{seq} to the bridge; no listener here]")
                }
                (Some(local), Some(LinkState::Connected)) => {
                    format!("[#{seq} to {local} and the bridge]")
                }
                (None, Some(state)) => format!(
                    "[#{seq}: no listener here, and not bridged: the bridge is {}]",
                    state.name()
                ),
                (Some(local), Some(state)) => format!(
                    "[#{seq} to {local}; not bridged: the bridge is {}]",
                    state.name()
                ),
            };
            line_of(style, Tone::Note, &note)
        }
        Err(err) => line_of(style, Tone::Problem, &format!("not broadcast: {err}")),
    }
}

/// Carries out `command`.
pub fn execute(hub: &Hub, command: &Command, style: Style) -> Outcome {
    match command {
        Command::List => Outcome::Show(clients_table(&hub.status(None))),
        Command::Stats => Outcome::Show(stats_text(&hub.status(None))),
        Command::Help => Outcome::Show(help(style)),
        Command::Quit => Outcome::Quit(line_of(
            style,
            Tone::Note,
            "stopping the hub: every client gets what is queued for it, then BYE",
        )),
        Command::To { id, text } => Outcome::Show(match hub.send_direct(*id, text.as_bytes()) {
            Ok(()) => line_of(
                style,
                Tone::Note,
                &format!("[sent to {} alone]", who(hub, *id)),
            ),
            Err(err) => line_of(style, Tone::Problem, &err.to_string()),
        }),
        Command::Kick { id, reason } => {
            let reason = reason.unwrap_or(DEFAULT_KICK_REASON);
            let name = who(hub, *id);
            Outcome::Show(if hub.kick(*id, reason) {
                line_of(
                    style,
                    Tone::Left,
                    &format!("[removing {name}; it is told: {}]", printable(reason)),
                )
            } else {
                line_of(
                    style,
                    Tone::Problem,
                    &format!("no client {id} is connected (see /list)"),
                )
            })
        }
    }
}

/// `client 3 (alice)`, or `client 3` for a client without a name or not connected.
fn who(hub: &Hub, id: ClientId) -> String {
    let name = hub
        .clients()
        .into_iter()
        .find(|client| client.id == id)
        .map(|client| client.name)
        .unwrap_or_default();
    if name.is_empty() {
        format!("client {id}")
    } else {
        format!("client {id} ({})", printable(&name))
    }
}

/// `text` in `tone`, as one line.
fn line_of(style: Style, tone: Tone, text: &str) -> String {
    let mut line = style.paint(tone, text);
    line.push('\n');
    line
}

/// What `/help` shows.
pub fn help(style: Style) -> String {
    let commands = [
        (
            "/list",
            "who is connected: ID, name, role, uid, pid, since when, queued, missed",
        ),
        (
            "/to ID text",
            "send text to client ID alone (a direct message)",
        ),
        (
            "/kick ID [reason]",
            "disconnect client ID; it is told the reason",
        ),
        (
            "/stats",
            "clients, messages and bytes broadcast, deliveries/s, lagged clients",
        ),
        ("/help", "this list"),
        (
            "/quit",
            "stop the hub: every client gets what is queued for it, then BYE",
        ),
        (
            "//text",
            "broadcast a line that starts with / (here: /text)",
        ),
    ];
    let mut out = String::from("Type a line and press Enter to broadcast it to every listener.\n");
    for (usage, what) in commands {
        let usage = style.paint(Tone::Strong, &format!("{usage:<19}"));
        out.push_str(&format!("  {usage} {what}\n"));
    }
    out.push_str(
        "Up and Down recall earlier lines. Ctrl-C stops the hub, like /quit. Ctrl-D stops\n\
         reading the console; the hub keeps serving until Ctrl-C or SIGTERM.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn hub() -> Hub {
        Hub::new(Config::default()).0
    }

    fn shown(outcome: Outcome) -> String {
        match outcome {
            Outcome::Show(text) => text,
            Outcome::Quit(text) => panic!("quit: {text}"),
        }
    }

    #[test]
    fn a_typed_line_is_broadcast_with_its_sequence_number() {
        let hub = hub();
        let note = shown(handle_line(&hub, "hello", Style::PLAIN));
        assert_eq!(note, "[#1: no listener is connected]\n");
        assert_eq!(hub.current_seq().0, 1);
        shown(handle_line(&hub, "//etc", Style::PLAIN));
        assert_eq!(hub.current_seq().0, 2);
    }

    #[cfg(feature = "bridge")]
    #[test]
    fn a_bridged_hub_says_when_a_line_is_not_bridged() {
        let hub = Hub::new(Config::default()).0;
        hub.attach_bridge(std::sync::Arc::new(crate::bridge::BridgeState::new(
            crate::bridge::BridgeConfig {
                url: "nats://127.0.0.1:1".into(),
                subject: crate::bridge::DEFAULT_SUBJECT.into(),
                hub_name: "here".into(),
                auth: Default::default(),
            },
        )));
        let note = shown(handle_line(&hub, "hello", Style::PLAIN));
        assert_eq!(
            note,
            "[#1: no listener here, and not bridged: the bridge is connecting]\n"
        );
    }

    #[test]
    fn mistakes_and_empty_lines_broadcast_nothing() {
        let hub = hub();
        let hint = shown(handle_line(&hub, "/frobnicate", Style::PLAIN));
        assert!(hint.starts_with("unknown command /frobnicate;"), "{hint}");
        assert_eq!(shown(handle_line(&hub, "", Style::PLAIN)), "");
        assert_eq!(hub.current_seq().0, 0);
    }

    #[test]
    fn commands_on_absent_clients_say_so() {
        let hub = hub();
        let kick = shown(handle_line(&hub, "/kick 9 bye", Style::PLAIN));
        assert_eq!(kick, "no client 9 is connected (see /list)\n");
        let to = shown(handle_line(&hub, "/to 9 psst", Style::PLAIN));
        assert_eq!(to, "no client 9 is connected (see /list)\n");
    }

    #[test]
    fn list_and_stats_render_the_status_report() {
        let hub = hub();
        assert_eq!(
            shown(handle_line(&hub, "/list", Style::PLAIN)),
            "no clients connected\n"
        );
        let stats = shown(handle_line(&hub, "/stats", Style::PLAIN));
        assert!(stats.contains("clients     0: 0 listeners"), "{stats}");
        assert!(stats.contains("rate not measured yet"), "{stats}");
    }

    #[test]
    fn quit_stops_and_help_names_every_command() {
        let hub = hub();
        assert!(matches!(
            handle_line(&hub, "/quit", Style::PLAIN),
            Outcome::Quit(_)
        ));
        let help = shown(handle_line(&hub, "/help", Style::PLAIN));
        for command in [
            "/list",
            "/to ID text",
            "/kick ID",
            "/stats",
            "/help",
            "/quit",
            "//text",
        ] {
            assert!(help.contains(command), "{command} missing from {help}");
        }
    }

    #[test]
    fn colour_is_used_only_when_the_style_has_it() {
        let hub = hub();
        let plain = shown(handle_line(&hub, "/nope", Style::PLAIN));
        assert!(!plain.contains('\x1b'));
    }
}
