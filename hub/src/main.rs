//! The `pipehub` binary: parse the command line, bind the endpoint, and run the hub
//! library with stdin as the operator's console and Ctrl-C/SIGTERM as the shutdown
//! signal.

mod cli;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use pipehub::{Hub, console, server, transport::BindError, transport::Listener};
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
    let runtime = match tokio::runtime::Runtime::new() {
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

async fn run(cli: cli::Cli) -> ExitCode {
    let listener = match Listener::bind(&cli.endpoint) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("pipehub: error: {err}");
            return match err {
                BindError::InUse { .. } => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            };
        }
    };
    let endpoint = listener.endpoint();
    let (hub, events) = Hub::new(cli.config());
    eprintln!("{}", banner(&endpoint, &hub));

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

/// What the operator sees first: where the hub listens and how to connect to it.
fn banner(endpoint: &str, hub: &Hub) -> String {
    let plain = if cfg!(unix) {
        format!("\n  or any tool:  socat - UNIX-CONNECT:{endpoint}")
    } else {
        String::new()
    };
    format!(
        "pipehub: serving {endpoint} (hub instance {instance})\n  \
         listen with:  pipehub-client --endpoint {endpoint} listen{plain}\n  \
         send with:    pipehub-client --endpoint {endpoint} send 'hello'\n\
         Type a line and press Enter to broadcast it. Ctrl-C stops the hub.",
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
