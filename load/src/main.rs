//! `pipehub-load`: the program behind `pipehub-client load`.
//!
//! Thin on purpose: parse the command line, set up logging, run the command, turn the
//! outcome into an exit code. The commands live in `cli/`, the measuring in the
//! `pipehub_load` library.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use pipehub_load::busy::BusyClock;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    pipehub_client::log_to_stderr();
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
