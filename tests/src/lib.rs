//! Helpers for pipehub's end-to-end tests: build and locate the real `pipehub`,
//! `pipehub-client` and `pipehub-load` binaries, start them as processes on a private
//! endpoint, and talk to them through their stdin, stdout and signals.
//!
//! Everything here drives real processes over real sockets; nothing is mocked. [`tmux`]
//! runs a program in a real terminal, for the hub's interactive console.

#[cfg(unix)]
pub mod clients;
#[cfg(unix)]
pub mod mono;
pub mod nats;
pub mod tmux;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{
        OnceLock,
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    time::{Duration, Instant},
};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The path of a workspace binary, built (once per test process) with the same profile
/// as the tests.
///
/// With [`PREBUILT_VAR`] set, the binaries already built beside the tests are used as
/// they are: a test running under Wine cannot start the Linux `cargo`, so `.ci/windows`
/// builds them for Windows first.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        if std::env::var_os(PREBUILT_VAR).is_some() {
            return target_dir();
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "pipehub",
            "-p",
            "pipehub-client",
            "-p",
            "pipehub-load",
            "--bins",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        target_dir()
    });
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build --bins)",
        path.display()
    );
    path
}

/// Set (to anything) to use the binaries already built beside the tests; see [`binary`].
pub const PREBUILT_VAR: &str = "PIPEHUB_TEST_PREBUILT";

/// Where the tests' profile puts binaries: target[/<triple>]/<profile>.
fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test binary> -> target/<profile>
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf()
}

/// A private directory with an endpoint path in it, removed at the end of the test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// An endpoint path inside the scratch directory.
    pub fn endpoint(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// Lines a child process writes, collected by a background thread.
pub struct Lines {
    rx: Receiver<String>,
}

impl Lines {
    /// Collects the lines of `reader` (a child's stdout or stderr) on a background thread.
    pub fn spawn(reader: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, or `None` once the stream has ended.
    pub fn next(&self) -> Option<String> {
        match self.rx.recv_timeout(PATIENCE) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("no line within {PATIENCE:?}"),
        }
    }

    /// Reads lines until one satisfies `pred`; returns it. Panics at end of stream.
    pub fn until(&self, mut pred: impl FnMut(&str) -> bool) -> String {
        loop {
            match self.next() {
                Some(line) if pred(&line) => return line,
                Some(_) => continue,
                None => panic!("stream ended before the expected line"),
            }
        }
    }

    /// Like [`Lines::until`], but gives up after `limit`: `None` if no line satisfied
    /// `pred` by then, or the stream ended.
    pub fn until_within(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if pred(&line) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Every remaining line until the stream ends.
    pub fn rest(&self) -> Vec<String> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

/// A running `pipehub` process.
pub struct HubProcess {
    pub child: Child,
    pub endpoint: String,
    stdin: Option<ChildStdin>,
    /// The operator console: client messages and join/leave notices.
    pub stdout: Lines,
    /// The banner and logs.
    pub stderr: Lines,
    /// The banner's first line: `pipehub: serving ENDPOINT (hub instance ID)`.
    pub banner: String,
}

impl HubProcess {
    /// Starts `pipehub --endpoint ENDPOINT ARGS...` and waits until it serves.
    pub fn start(endpoint: &str, args: &[&str]) -> HubProcess {
        HubProcess::start_with_env(endpoint, args, &[])
    }

    /// Like [`HubProcess::start`], with extra environment variables (such as `TMPDIR`,
    /// which decides where a `pipe:NAME` endpoint is).
    pub fn start_with_env(endpoint: &str, args: &[&str], env: &[(&str, &Path)]) -> HubProcess {
        HubProcess::start_configured(endpoint, args, |command| {
            command.envs(env.iter().copied());
        })
    }

    /// Like [`HubProcess::start`], with the hub's limit on open files (`RLIMIT_NOFILE`,
    /// soft and hard, so the hub cannot raise it) set to `limit` before it runs.
    #[cfg(unix)]
    pub fn start_with_open_file_limit(endpoint: &str, args: &[&str], limit: u64) -> HubProcess {
        use std::os::unix::process::CommandExt;
        HubProcess::start_configured(endpoint, args, |command| {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: between fork and exec the hook only calls setrlimit, which is
            // async-signal-safe, and allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        })
    }

    /// Starts the hub with `configure` applied to its command, and waits until it serves.
    fn start_configured(
        endpoint: &str,
        args: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> HubProcess {
        let mut command = Command::new(binary("pipehub"));
        command
            .arg("--endpoint")
            .arg(endpoint)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command.spawn().expect("start pipehub");
        let stdin = child.stdin.take();
        let stdout = Lines::spawn(child.stdout.take().expect("stdout"));
        let stderr = Lines::spawn(child.stderr.take().expect("stderr"));
        // The banner, or with --log-format json the log line that stands for it.
        let banner = stderr.until(|line| {
            line.starts_with("pipehub: serving") || line.contains(r#""message":"serving""#)
        });
        HubProcess {
            child,
            endpoint: endpoint.to_owned(),
            stdin,
            stdout,
            stderr,
            banner,
        }
    }

    /// The hub's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types lines into the hub's console as one write.
    pub fn type_lines(&mut self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(text.as_bytes())
            .expect("write to hub stdin");
        stdin.flush().expect("flush hub stdin");
    }

    /// Closes the hub's stdin (end of operator input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until the console has announced `n` joins.
    pub fn wait_for_joins(&self, n: usize) {
        for _ in 0..n {
            self.stdout.until(|line| line.contains(" joined as "));
        }
    }

    /// Waits for `n` more listeners to join (notices of other clients are skipped).
    pub fn wait_for_listeners(&self, n: usize) {
        for _ in 0..n {
            self.stdout
                .until(|line| line.contains(" joined as listener"));
        }
    }

    /// Checks that the hub still serves: starts a new `listen` client, waits for `joins`
    /// join notices on the console (the new client's, and any others still coming in),
    /// types `line`, and checks the client received it and the hub is still running.
    pub fn assert_serves_a_new_listener(&mut self, joins: usize, line: &str) {
        let late = client(
            &self.endpoint,
            &["listen", "--format", "plain", "--count", "1"],
        )
        .spawn()
        .expect("start a late listener");
        self.wait_for_joins(joins);
        self.type_lines(&[line.to_owned()]);
        let late = output_within(late);
        assert!(
            late.status.success(),
            "{}",
            String::from_utf8_lossy(&late.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&late.stdout), format!("{line}\n"));
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "the hub runs"
        );
    }

    /// Sends SIGTERM.
    #[cfg(unix)]
    pub fn terminate(&self) {
        signal(&self.child, libc::SIGTERM);
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        wait_timeout(&mut self.child)
    }

    /// The hub's status report, from `pipehub-client status --json`.
    pub fn status(&self) -> serde_json::Value {
        status_report(&self.endpoint)
    }

    /// Waits until the hub's bridge is in `state` (`connecting`, `connected`, `down`);
    /// returns the bridge part of its status report.
    pub fn wait_for_bridge(&self, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let bridge = self.status()["bridge"].clone();
            if bridge["state"] == state {
                return bridge;
            }
            assert!(
                Instant::now() < deadline,
                "the bridge of {} is not {state}: {bridge}",
                self.endpoint
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pipehub-client --endpoint ENDPOINT ARGS...` with piped stdout and stderr.
pub fn client(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary("pipehub-client"));
    command
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The status report of the hub at `endpoint`, from `pipehub-client status --json`.
pub fn status_report(endpoint: &str) -> serde_json::Value {
    let output = output_within(
        client(endpoint, &["status", "--json"])
            .spawn()
            .expect("status"),
    );
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("status JSON")
}

/// Sends `signal` to `child`.
#[cfg(unix)]
pub fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits");
    // SAFETY: kill only sends a signal to the process we started.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Waits for `child` to exit, failing the test after [`PATIENCE`].
pub fn wait_timeout(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit and collects its output, like `Child::wait_with_output`,
/// but kills it and fails the test after [`PATIENCE`], showing what it printed.
pub fn output_within(mut child: Child) -> std::process::Output {
    use std::io::Read;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let collect = |pipe: Option<std::process::ChildStdout>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = collect(stdout);
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = stderr {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    });
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "process did not exit within {PATIENCE:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A running `pipehub-client` (or any) process whose stdout and stderr are read line by
/// line. Killed when dropped.
pub struct ClientProcess {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl ClientProcess {
    /// Spawns `command` (for example one from [`client`]) with its output piped.
    pub fn spawn(mut command: Command) -> ClientProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        let stdout = Lines::spawn(child.stdout.take().expect("stdout"));
        let stderr = Lines::spawn(child.stderr.take().expect("stderr"));
        ClientProcess {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for the process to exit, failing the test after [`PATIENCE`].
    pub fn wait(&mut self) -> ExitStatus {
        wait_timeout(&mut self.child)
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `seq` of a line `listen --format json` printed for a broadcast; `None` for any
/// other line (a direct message, or a line cut short by a kill).
pub fn json_seq(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()?
        .get("seq")?
        .as_u64()
}

/// Reads one whole frame: its type byte and payload. `None` at the end of the stream, on
/// an error, or when the read timeout passes.
pub fn read_frame(stream: &mut impl std::io::Read) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).ok()?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let mut payload = vec![0; len.checked_sub(1)?];
    stream.read_exact(&mut payload).ok()?;
    Some((header[4], payload))
}

/// What Linux's `/proc` tells about a running process: the resources the fault tests
/// watch for leaks and busy loops.
#[cfg(target_os = "linux")]
pub mod proc {
    use std::time::Duration;

    /// How many file descriptors process `pid` holds.
    pub fn open_fds(pid: u32) -> usize {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Process `pid`'s resident memory (`VmRSS`), in KiB.
    pub fn resident_kib(pid: u32) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// The CPU time process `pid` has used so far, user and system.
    pub fn cpu_time(pid: u32) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
        // The command name, in parentheses, may hold spaces: count fields after it.
        let after_name = &stat[stat.rfind(')').expect("a (comm) field") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }
}
