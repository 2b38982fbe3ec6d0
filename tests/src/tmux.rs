//! A real terminal for tests: a private tmux server running one program in a 200x50
//! window, driven with `send-keys` and read with `capture-pane`.
//!
//! Each [`Tmux`] has a server of its own (`tmux -L NAME`, a name unique to the test
//! process and the test), so tests run in parallel without seeing each other, and the
//! server is killed when the value is dropped, also when the test fails. The program's
//! exit is shown on the screen as `[exited CODE]`.

use std::{
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use crate::PATIENCE;

/// A tmux server with one window running a program.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `program` with `args` (and environment changes `env`, a value of `None`
    /// removing the variable) in a new 200x50 terminal. Fails the test, naming the
    /// package to install, if tmux is missing.
    pub fn start(env: &[(&str, Option<&str>)], program: &str, args: &[&str]) -> Tmux {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "pipehub-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut line = String::from("env");
        for (name, value) in env {
            match value {
                Some(value) => line.push_str(&format!(" {}", quote(&format!("{name}={value}")))),
                None => line.push_str(&format!(" -u {}", quote(name))),
            }
        }
        line.push(' ');
        line.push_str(&quote(program));
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        // Keep the window after the program exits, with its exit code on the screen.
        let script = format!("{line}; echo \"[exited $?]\"; sleep 3600");
        let tmux = Tmux { socket };
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            "test",
            &script,
        ]);
        assert!(
            started.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    /// Runs a tmux command on this server.
    fn run(&self, args: &[&str]) -> Output {
        match Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
        {
            Ok(output) => output,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "tmux is not installed; the console tests need a real terminal: \
                 apt-get install tmux"
            ),
            Err(err) => panic!("cannot run tmux: {err}"),
        }
    }

    /// Types `text` literally, without pressing Enter.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "test", "-l", text]);
    }

    /// Presses keys by tmux name (`Enter`, `Up`, `C-c`, `C-d`).
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "test"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Pastes `text` as a terminal does (as a bracketed paste, when the program asked for
    /// that), without pressing Enter.
    pub fn paste(&self, text: &str) {
        self.run(&["set-buffer", "-b", "pipehub-test", text]);
        self.run(&[
            "paste-buffer",
            "-p",
            "-d",
            "-b",
            "pipehub-test",
            "-t",
            "test",
        ]);
    }

    /// Types `text` and presses Enter.
    pub fn type_line(&self, text: &str) {
        self.type_text(text);
        self.press(&["Enter"]);
    }

    /// The screen and its scrollback, as text, wrapped lines joined, trailing blank
    /// lines dropped.
    pub fn screen(&self) -> String {
        self.capture(&[])
    }

    /// Like [`Tmux::screen`], with colours and other attributes as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.capture(&["-e"])
    }

    fn capture(&self, extra: &[&str]) -> String {
        let mut args = vec!["capture-pane", "-p", "-J", "-S", "-", "-t", "test"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// Waits until the screen satisfies `pred`, and returns it; fails the test after
    /// [`PATIENCE`], showing the screen and `what` was awaited.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `text`; returns the screen.
    pub fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("`{text}`"), |screen| screen.contains(text))
    }

    /// How often `text` appears on the screen and in its scrollback.
    pub fn count(&self, text: &str) -> usize {
        self.screen().matches(text).count()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// `text` as one word for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
