//! `pipehub-client completions SHELL` and `pipehub-client man`: a shell completion script
//! and the manual page, generated from the command-line definition in `args.rs`, so they
//! never disagree with `--help`.
//!
//! The manual is one page, `pipehub-client(1)`, that holds every command: the global
//! options, then a COMMANDS section with each command's synopsis, description and
//! options, then the exit status. One page, so that `pipehub-client man > pipehub-client.1`
//! installs all of it and nothing refers to pages that do not exist. clap_mangen renders
//! each part; this file only puts them under the page's own headings.
//!
//! The page is the same for everyone who generates it: a default computed for the user
//! at hand (the endpoint) is described, not given as that user's path.

use std::io::{self, Write};

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

use super::args::{Cli, DEFAULT_ENDPOINT};
use super::exit::EXIT_CODES;

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
/// One page with every command and its options.
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
    let page = page().context("rendering the manual page")?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(page.as_bytes())
        .and_then(|()| stdout.flush())
        .context("could not write to stdout")
}

/// The whole manual page, as roff.
fn page() -> io::Result<String> {
    let mut command = Cli::command()
        .disable_help_subcommand(true)
        .mut_arg("endpoint", |arg| arg.default_value(DEFAULT_ENDPOINT));
    command.build();
    let man = Man::new(command.clone());
    // The title's render carries the preamble the rest of the page relies on.
    let mut title = Vec::new();
    man.render_title(&mut title)?;
    let mut page = String::from_utf8_lossy(&title).into_owned();
    page.push_str(&rendered(|out| man.render_name_section(out))?);
    page.push_str(&rendered(|out| man.render_synopsis_section(out))?);
    page.push_str(&rendered(|out| man.render_description_section(out))?);
    page.push_str(&rendered(|out| man.render_options_section(out))?);

    page.push_str(".SH COMMANDS\n");
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        // The global options are described once, above.
        let sub = sub.clone().mut_args(|arg| {
            if arg.is_global_set() {
                arg.hide(true)
            } else {
                arg
            }
        });
        page.push_str(&format!(".SS {}\n", sub.get_name()));
        let man = Man::new(sub);
        page.push_str(&section_body(|out| man.render_synopsis_section(out))?);
        page.push_str(".PP\n");
        page.push_str(&section_body(|out| man.render_description_section(out))?);
        page.push_str(&section_body(|out| man.render_options_section(out))?);
    }

    page.push_str(".SH \"EXIT STATUS\"\n.nf\n");
    let table = EXIT_CODES
        .strip_prefix("Exit codes:\n")
        .unwrap_or(EXIT_CODES);
    for line in table.lines() {
        page.push_str(&roff_line(line));
        page.push('\n');
    }
    page.push_str(".fi\n");
    page.push_str(&rendered(|out| man.render_version_section(out))?);
    Ok(page)
}

/// What `render` writes, as text, without the preamble clap_mangen repeats in every
/// render (the title already has it).
fn rendered(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    let mut out = Vec::new();
    render(&mut out)?;
    let text = String::from_utf8_lossy(&out);
    Ok(text
        .lines()
        .filter(|line| !line.starts_with(".ie \\n(.g .ds Aq") && !line.starts_with(".el .ds Aq"))
        .map(|line| format!("{line}\n"))
        .collect())
}

/// What `render` writes for one section, without its `.SH` heading, to go under a
/// heading of this page.
fn section_body(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    Ok(rendered(render)?
        .lines()
        .filter(|line| !line.starts_with(".SH "))
        .map(|line| format!("{line}\n"))
        .collect())
}

/// `text` as one roff text line in no-fill mode: backslashes and dashes escaped,
/// apostrophes as the preamble's `\*(Aq`, and a leading `.` kept from being a request.
fn roff_line(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq");
    if escaped.starts_with('.') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
