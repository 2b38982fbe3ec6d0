//! `pipehub-client man`: the manual page holds what `--help` says, for every command, and
//! is the same whoever generates it.

use std::process::{Command, Output};

/// Runs `pipehub-client ARGS` with the per-user default endpoint set to a path in
/// `runtime_dir`, and no `PIPEHUB_ENDPOINT`.
fn run(args: &[&str], runtime_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipehub-client"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("TMPDIR", runtime_dir)
        .env_remove("PIPEHUB_ENDPOINT")
        .output()
        .expect("run pipehub-client")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The commands `--help` lists, without `help` itself.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The long options `--help` lists, such as `--format`.
fn long_options(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Options:"))
        // An option's own line; its description is indented further.
        .filter(|line| {
            let text = line.trim_start();
            text.starts_with('-') && line.len() - text.len() < 8
        })
        .filter_map(|line| {
            line.split([' ', ','])
                .find(|word| word.starts_with("--"))
                .map(|word| word.trim_end_matches(['=', '<']).to_owned())
        })
        .collect()
}

#[test]
fn the_manual_has_every_commands_options() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let man = stdout(&run(&["man"], dir.path()));
    let commands = commands(&stdout(&run(&["--help"], dir.path())));
    assert!(commands.contains(&"listen".to_owned()), "{commands:?}");
    for command in &commands {
        let help = stdout(&run(&[command, "--help"], dir.path()));
        let options = long_options(&help);
        assert!(
            !options.is_empty(),
            "no options in {command} --help: {help}"
        );
        for option in options {
            // roff writes each dash as `\-`.
            let roff = option.replace('-', "\\-");
            assert!(
                man.contains(&format!("\\fB{roff}\\fR")),
                "`{command} {option}` is not in the manual"
            );
        }
    }
    assert!(
        !man.contains("(1)"),
        "the manual refers to pages that do not exist"
    );
}

// The user's own default is a path under XDG_RUNTIME_DIR on Unix only; on Windows it is
// the same pipe name for everyone.
#[cfg(unix)]
#[test]
fn the_manual_describes_the_default_endpoint_instead_of_naming_the_users() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let users_default = dir.path().join("pipehub.sock").display().to_string();
    // The default is this user's path, and --help says so ...
    let help = stdout(&run(&["--help"], dir.path()));
    assert!(help.contains(&users_default), "{help}");

    // ... but the manual is for anyone.
    let man = stdout(&run(&["man"], dir.path()));
    let dir_name = dir.path().display().to_string();
    assert!(!man.contains(&dir_name), "the manual names {dir_name}");
    assert!(
        !man.contains(&dir_name.replace('-', "\\-")),
        "the manual names {dir_name}"
    );
    assert!(man.contains("$XDG_RUNTIME_DIR/pipehub.sock"), "{man}");
}

#[test]
fn the_manuals_exit_codes_are_one_per_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let man = stdout(&run(&["man"], dir.path()));
    let status = man
        .split(".SH \"EXIT STATUS\"\n")
        .nth(1)
        .expect("an EXIT STATUS section");
    // No-fill mode: roff keeps the lines as they are, so items do not run together.
    assert!(status.starts_with(".nf\n"), "{status}");
    let table: Vec<&str> = status.lines().take_while(|line| *line != ".fi").collect();
    for code in ["  2  usage error", "  3  no hub at the endpoint"] {
        assert!(
            table.contains(&code),
            "{code:?} is not a line of its own: {table:?}"
        );
    }
}
