//! `pipehub-client completions SHELL` and `pipehub-client man`: a shell completion script
//! and the manual page, generated from the command-line definition in `args.rs`, so they
//! never disagree with `--help`.

use std::io::Write;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::args::Cli;

/// Print a shell completion script to stdout
///
/// For example: pipehub-client completions bash > ~/.local/share/bash-completion/completions/pipehub-client
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the manual page (roff) to stdout
///
/// For example: pipehub-client man > ~/.local/share/man/man1/pipehub-client.1
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "pipehub-client", &mut stdout);
    stdout.flush().context("could not write to stdout")
}

/// Writes the manual page to stdout.
pub fn man() -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .context("rendering the manual page")?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&page)
        .and_then(|()| stdout.flush())
        .context("could not write to stdout")
}
