//! The `pipehub` binary: parse the command line, bind the endpoint, and run the hub
//! library with stdin as the operator's console and Ctrl-C/SIGTERM as the shutdown
//! signal.

mod cli;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use pipehub::{Hub, console, server, transport::BindError, transport::Listener};
use pipehub_protocol::endpoint;
use tokio::io::BufReader;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match runtime(cli.threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("pipehub: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    // The stdin reader may be blocked in a read that never returns; do not wait for it.
    runtime.shutdown_background();
    code
}

/// The async runtime: one thread serves every client with no cross-thread wake-ups;
/// more threads spread the clients' work over more cores.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            builder.worker_threads(threads);
        }
        builder
    };
    builder.enable_all().build()
}

async fn run(cli: cli::Cli) -> ExitCode {
    let address = endpoint::resolve(&cli.endpoint);
    let config = cli.config();
    raise_fd_limit(config.max_clients);
    let listener = match Listener::bind_with_mode(&address, config.socket_mode) {
        Ok(listener) => listener,
        Err(err) => {
            match endpoint::pipe_name(&cli.endpoint) {
                Some(_) => eprintln!(
                    "pipehub: error: {err} ({} resolves to {address})",
                    cli.endpoint
                ),
                None => eprintln!("pipehub: error: {err}"),
            }
            return match err {
                BindError::InUse { .. } => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            };
        }
    };
    let (hub, events) = Hub::new(config);
    eprintln!("{}", banner(&cli.endpoint, &listener.endpoint(), &hub));

    tokio::spawn(console::print_events(events, tokio::io::stdout()));
    let input_closed = CancellationToken::new();
    {
        let hub = hub.clone();
        let input_closed = input_closed.clone();
        let exit_on_eof = cli.exit_on_eof;
        tokio::spawn(async move {
            let result = console::broadcast_lines(&hub, BufReader::new(tokio::io::stdin())).await;
            if let Err(err) = result {
                tracing::warn!(%err, "reading operator input failed");
            }
            if exit_on_eof {
                input_closed.cancel();
            } else {
                tracing::info!(
                    "operator input closed; still serving (Ctrl-C or SIGTERM stops the hub)"
                );
            }
        });
    }

    server::serve(&hub, listener, async {
        tokio::select! {
            () = shutdown_signal() => {}
            () = input_closed.cancelled() => {}
        }
    })
    .await;
    ExitCode::SUCCESS
}

/// Raises the soft limit on open files to the hard limit, so the hub can hold as many
/// clients as the system allows, and says what that capacity is.
fn raise_fd_limit(max_clients: usize) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        let raised = unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
            }
        };
        if !raised {
            tracing::warn!("could not raise the open-file limit; the hub may hold fewer clients");
            return;
        }
        // A few descriptors go to stdio, the listener and the runtime.
        let capacity = usize::try_from(limit.rlim_cur)
            .unwrap_or(usize::MAX)
            .saturating_sub(32);
        if capacity < max_clients {
            tracing::info!(
                "the open-file limit allows about {capacity} clients (raise it with `ulimit -Hn` to hold more)"
            );
        } else {
            tracing::debug!(capacity, "open-file limit raised");
        }
    }
    #[cfg(not(unix))]
    let _ = max_clients;
}

/// What the operator sees first: where the hub listens and how to connect to it.
/// `endpoint` is the endpoint as given, `address` the socket or pipe it resolved to.
fn banner(endpoint: &str, address: &str, hub: &Hub) -> String {
    let plain = if cfg!(unix) {
        format!("\n  or any tool:  socat - UNIX-CONNECT:{address}")
    } else {
        String::new()
    };
    let dotnet = match endpoint::pipe_name(endpoint) {
        Some(name) => format!(
            "\n  or .NET:      new NamedPipeClientStream(\".\", \"{name}\", PipeDirection.In)"
        ),
        None => String::new(),
    };
    // A pipe:NAME is given to clients as it is, so they find the hub the way .NET does.
    let client_endpoint = if dotnet.is_empty() { address } else { endpoint };
    format!(
        "pipehub: serving {shown} (hub instance {instance})\n  \
         listen with:  pipehub-client --endpoint {client_endpoint} listen{plain}{dotnet}\n  \
         send with:    pipehub-client --endpoint {client_endpoint} send 'hello'\n\
         Type a line and press Enter to broadcast it. Ctrl-C stops the hub.",
        shown = endpoint::describe(endpoint, address),
        instance = hub.instance()
    )
}

/// Completes on Ctrl-C, or on SIGTERM where there is one.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
