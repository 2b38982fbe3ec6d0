//! `pipehub-client completions SHELL` and `pipehub-client man`, generated from the
//! command line in `args.rs` by the workspace's one generator (`pipehub-manual`). The
//! page is the same for everyone who generates it: a default computed for the user at
//! hand (the endpoint) is described, not given as that user's path.

use anyhow::Context;
use clap::CommandFactory;

use super::args::{Cli, DEFAULT_ENDPOINT};
use super::exit::EXIT_CODES;

/// Writes the completion script for `shell` to stdout.
pub fn completions(args: pipehub_manual::CompletionsArgs) -> anyhow::Result<()> {
    pipehub_manual::completions(Cli::command(), "pipehub-client", args.shell)
        .context("could not write to stdout")
}

/// Writes the manual page to stdout.
pub fn man() -> anyhow::Result<()> {
    let command = Cli::command().mut_arg("endpoint", |arg| arg.default_value(DEFAULT_ENDPOINT));
    pipehub_manual::man(command, EXIT_CODES).context("could not write the manual page")
}
