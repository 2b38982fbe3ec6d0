//! `pipehub demo`: the whole idea in one terminal. Starts a hub on a private temporary
//! endpoint and N real `pipehub-client listen` processes (the client binary next to this
//! one), and shows each listener's output on the hub's console, labelled
//! `[listener 2] ...`. The operator types into the console as usual (a broadcast, `/list`,
//! `/to`, `/kick`); Ctrl-C or `/quit` stops the hub, the listeners get `BYE` and exit, and
//! the endpoint and its directory are removed. Part of the binary, not the library.
//!
//! The listeners are started one at a time, each once the one before has joined, so
//! "listener K" is client K in `/list`. On Unix they run in a process group of their
//! own: a Ctrl-C typed while the console is not reading reaches the hub alone, which
//! then stops them gracefully.

use std::{
    future::Future,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use pipehub::{
    Console, ConsoleOptions, Hub, console::LogRoute, console::Printer, console::Style,
    console::Tone, platform, server, transport::Listener,
};
use pipehub_protocol::endpoint;
use tokio_util::sync::CancellationToken;

use crate::{
    cli::{Cli, DemoArgs},
    exit::Exit,
};

/// Start a hub and some listeners in one terminal, and type to them
///
/// How long a listener has to join before the demo gives up on it.
const JOIN_LIMIT: Duration = Duration::from_secs(10);

/// How long the listeners get to print their last lines and exit after the hub stopped.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// Runs the demo until the operator stops it, or `shutdown` completes.
pub async fn run(
    cli: Cli,
    args: DemoArgs,
    log_route: LogRoute,
    shutdown: impl Future,
) -> Result<(), Exit> {
    let client = client_binary().map_err(Exit::failure)?;
    let place = DemoPlace::new().map_err(|err| {
        Exit::failure(format!(
            "cannot make a temporary endpoint for the demo: {err}"
        ))
    })?;
    let config = cli.config();
    let listener =
        Listener::bind_with_mode(&place.endpoint, config.socket_mode).map_err(Exit::failure)?;
    let (hub, events) = Hub::new(config);
    eprintln!("{}", banner(&place.endpoint, args.listeners));
    let stop = CancellationToken::new();
    // The operator's first line waits until every listener is there to receive it.
    let (listeners_up, start_reading) = tokio::sync::oneshot::channel();
    let options = ConsoleOptions {
        exit_on_eof: true,
        log_route: Some(log_route),
        start_reading: Some(start_reading),
        format: cli.log_format,
    };
    let console = Console::start(&hub, events, stop.clone(), options)
        .map_err(|err| Exit::failure(format!("cannot start the console: {err}")))?;
    let server = {
        let hub = hub.clone();
        let stop = stop.clone();
        tokio::spawn(async move { server::serve(&hub, listener, stop.cancelled_owned()).await })
    };
    let style = if console.is_terminal() {
        Style::for_console()
    } else {
        Style::PLAIN
    };
    let started = tokio::select! {
        started = start_listeners(&hub, &client, &place.endpoint, args.listeners, console.printer(), style) => started,
        _ = stop.cancelled() => Ok(Vec::new()),
    };
    let mut listeners = match started {
        Ok(listeners) => listeners,
        Err((listeners, message)) => {
            tracing::error!("{message}");
            stop.cancel();
            listeners
        }
    };
    let _ = listeners_up.send(());
    tokio::select! {
        _ = shutdown => stop.cancel(),
        _ = stop.cancelled() => {}
    }
    if let Err(err) = server.await {
        tracing::error!(%err, "the hub's task failed");
    }
    for listener in &mut listeners {
        listener.wait_or_kill(Instant::now() + EXIT_LIMIT);
    }
    console.finish();
    drop(place);
    Ok(())
}

/// `pipehub-client`, next to this executable.
fn client_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|err| format!("cannot tell where pipehub is, to find pipehub-client: {err}"))?;
    let client = exe.with_file_name(format!("pipehub-client{}", std::env::consts::EXE_SUFFIX));
    if client.is_file() {
        Ok(client)
    } else {
        Err(format!(
            "pipehub demo runs pipehub-client, which should be next to pipehub, but {} does \
             not exist (build both with `cargo build --release`, or install both)",
            client.display()
        ))
    }
}

/// Where the demo's hub listens: a fresh private directory (Unix) or a pipe name of its
/// own (Windows). The directory is removed when this is dropped.
struct DemoPlace {
    endpoint: String,
    dir: Option<PathBuf>,
}

impl DemoPlace {
    fn new() -> std::io::Result<DemoPlace> {
        let (endpoint, dir) = platform::private_endpoint("pipehub-demo")?;
        Ok(DemoPlace { endpoint, dir })
    }
}

impl Drop for DemoPlace {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn banner(endpoint: &str, listeners: u16) -> String {
    let example = if listeners >= 2 { 2 } else { 1 };
    format!(
        "pipehub demo: a hub on {endpoint} and {listeners} listener{s} \
         (pipehub-client --endpoint {endpoint} listen)\n\
         Type a line and press Enter: every listener prints it. \
         Try /list, /to {example} hello, /kick {example} and /help.\n\
         Ctrl-C stops the hub and the listeners, and removes the endpoint.",
        s = if listeners == 1 { "" } else { "s" },
        endpoint = endpoint::describe(endpoint, endpoint),
    )
}

/// One `pipehub-client listen` process and the threads that print its output.
struct ListenerProcess {
    child: Child,
    /// One message per output stream when it ends.
    outputs_done: mpsc::Receiver<()>,
}

impl ListenerProcess {
    /// Waits until the process has exited and its output has been printed, or `deadline`;
    /// kills it then.
    fn wait_or_kill(&mut self, deadline: Instant) {
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.outputs_done.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}

impl Drop for ListenerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `count` listeners, one at a time, each once the one before has joined.
/// On failure, returns those already started and what went wrong.
async fn start_listeners(
    hub: &Hub,
    client: &Path,
    endpoint: &str,
    count: u16,
    printer: Printer,
    style: Style,
) -> Result<Vec<ListenerProcess>, (Vec<ListenerProcess>, String)> {
    let mut started = Vec::new();
    for k in 1..=count {
        let label = style.paint(Tone::Sender, &format!("[listener {k}]"));
        match spawn_listener(client, endpoint, k, &label, &printer) {
            Ok(listener) => started.push(listener),
            Err(err) => {
                let message = format!("cannot start {}: {err}", client.display());
                return Err((started, message));
            }
        }
        let deadline = Instant::now() + JOIN_LIMIT;
        while hub.client_count() < usize::from(k) {
            if Instant::now() >= deadline {
                let message = format!("listener {k} did not join within {JOIN_LIMIT:?}");
                return Err((started, message));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(started)
}

fn spawn_listener(
    client: &Path,
    endpoint: &str,
    k: u16,
    label: &str,
    printer: &Printer,
) -> std::io::Result<ListenerProcess> {
    let mut command = Command::new(client);
    command
        .args(["--endpoint", endpoint, "--wait", "5", "listen"])
        .args(["--format", "pretty", "--name", &format!("listener {k}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    platform::own_process_group(&mut command);
    let mut child = command.spawn()?;
    let (done, outputs_done) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let printer = printer.clone();
        let label = label.to_owned();
        let done = done.clone();
        std::thread::Builder::new()
            .name(format!("listener-{k}-output"))
            .spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    printer.print(format!("{label} {line}\n"));
                }
                let _ = done.send(());
            })?;
    }
    Ok(ListenerProcess {
        child,
        outputs_done,
    })
}
