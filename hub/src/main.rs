//! The `pipehub` binary: parses the command line, sets up the log and the runtime, and
//! runs what was asked: serving the endpoint (`serve.rs`), or a subcommand (`demo.rs`,
//! `generate.rs`). The hub itself is the library, which the tests start in-process.

mod cli;
mod demo;
mod exit;
mod generate;
mod serve;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use pipehub::{
    console::{LogRoute, style::colour_allowed},
    platform,
};

fn main() -> ExitCode {
    let mut cli = cli::Cli::parse();
    let demo = match cli.command.take() {
        Some(cli::Command::Completions(args)) => return generate::completions(args.shell),
        Some(cli::Command::Man(_)) => return generate::man(),
        Some(cli::Command::Demo(args)) => Some(args),
        None => None,
    };
    // While the console's line editor owns the terminal, log lines go through it.
    let log_route = LogRoute::default();
    // At a terminal the console's own notices say what happens; the log adds only what
    // goes wrong. A service (stdin not a terminal: systemd, a pipe, a file) logs what it
    // does too.
    let interactive =
        demo.is_some() || (std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let ansi = std::io::stderr().is_terminal() && colour_allowed();
    pipehub::logging::init(cli.log_format, log_route.clone(), interactive, ansi);
    let runtime = match runtime(cli.threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("pipehub: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match demo {
            Some(args) => demo::run(cli, args, log_route, platform::shutdown_signal()).await,
            None => serve::run(cli, log_route).await,
        }
    });
    // The stdin reader may be blocked in a read that never returns; do not wait for it.
    runtime.shutdown_background();
    exit::report(result)
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
