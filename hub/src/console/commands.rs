//! What a line typed at the hub's terminal means: a message to broadcast, or one of the
//! operator's commands (`/list`, `/to`, `/kick`, `/stats`, `/help`, `/quit`). Parsing
//! only: no effects, so every rule is a unit test.
//!
//! The rules, in order:
//! - An empty line means nothing (it is not broadcast).
//! - A line that starts with `//` is broadcast without its first `/`: `//etc` sends `/etc`.
//! - A line that starts with `/` is a command. A command this console does not know, or
//!   one used wrongly, is a [`Input::Mistake`] with a one-line hint: never a broadcast,
//!   so a mistyped command cannot reach every listener.
//! - Any other line is broadcast exactly as typed.
//!
//! Command names are case-insensitive; arguments are separated by whitespace, and the
//! text of `/to` and the reason of `/kick` are the rest of the line as typed.

use pipehub_protocol::ClientId;

/// One line the operator typed, understood.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// An empty line: nothing to do.
    Nothing,
    /// A message to broadcast, exactly these characters.
    Broadcast(&'a str),
    /// A command to carry out.
    Command(Command<'a>),
    /// Not a command this console knows, or one used wrongly: the hint to show.
    Mistake(String),
}

/// An operator command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/list`: the connected clients.
    List,
    /// `/to ID text`: a direct message to one client.
    To { id: ClientId, text: &'a str },
    /// `/kick ID [reason]`: remove a client; it is told the reason.
    Kick {
        id: ClientId,
        reason: Option<&'a str>,
    },
    /// `/stats`: the hub's counters.
    Stats,
    /// `/help`: what can be typed.
    Help,
    /// `/quit`: stop the hub gracefully.
    Quit,
}

/// What `/help` says first about a command that was used wrongly.
pub const HELP_HINT: &str = "/help lists the commands";

/// Understands one typed line (without its line end).
pub fn parse(line: &str) -> Input<'_> {
    if line.is_empty() {
        return Input::Nothing;
    }
    if line.starts_with("//") {
        // Keep one slash: `//etc` broadcasts `/etc`.
        return Input::Broadcast(&line[1..]);
    }
    let Some(command) = line.strip_prefix('/') else {
        return Input::Broadcast(line);
    };
    let (name, args) = split_word(command);
    let name = name.to_lowercase();
    let parsed = match name.as_str() {
        "list" => no_args(args, "/list", Command::List),
        "stats" => no_args(args, "/stats", Command::Stats),
        "help" | "?" => no_args(args, "/help", Command::Help),
        "quit" | "exit" => no_args(args, "/quit", Command::Quit),
        "to" => parse_to(args),
        "kick" => parse_kick(args),
        "" => Err(format!(
            "a line that starts with / is a command; {HELP_HINT} (start it with // to broadcast it)"
        )),
        _ => Err(format!(
            "unknown command /{name}; {HELP_HINT} (start the line with // to broadcast it as it is)"
        )),
    };
    match parsed {
        Ok(command) => Input::Command(command),
        Err(hint) => Input::Mistake(hint),
    }
}

/// The word `text` starts with (up to the first whitespace), and the rest after the
/// whitespace that follows it.
fn split_word(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim_start()),
        None => (text, ""),
    }
}

fn no_args<'a>(args: &str, usage: &str, command: Command<'a>) -> Result<Command<'a>, String> {
    if args.trim().is_empty() {
        Ok(command)
    } else {
        Err(format!("{usage} takes no arguments"))
    }
}

fn parse_to(args: &str) -> Result<Command<'_>, String> {
    const USAGE: &str = "usage: /to ID text (the IDs are in /list)";
    let (id, text) = split_word(args);
    if id.is_empty() {
        return Err(USAGE.to_owned());
    }
    let id = parse_id(id)?;
    if text.is_empty() {
        return Err(USAGE.to_owned());
    }
    Ok(Command::To { id, text })
}

fn parse_kick(args: &str) -> Result<Command<'_>, String> {
    let (id, reason) = split_word(args);
    if id.is_empty() {
        return Err("usage: /kick ID [reason] (the IDs are in /list)".to_owned());
    }
    let id = parse_id(id)?;
    let reason = Some(reason.trim_end()).filter(|r| !r.is_empty());
    Ok(Command::Kick { id, reason })
}

/// A client ID as the operator writes it: `7`, or `#7`.
fn parse_id(word: &str) -> Result<ClientId, String> {
    word.strip_prefix('#')
        .unwrap_or(word)
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(ClientId)
        .ok_or_else(|| format!("`{word}` is not a client ID: IDs are the numbers /list shows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistake(line: &str) -> String {
        match parse(line) {
            Input::Mistake(hint) => hint,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn plain_lines_are_broadcast_exactly() {
        assert_eq!(parse("hello"), Input::Broadcast("hello"));
        assert_eq!(parse("  spaced  out "), Input::Broadcast("  spaced  out "));
        assert_eq!(
            parse(" /list"),
            Input::Broadcast(" /list"),
            "only a leading / counts"
        );
        assert_eq!(parse("a/b"), Input::Broadcast("a/b"));
    }

    #[test]
    fn an_empty_line_is_nothing() {
        assert_eq!(parse(""), Input::Nothing);
    }

    #[test]
    fn a_double_slash_broadcasts_a_line_starting_with_one() {
        assert_eq!(parse("//etc/hosts"), Input::Broadcast("/etc/hosts"));
        assert_eq!(parse("//"), Input::Broadcast("/"));
        assert_eq!(parse("///x"), Input::Broadcast("//x"));
        assert_eq!(parse("//list"), Input::Broadcast("/list"));
    }

    #[test]
    fn commands_without_arguments() {
        assert_eq!(parse("/list"), Input::Command(Command::List));
        assert_eq!(parse("/stats"), Input::Command(Command::Stats));
        assert_eq!(parse("/help"), Input::Command(Command::Help));
        assert_eq!(parse("/?"), Input::Command(Command::Help));
        assert_eq!(parse("/quit"), Input::Command(Command::Quit));
        assert_eq!(parse("/exit"), Input::Command(Command::Quit));
        assert_eq!(parse("/LIST  "), Input::Command(Command::List));
        assert_eq!(mistake("/quit now"), "/quit takes no arguments");
    }

    #[test]
    fn to_takes_an_id_and_the_rest_of_the_line() {
        assert_eq!(
            parse("/to 7 see me  after the deploy"),
            Input::Command(Command::To {
                id: ClientId(7),
                text: "see me  after the deploy"
            })
        );
        assert_eq!(
            parse("/to #12 hi"),
            Input::Command(Command::To {
                id: ClientId(12),
                text: "hi"
            })
        );
        assert!(mistake("/to").starts_with("usage: /to ID text"));
        assert!(mistake("/to 7").starts_with("usage: /to ID text"));
        assert!(mistake("/to 7   ").starts_with("usage: /to ID text"));
        assert!(mistake("/to alice hi").contains("`alice` is not a client ID"));
        assert!(mistake("/to 0 hi").contains("`0` is not a client ID"));
    }

    #[test]
    fn kick_takes_an_id_and_an_optional_reason() {
        assert_eq!(
            parse("/kick 3"),
            Input::Command(Command::Kick {
                id: ClientId(3),
                reason: None
            })
        );
        assert_eq!(
            parse("/kick 3   too noisy, sorry  "),
            Input::Command(Command::Kick {
                id: ClientId(3),
                reason: Some("too noisy, sorry")
            })
        );
        assert!(mistake("/kick").starts_with("usage: /kick ID [reason]"));
        assert!(mistake("/kick -1").contains("`-1` is not a client ID"));
    }

    #[test]
    fn unknown_commands_get_a_hint_and_are_never_broadcast() {
        let hint = mistake("/frobnicate now");
        assert_eq!(
            hint,
            "unknown command /frobnicate; /help lists the commands \
             (start the line with // to broadcast it as it is)"
        );
        assert!(mistake("/").contains("start it with //"));
        assert!(mistake("/ list").contains("/help"));
    }
}
