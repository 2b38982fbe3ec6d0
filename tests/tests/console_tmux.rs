//! The hub's console as an operator meets it: the real `pipehub` binary in a real
//! terminal (tmux), typed at with send-keys and read with capture-pane, with real
//! `pipehub-client listen` processes as the listeners. Each test checks both sides: what
//! the operator's screen shows, and what the listeners print.
#![cfg(unix)]

use std::{path::Path, process::Child};

use pipehub_tests::{Lines, Scratch, binary, client, output_within, status_report, tmux::Tmux};

/// A hub in a terminal, on a private endpoint.
struct TerminalHub {
    tmux: Tmux,
    endpoint: String,
    _scratch: Scratch,
}

impl TerminalHub {
    /// Starts `pipehub` in a terminal, with `NO_COLOR` unset, and waits for its prompt.
    fn start() -> TerminalHub {
        TerminalHub::start_with_env(&[("NO_COLOR", None)])
    }

    fn start_with_env(env: &[(&str, Option<&str>)]) -> TerminalHub {
        let scratch = Scratch::new();
        let endpoint = scratch.endpoint("hub.sock");
        let hub = binary("pipehub");
        let tmux = Tmux::start(env, &hub.display().to_string(), &["--endpoint", &endpoint]);
        tmux.wait_for_text("pipehub>");
        TerminalHub {
            tmux,
            endpoint,
            _scratch: scratch,
        }
    }

    /// Starts a plain-format listener named `name` and waits until the console shows
    /// it joined as client `id`.
    fn listener(&self, name: &str, id: u64) -> Listener {
        let mut child = client(
            &self.endpoint,
            &["listen", "--format", "plain", "--name", name],
        )
        .spawn()
        .expect("start a listener");
        let stdout = Lines::spawn(child.stdout.take().expect("stdout"));
        self.tmux
            .wait_for_text(&format!("[client {id} ({name}) joined as listener]"));
        Listener { child, stdout }
    }
}

struct Listener {
    child: Child,
    stdout: Lines,
}

impl Listener {
    /// The next line it printed.
    fn next(&self) -> String {
        self.stdout.next().expect("the listener is still printing")
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn typed_lines_reach_every_listener_and_commands_do_not() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    let bob = hub.listener("bob", 2);

    hub.tmux.type_line("hello everyone");
    assert_eq!(alice.next(), "hello everyone");
    assert_eq!(bob.next(), "hello everyone");
    hub.tmux.wait_for_text("[#1 to 2 listeners]");

    // An unknown command gets a hint on the screen and reaches nobody.
    hub.tmux.type_line("/frobnicate now");
    hub.tmux
        .wait_for_text("unknown command /frobnicate; /help lists the commands");
    // A line that starts with / is sent with //.
    hub.tmux.type_line("//etc/hosts is a file");
    assert_eq!(alice.next(), "/etc/hosts is a file");
    assert_eq!(bob.next(), "/etc/hosts is a file");

    // History: Up recalls the last line, Enter sends it again.
    hub.tmux.press(&["Up", "Enter"]);
    assert_eq!(alice.next(), "/etc/hosts is a file");
    hub.tmux.wait_for_text("[#3 to 2 listeners]");
}

#[test]
fn each_line_of_a_pasted_block_is_its_own_broadcast() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    hub.tmux.paste("first\nsecond\n/stats\nthird");
    hub.tmux.press(&["Enter"]);
    assert_eq!(alice.next(), "first");
    assert_eq!(alice.next(), "second");
    assert_eq!(alice.next(), "third");
    hub.tmux.wait_for_text("[#3 to 1 listener]");
    hub.tmux.wait_for_text("broadcast   2 messages");
}

#[test]
fn list_to_and_kick_act_on_the_client_the_operator_names() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    let mut bob = hub.listener("bob", 2);

    hub.tmux.type_line("/list");
    let screen = hub.tmux.wait_for_text("QUEUED  MISSED");
    let uid = unsafe { libc::getuid() };
    for (id, name, child) in [(1, "alice", &alice.child), (2, "bob", &bob.child)] {
        let row = screen
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{id}  {name} ")))
            .unwrap_or_else(|| panic!("no /list row for {name}:\n{screen}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[2], "listener", "{row}");
        assert_eq!(cells[3], uid.to_string(), "uid in {row}");
        assert_eq!(cells[4], child.id().to_string(), "pid in {row}");
        assert!(cells[5].ends_with('s') && cells[6] == "ago", "{row}");
    }

    hub.tmux.type_line("/to 1 just for alice");
    hub.tmux.wait_for_text("[sent to client 1 (alice) alone]");
    assert_eq!(alice.next(), "just for alice");
    hub.tmux.type_line("for everyone");
    assert_eq!(alice.next(), "for everyone");
    assert_eq!(
        bob.next(),
        "for everyone",
        "bob did not get alice's message"
    );

    hub.tmux.type_line("/kick 2 too noisy");
    hub.tmux
        .wait_for_text("[removing client 2 (bob); it is told: too noisy]");
    hub.tmux.wait_for_text("[client 2 (bob) left]");
    let stderr = Lines::spawn(bob.child.stderr.take().expect("stderr"));
    let status = pipehub_tests::wait_timeout(&mut bob.child);
    assert_eq!(
        status.code(),
        Some(0),
        "a listener the operator removed exits 0"
    );
    let said = stderr.rest().join("\n");
    assert!(said.contains("kicked: too noisy"), "{said}");

    hub.tmux.type_line("/kick 2");
    hub.tmux
        .wait_for_text("no client 2 is connected (see /list)");
    hub.tmux.type_line("/to 7 anyone?");
    let screen = hub
        .tmux
        .wait_for_text("no client 7 is connected (see /list)");
    // The console's notices say what happened; no log line repeats them at a terminal.
    assert!(!screen.contains(" INFO "), "{screen}");
}

#[test]
fn stats_count_clients_and_messages() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    hub.tmux.type_line("one");
    hub.tmux.type_line("two");
    assert_eq!(alice.next(), "one");
    assert_eq!(alice.next(), "two");
    hub.tmux.type_line("/stats");
    let screen = hub
        .tmux
        .wait_for_text("clients     1: 1 listener, 0 publishers, 0 text listeners");
    assert!(screen.contains("broadcast   2 messages, 6 B"), "{screen}");
    assert!(screen.contains("lagged      0 clients"), "{screen}");
}

#[test]
fn status_json_lists_the_clients_connected_to_a_terminal_hub() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    let bob = hub.listener("bob", 2);
    let report = status_report(&hub.endpoint);
    let clients = report["clients"].as_array().expect("clients");
    let seen: Vec<(u64, &str, u64)> = clients
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["name"].as_str().unwrap(),
                c["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen[..2],
        [
            (1, "alice", u64::from(alice.child.id())),
            (2, "bob", u64::from(bob.child.id()))
        ]
    );
    assert_eq!(seen.len(), 3, "alice, bob and the status request: {seen:?}");
    assert_eq!(report["requested_by"].as_u64(), Some(seen[2].0));
    assert_eq!(report["stats"]["listeners"].as_u64(), Some(3));
    // The operator saw the request come and go.
    hub.tmux.wait_for_text("(status) left]");
}

#[test]
fn notices_do_not_mangle_the_line_being_typed() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    hub.tmux.type_text("half a li");
    hub.tmux.wait_for_text("pipehub> half a li");
    let _carol = hub.listener("carol", 2);
    let screen = hub.tmux.screen();
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.last(), Some(&"pipehub> half a li"), "{screen}");
    let joined = lines
        .iter()
        .position(|l| *l == "[client 2 (carol) joined as listener]")
        .expect("the notice is on the screen");
    assert_eq!(joined, lines.len() - 2, "right above the prompt:\n{screen}");
    // The line being typed is intact: finishing it sends exactly what was typed.
    hub.tmux.type_line("ne");
    assert_eq!(alice.next(), "half a line");
}

#[test]
fn quit_says_bye_to_every_listener_removes_the_endpoint_and_exits_zero() {
    let hub = TerminalHub::start();
    let alice = hub.listener("alice", 1);
    hub.tmux.type_line("last words");
    assert_eq!(alice.next(), "last words");
    hub.tmux.type_line("/quit");
    hub.tmux.wait_for_text("[exited 0]");
    assert!(!Path::new(&hub.endpoint).exists(), "endpoint removed");
    let mut alice = alice;
    let stderr = Lines::spawn(alice.child.stderr.take().expect("stderr"));
    assert_eq!(
        pipehub_tests::wait_timeout(&mut alice.child).code(),
        Some(0)
    );
    assert!(stderr.rest().join("\n").contains("shutdown"));
}

#[test]
fn ctrl_c_at_the_prompt_stops_the_hub_like_quit() {
    let hub = TerminalHub::start();
    let mut alice = hub.listener("alice", 1);
    hub.tmux.type_text("never sent");
    hub.tmux.press(&["C-c"]);
    hub.tmux.wait_for_text("[exited 0]");
    let screen = hub.tmux.screen();
    assert!(screen.contains("Ctrl-C: stopping the hub"), "{screen}");
    assert_eq!(
        pipehub_tests::wait_timeout(&mut alice.child).code(),
        Some(0)
    );
    assert_eq!(
        alice.stdout.rest(),
        Vec::<String>::new(),
        "nothing was sent"
    );
}

#[test]
fn ctrl_d_ends_the_console_input_and_the_hub_keeps_serving() {
    let hub = TerminalHub::start();
    hub.tmux.press(&["C-d"]);
    hub.tmux.wait_for_text("the hub keeps serving");
    let alice = hub.listener("alice", 1);
    let output = output_within(
        client(&hub.endpoint, &["send", "still here"])
            .spawn()
            .expect("send"),
    );
    assert!(output.status.success());
    assert_eq!(alice.next(), "still here");
    assert_eq!(hub.tmux.count("[exited"), 0, "still serving");
}

#[test]
fn ctrl_c_after_ctrl_d_stops_the_hub_gracefully() {
    // It was a race between the line editor and the hub's Ctrl-C handler, lost more often
    // on a busy machine: a few rounds, with the hub busy broadcasting to a listener.
    for round in 0..3 {
        let hub = TerminalHub::start();
        let mut alice = hub.listener("alice", 1);
        hub.tmux.type_line(&format!("round {round}"));
        assert_eq!(alice.next(), format!("round {round}"));
        hub.tmux.press(&["C-d"]);
        hub.tmux.wait_for_text("the hub keeps serving");
        let numbers: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        let mut send = client(&hub.endpoint, &["send"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("send");
        let mut input = send.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(numbers.as_bytes());
        });
        hub.tmux.press(&["C-c"]);
        hub.tmux.wait_for_text("[exited 0]");
        assert!(
            !Path::new(&hub.endpoint).exists(),
            "round {round}: endpoint removed"
        );
        let stderr = Lines::spawn(alice.child.stderr.take().expect("stderr"));
        assert_eq!(
            pipehub_tests::wait_timeout(&mut alice.child).code(),
            Some(0),
            "round {round}: the listener was told BYE"
        );
        assert!(stderr.rest().join("\n").contains("shutdown"));
        let _ = send.kill();
        let _ = send.wait();
        let _ = writer.join();
    }
}

#[test]
fn colour_only_without_no_color() {
    let coloured = TerminalHub::start();
    coloured.tmux.type_line("/nope");
    coloured.tmux.wait_for_text("unknown command /nope");
    let screen = coloured.tmux.screen_with_escapes();
    assert!(screen.contains("\x1b[31m"), "the hint is red: {screen:?}");

    let plain = TerminalHub::start_with_env(&[("NO_COLOR", Some("1"))]);
    plain.tmux.type_line("/nope");
    plain.tmux.wait_for_text("unknown command /nope");
    let screen = plain.tmux.screen_with_escapes();
    assert!(
        !screen.contains("\x1b["),
        "NO_COLOR: no colour at all: {screen:?}"
    );
}

#[test]
fn the_demo_shows_every_listener_receiving_what_the_operator_types() {
    let demo = binary("pipehub");
    let tmux = Tmux::start(
        &[("NO_COLOR", Some("1"))],
        &demo.display().to_string(),
        &["demo", "--listeners", "2"],
    );
    let screen = tmux.wait_for_text("[client 2 (listener 2) joined as listener]");
    let endpoint = screen
        .split("a hub on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner names the endpoint")
        .to_owned();
    assert!(Path::new(&endpoint).exists());
    tmux.wait_for_text("pipehub>");

    tmux.type_line("hello demo");
    for k in [1, 2] {
        tmux.wait_for(&format!("listener {k} printing the line"), |screen| {
            screen.lines().any(|l| {
                l.starts_with(&format!("[listener {k}] "))
                    && l.ends_with("#1 <operator> hello demo")
            })
        });
    }
    tmux.type_line("/to 2 psst");
    tmux.wait_for_text("[listener 2] ");
    tmux.wait_for("the direct message", |screen| {
        screen
            .lines()
            .any(|l| l.starts_with("[listener 2] ") && l.ends_with("direct from operator: psst"))
    });

    tmux.press(&["C-c"]);
    tmux.wait_for_text("[exited 0]");
    let screen = tmux.screen();
    assert!(
        screen.contains("[listener 1] pipehub-client: the hub closed the session: shutdown"),
        "the listeners were told: {screen}"
    );
    let dir = Path::new(&endpoint)
        .parent()
        .expect("the endpoint's directory");
    assert!(!dir.exists(), "{} removed", dir.display());
}
