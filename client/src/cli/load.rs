//! `pipehub-client load`: hands the parsed arguments over to the `pipehub-load` program
//! next to this binary, which does the measuring.
//!
//! The arguments themselves are defined in the library ([`LoadArgs`]), so `--help`, the
//! manual and the completions show them here, and clap has checked them before anything
//! starts. Handing over is `exec` on Unix (the load tool becomes this process: its exit
//! code, signals and terminal are the user's), and a child process waited for elsewhere.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use pipehub_client::load_command::{LOAD_PROGRAM, LoadArgs};

/// Runs `load` by starting `pipehub-load --endpoint ENDPOINT run ARGS`.
pub fn run(endpoint: &str, args: LoadArgs) -> anyhow::Result<()> {
    let program = load_program()?;
    let mut command = Command::new(&program);
    command
        .arg("--endpoint")
        .arg(endpoint)
        .arg("run")
        .arg(args.to_handoff());
    hand_over(command, &program)
}

/// Replaces this process with the load tool. Returns only if that failed.
#[cfg(unix)]
fn hand_over(mut command: Command, program: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    // Its usage lines and notices name the command the user typed.
    let err = command.arg0("pipehub-client load").exec();
    Err(err).with_context(|| format!("could not start {}", program.display()))
}

/// Runs the load tool and exits with its exit code.
#[cfg(not(unix))]
fn hand_over(mut command: Command, program: &std::path::Path) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {}", program.display()))?;
    std::process::exit(status.code().unwrap_or(1))
}

/// `pipehub-load`, next to this executable, or an error that says how to get it.
fn load_program() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where pipehub-client is")?;
    let program = exe.with_file_name(format!("{LOAD_PROGRAM}{}", std::env::consts::EXE_SUFFIX));
    if program.is_file() {
        Ok(program)
    } else {
        anyhow::bail!(
            "`pipehub-client load` runs {LOAD_PROGRAM}, which should be next to \
             pipehub-client, but {} does not exist; build both with `cargo build --release`, \
             or install it with `cargo install --locked --path load`",
            program.display()
        )
    }
}
