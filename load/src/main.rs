//! `pipehub-load`: the program behind `pipehub-client load`.
//!
//! Thin on purpose: parse the command line, set up logging, run the command, turn the
//! outcome into an exit code. The commands live in `cli/`, the measuring in the
//! `pipehub_load` library.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pipehub_load::busy::BusyClock;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
        )
        .init();
    // One thread, whose clock tells how busy the publishers (which run on it) were.
    let clock = BusyClock::new();
    let runtime = match clock.runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            cli::notice(format_args!("error: could not start a runtime: {err}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args, clock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::notice(format_args!("error: {err:#}"));
            cli::exit_code(&err)
        }
    }
}
