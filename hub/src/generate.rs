//! `pipehub completions SHELL` and `pipehub man`: a shell completion script and the
//! manual page, generated from the command-line definition in `cli.rs`, so they never
//! disagree with `--help`. Part of the binary, not the library.

use std::{io::Write, process::ExitCode};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "pipehub", &mut script);
    write_out(&script)
}

/// Writes the manual page to stdout.
pub fn man() -> ExitCode {
    let mut page = Vec::new();
    // The same page for everyone: the default endpoint as a rule, not the path of
    // whoever generated it.
    let command = Cli::command().mut_arg("endpoint", |arg| {
        arg.default_value(pipehub_protocol::endpoint::DEFAULT_DESCRIPTION)
    });
    if let Err(err) = clap_mangen::Man::new(command).render(&mut page) {
        eprintln!("pipehub: error: cannot render the manual page: {err}");
        return ExitCode::FAILURE;
    }
    write_out(&page)
}

fn write_out(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`pipehub man | head`) took what it wanted.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipehub: error: could not write to stdout: {err}");
            ExitCode::FAILURE
        }
    }
}
