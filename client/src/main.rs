//! `pipehub-client`: listens to or sends to a pipehub hub from the command line.
//!
//! Thin on purpose: parse the command line, set up logging, run the command, turn the
//! outcome into an exit code. The commands live in `cli/`, the session logic in the
//! `pipehub_client` library, where tests can use it without a process in between.

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    pipehub_client::log_to_stderr();
    match cli::run(args).await {
        Ok(()) => cli::Exit::Success.into(),
        Err(err) => {
            cli::notice(format_args!("error: {err:#}"));
            cli::Exit::for_error(&err).into()
        }
    }
}
