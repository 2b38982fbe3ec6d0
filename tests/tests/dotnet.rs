//! .NET named-pipe clients, unchanged, against the real hub on a `pipe:NAME` endpoint.
//!
//! The C# programs in `tests/dotnet/` are compiled with Mono's `mcs` at test time and run
//! with `mono`; Mono's `System.IO.Pipes` follows .NET's Unix implementation (a Unix socket
//! at `$TMPDIR/CoreFxPipe_NAME`, and a `PipeDirection.In` client that shuts down its
//! sending side right after connecting). Every process of a test gets the same private
//! `TMPDIR`, so tests running at once never meet on a pipe name.
//!
//! The half-close tests use a plain Unix socket and need no Mono.
#![cfg(unix)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::Shutdown,
    os::unix::{fs::PermissionsExt, net::UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use pipehub_tests::{HubProcess, PATIENCE, Scratch, binary, client, mono, wait_timeout};

const MONO_LISTENERS: usize = 10;
const TYPED: usize = 250;
const SENT: usize = 250;
const TOTAL: usize = TYPED + SENT;
const ROUNDS: usize = 10;

/// A hub on `pipe:NAME`, with the private temporary directory the name resolves in.
struct PipeHub {
    scratch: Scratch,
    name: String,
    hub: HubProcess,
}

impl PipeHub {
    fn start() -> PipeHub {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let scratch = Scratch::new();
        let name = format!(
            "pipehub-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hub = HubProcess::start_with_env(
            &format!("pipe:{name}"),
            &[],
            &[("TMPDIR", scratch.dir.path())],
        );
        PipeHub { scratch, name, hub }
    }

    fn tmpdir(&self) -> &Path {
        self.scratch.dir.path()
    }

    /// Where .NET looks for the pipe: worked out here, not by the code under test.
    fn socket_path(&self) -> PathBuf {
        self.tmpdir().join(format!("CoreFxPipe_{}", self.name))
    }

    /// `pipehub-client --endpoint pipe:NAME ARGS...` with the hub's `TMPDIR`.
    fn client(&self, args: &[&str]) -> Command {
        let mut command = client(&self.hub.endpoint, args);
        command.env("TMPDIR", self.tmpdir());
        command
    }

    /// Broadcasts `lines` with one `pipehub-client send`, which returns once the hub has
    /// taken every one.
    fn send(&self, lines: &[String]) {
        let mut send = self
            .client(&["send"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("start send");
        let mut stdin = send.stdin.take().expect("send stdin");
        stdin
            .write_all(format!("{}\n", lines.join("\n")).as_bytes())
            .expect("write to send");
        drop(stdin);
        finished_lines(send, "pipehub-client send");
    }

    /// Waits for the next join on the console; returns the client's ID.
    fn next_join(&self) -> u64 {
        let line = self.hub.stdout.until(|line| line.contains(" joined as "));
        joined(&line).unwrap_or_else(|| panic!("no client ID in {line:?}"))
    }
}

/// The client ID in a console line `[client ID joined as KIND]`.
fn joined(line: &str) -> Option<u64> {
    line.strip_prefix("[client ")
        .filter(|_| line.contains(" joined as "))
        .and_then(|rest| rest.split([' ', ']']).next())
        .and_then(|id| id.parse().ok())
}

/// The C# programs, compiled.
struct Mono {
    listener: PathBuf,
    in_out: PathBuf,
}

impl Mono {
    /// Compiles `tests/dotnet/*.cs` into `dir`. Fails, naming the fix, without Mono.
    fn compile(dir: &Path) -> Mono {
        mono::require();
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("dotnet");
        let compile = |program: &str| {
            let exe = dir.join(format!("{program}.exe"));
            mono::compile(&exe, &[sources.join(format!("{program}.cs"))], &[])
        };
        Mono {
            listener: compile("Listener"),
            in_out: compile("InOut"),
        }
    }

    /// Starts `mono PROGRAM ARGS...` with the hub's `TMPDIR`, stdout piped.
    fn run(&self, hub: &PipeHub, program: &Path, args: &[&str]) -> Child {
        Command::new("mono")
            .arg(program)
            .args(args)
            .env("TMPDIR", hub.tmpdir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mono")
    }
}

/// Waits for `child` to exit and returns its stdout lines; fails if it did not exit 0.
fn finished_lines(mut child: Child, what: &str) -> Vec<String> {
    let status = wait_timeout(&mut child);
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).expect("read stderr");
    }
    assert!(status.success(), "{what} exited with {status}: {stderr}");
    stdout.lines().map(str::to_owned).collect()
}

#[test]
fn mono_listeners_receive_every_broadcast_in_hub_order() {
    let mut pipe = PipeHub::start();
    let mono = Mono::compile(pipe.tmpdir());
    let listeners: Vec<Child> = (0..MONO_LISTENERS)
        .map(|_| mono.run(&pipe, &mono.listener, &[&pipe.name]))
        .collect();
    // The hub's order, with sequence numbers, from a framed listener on the same pipe:NAME.
    let reference = pipe
        .client(&["listen", "--format", "json", "--count", &TOTAL.to_string()])
        .spawn()
        .expect("start reference listener");
    pipe.hub.wait_for_joins(MONO_LISTENERS + 1);

    // Typed and sent messages interleave, as they would in real use.
    let mut typed = Vec::new();
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        let lines: Vec<String> = (0..TYPED / ROUNDS)
            .map(|i| format!("typed {}", round * TYPED / ROUNDS + i))
            .collect();
        pipe.hub.type_lines(&lines);
        typed.extend(lines);

        let lines: Vec<String> = (0..SENT / ROUNDS)
            .map(|i| format!("sent {}", round * SENT / ROUNDS + i))
            .collect();
        pipe.send(&lines);
        sent.extend(lines);
    }

    let mut hub_order = Vec::new();
    for (i, line) in finished_lines(reference, "reference listener")
        .iter()
        .enumerate()
    {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON object");
        assert_eq!(value["seq"], (i + 1) as u64, "consecutive sequence numbers");
        hub_order.push(value["body"].as_str().expect("text body").to_owned());
    }
    let only = |prefix: &str| -> Vec<String> {
        hub_order
            .iter()
            .filter(|body| body.starts_with(prefix))
            .cloned()
            .collect()
    };
    assert_eq!(only("typed"), typed, "every typed line, in order");
    assert_eq!(only("sent"), sent, "every sent line, in order");
    assert_eq!(hub_order.len(), TOTAL);

    // The hub closes text listeners when it stops: that ends each ReadLine loop.
    pipe.hub.terminate();
    for (n, listener) in listeners.into_iter().enumerate() {
        let lines = finished_lines(listener, &format!("mono listener {n}"));
        assert_eq!(
            lines, hub_order,
            "mono listener {n} printed the hub's order"
        );
    }
    assert!(pipe.hub.wait().success(), "the hub stops cleanly");
}

#[test]
fn a_dotnet_client_that_writes_at_once_talks_to_the_operator_and_listens() {
    let mut pipe = PipeHub::start();
    let mono = Mono::compile(pipe.tmpdir());
    // Writes its line right after Connect, as a .NET program does, then reads.
    let in_out = mono.run(&pipe, &mono.in_out, &[&pipe.name, "hello from .NET"]);
    let mut id = None;
    let said = pipe
        .hub
        .stdout
        .until_within(Duration::from_secs(15), |line| {
            id = id.or_else(|| joined(line));
            id.is_some_and(|id| line == format!("[client {id} says] hello from .NET"))
        });
    assert!(
        said.is_some(),
        "the operator console never showed the .NET client joining and saying its line"
    );

    // Sent rather than typed: `send` returns once the hub has them, so none can be cut
    // off by the shutdown below.
    let lines: Vec<String> = (0..3).map(|i| format!("reply {i}")).collect();
    pipe.send(&lines);
    pipe.hub.terminate();
    assert_eq!(finished_lines(in_out, "mono InOut"), lines);
    assert!(pipe.hub.wait().success(), "the hub stops cleanly");
}

/// Connects the way a .NET `PipeDirection.In` client does: connect, then shut down the
/// sending side at once. Returns the reader and the client ID the hub gave it.
fn half_closed_listener(pipe: &PipeHub) -> (BufReader<UnixStream>, u64) {
    let stream = UnixStream::connect(pipe.socket_path()).expect("connect to CoreFxPipe_NAME");
    stream.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    let id = pipe.next_join();
    (BufReader::new(stream), id)
}

fn read_line(reader: &mut BufReader<UnixStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a line");
    line
}

#[test]
fn a_half_closed_listener_keeps_receiving_broadcasts() {
    let mut pipe = PipeHub::start();
    let (mut reader, _) = half_closed_listener(&pipe);
    for round in 0..5 {
        let lines: Vec<String> = (0..3).map(|i| format!("round {round} line {i}")).collect();
        pipe.hub.type_lines(&lines);
        for expected in &lines {
            assert_eq!(read_line(&mut reader), format!("{expected}\n"));
        }
    }
}

#[test]
fn a_half_closed_listener_is_dropped_once_it_is_gone() {
    let mut pipe = PipeHub::start();
    let (gone, gone_id) = half_closed_listener(&pipe);
    let (mut staying, _) = half_closed_listener(&pipe);
    drop(gone);
    // The hub finds out when a write to it fails; the other listener is unaffected.
    pipe.hub.type_lines(&["after".to_owned()]);
    assert_eq!(read_line(&mut staying), "after\n");
    let left = format!("[client {gone_id} left]");
    pipe.hub.stdout.until(|line| line == left);
}

#[test]
fn the_pipe_socket_is_owner_only() {
    let pipe = PipeHub::start();
    let meta = std::fs::metadata(pipe.socket_path()).expect("socket at CoreFxPipe_NAME");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_pipe_endpoint_without_a_bare_name_is_a_usage_error() {
    for program in ["pipehub", "pipehub-client"] {
        for endpoint in ["pipe:", "pipe:a/b"] {
            let mut command = Command::new(binary(program));
            command.arg("--endpoint").arg(endpoint);
            if program == "pipehub-client" {
                command.arg("listen");
            }
            let output = command
                .stdin(Stdio::null())
                .output()
                .expect("run the program");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{program} {endpoint}");
            assert!(
                stderr.contains("pipe:") && stderr.contains("name"),
                "{program} {endpoint}: {stderr}"
            );
        }
    }
}

#[test]
fn the_readme_shows_the_listener_these_tests_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listener = std::fs::read_to_string(root.join("dotnet/Listener.cs")).expect("Listener.cs");
    let readme = std::fs::read_to_string(root.join("../README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("```csharp\n{listener}```\n")),
        "README's \"Listening from .NET\" must show tests/dotnet/Listener.cs exactly"
    );
}
