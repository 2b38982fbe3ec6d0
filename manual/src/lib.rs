//! `completions SHELL` and `man` for each of pipehub's programs: a shell completion script
//! and the manual page, generated from the program's clap definition, so they never
//! disagree with `--help`. Written once for both programs.
//!
//! The manual is one page per program that holds everything: the options, then a
//! COMMANDS section with each subcommand's synopsis, description and options, then the
//! exit status. One page, so that `PROGRAM man > PROGRAM.1` installs all of it and
//! nothing refers to pages that do not exist. clap_mangen renders each part; this crate
//! only puts them under the page's own headings.

use std::io::{self, Write};

use clap::{Args, Command};
use clap_complete::Shell;
use clap_mangen::Man;

/// Print a shell completion script to stdout
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the manual page (roff) to stdout
///
/// One page with every command and its options.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Writes `program`'s completion script for `shell` to stdout. A reader that went away
/// early (`| head`) is not an error.
pub fn completions(mut command: Command, program: &str, shell: Shell) -> io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, program, &mut script);
    write_out(&script)
}

/// Writes `command`'s manual page to stdout, with `exit_codes` (the text `--help` ends
/// with, "Exit codes:" and one line per code) as its EXIT STATUS section. A reader that
/// went away early (`| head`) is not an error.
pub fn man(command: Command, exit_codes: &str) -> io::Result<()> {
    write_out(page(command, exit_codes)?.as_bytes())
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // A reader that went away (`man | head`) took what it wanted.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

/// The whole manual page, as roff.
pub fn page(command: Command, exit_codes: &str) -> io::Result<String> {
    let mut command = command.disable_help_subcommand(true);
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

    let subcommands: Vec<&Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .collect();
    if !subcommands.is_empty() {
        page.push_str(".SH COMMANDS\n");
    }
    for sub in subcommands {
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
    let table = exit_codes
        .strip_prefix("Exit codes:\n")
        .unwrap_or(exit_codes);
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

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    use super::*;

    /// A program with one subcommand
    #[derive(Parser)]
    #[command(name = "prog", version)]
    struct Prog {
        /// A global option
        #[arg(long, global = true)]
        verbose: bool,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Subcommand)]
    enum Sub {
        /// Do the thing
        Thing {
            /// How many
            #[arg(long)]
            count: u32,
        },
    }

    #[test]
    fn the_page_has_every_command_and_the_exit_status() {
        use clap::CommandFactory;
        let page = page(Prog::command(), "Exit codes:\n  0  done\n  2  usage error").unwrap();
        assert!(page.contains(".SH COMMANDS\n.SS thing\n"), "{page}");
        assert!(page.contains("\\-\\-count"), "{page}");
        assert!(
            page.contains(".SH \"EXIT STATUS\"\n.nf\n  0  done\n  2  usage error\n.fi\n"),
            "{page}"
        );
        // The global option is described once, in OPTIONS, not again under the command.
        assert_eq!(page.matches("\\-\\-verbose").count(), 2, "{page}");
    }
}
