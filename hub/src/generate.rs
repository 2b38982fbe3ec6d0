//! `pipehub completions SHELL` and `pipehub man`, generated from the command line in
//! `cli/` by the workspace's one generator (`pipehub-manual`). Part of the binary.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, EXIT_CODES};

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    done(pipehub_manual::completions(
        Cli::command(),
        "pipehub",
        shell,
    ))
}

/// Writes the manual page to stdout. The same page for everyone: the default endpoint as
/// a rule, not the path of whoever generated it.
pub fn man() -> ExitCode {
    let command = Cli::command().mut_arg("endpoint", |arg| {
        arg.default_value(pipehub_protocol::endpoint::DEFAULT_DESCRIPTION)
    });
    done(pipehub_manual::man(command, EXIT_CODES))
}

fn done(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipehub: error: could not write the page or script to stdout: {err}");
            ExitCode::FAILURE
        }
    }
}
