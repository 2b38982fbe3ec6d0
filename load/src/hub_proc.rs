//! The process under test, seen from outside: a `pipehub` (or raw baseline) the load
//! command starts itself, or a hub that is already running.
//!
//! A spawned target serves from the run's private directory (a [`Scratch`]), at a path
//! that depends only on its kind, so every hub of a `--sweep` is at the same endpoint and
//! the report can name it. It gets stdin from `/dev/null` (so a hub's console reads end
//! of input and keeps serving), stdout discarded (the console's join notices) and stderr
//! in a log file, shown if it fails to start. It is ready when its socket file appears:
//! both the hub and the raw baseline move the socket into place only once it accepts
//! connections.
//!
//! Measured from outside through `/proc` (Linux): resident memory (`VmRSS` in
//! `/proc/PID/status`) and CPU time (`utime + stime` in `/proc/PID/stat`, in clock ticks).
//! For a running hub the PID comes from the socket itself (`SO_PEERCRED`). Elsewhere
//! these numbers are simply absent from the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::config::LoadConfig;
use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a spawned target may take to start serving.
#[cfg(unix)]
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a spawned target may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `pipehub-load` command that runs the raw baseline server ([`TargetKind::Raw`]).
pub const RAW_COMMAND: &str = "raw-fanout";

/// What runs at the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A pipehub hub.
    Hub,
    /// The raw baseline fan-out.
    Raw,
}

impl TargetKind {
    /// `hub` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Hub => "hub",
            TargetKind::Raw => "raw",
        }
    }

    /// Where a target of this kind serves, in the run's directory `dir`.
    pub fn endpoint_in(self, dir: &std::path::Path) -> PathBuf {
        dir.join(format!("{}.sock", self.name()))
    }

    /// What it is, for a sentence: `hub` or `raw baseline`.
    pub fn describe(self) -> &'static str {
        match self {
            TargetKind::Hub => "hub",
            TargetKind::Raw => "raw baseline",
        }
    }
}

/// A target the load command measures.
pub struct Target {
    pub kind: TargetKind,
    pub endpoint: String,
    /// Its process ID, when known.
    pub pid: Option<u32>,
    child: Option<tokio::process::Child>,
}

impl Target {
    /// A hub that is already running at `endpoint`; its PID is asked from the socket.
    pub async fn running(endpoint: &str) -> Target {
        Target {
            kind: TargetKind::Hub,
            endpoint: endpoint.to_owned(),
            pid: peer_pid(endpoint).await,
            child: None,
        }
    }

    /// Starts a target of `kind` for one point of the run: the `pipehub` next to this
    /// program with the run's `--hub-arg`s, or this program's raw baseline server; on the
    /// run's `--target-cpus`, if it names any.
    #[cfg(unix)]
    pub async fn start(
        kind: TargetKind,
        config: &LoadConfig,
        scratch: &Scratch,
    ) -> anyhow::Result<Target> {
        let cpus = &config.target_cpus;
        match kind {
            TargetKind::Hub => {
                let program = sibling_binary("pipehub")?;
                Target::spawn(kind, &program, &config.hub_args, cpus, scratch).await
            }
            TargetKind::Raw => {
                let program =
                    std::env::current_exe().context("cannot tell where this program is")?;
                let args = [RAW_COMMAND.to_owned()];
                Target::spawn(kind, &program, &args, cpus, scratch).await
            }
        }
    }

    /// Starting a target needs Unix sockets.
    #[cfg(not(unix))]
    pub async fn start(
        kind: TargetKind,
        _config: &LoadConfig,
        _scratch: &Scratch,
    ) -> anyhow::Result<Target> {
        anyhow::bail!(
            "starting a {} needs Unix sockets; start a hub and pass --endpoint",
            kind.name()
        )
    }

    /// Starts `program args... --endpoint <its path in scratch>` (the endpoint flag is
    /// added) on `cpus` (all it may use, if empty) and waits until it serves.
    #[cfg(unix)]
    async fn spawn(
        kind: TargetKind,
        program: &std::path::Path,
        args: &[String],
        cpus: &[usize],
        scratch: &Scratch,
    ) -> anyhow::Result<Target> {
        let endpoint = kind.endpoint_in(scratch.path());
        // Left by a target of the point before that had to be killed: it would pass for
        // this one being ready.
        if endpoint.exists() {
            std::fs::remove_file(&endpoint).with_context(|| {
                format!("could not remove the old socket {}", endpoint.display())
            })?;
        }
        let log_path = scratch.path.join(format!("{}.log", kind.name()));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("could not create {}", log_path.display()))?;
        let mut command = tokio::process::Command::new(program);
        command
            .arg("--endpoint")
            .arg(&endpoint)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        if !cpus.is_empty() {
            let cpus = cpus.to_vec();
            // SAFETY: the closure runs in the child between fork and exec and makes one
            // system call (sched_setaffinity), which is async-signal-safe; it allocates
            // nothing (`cpus` was built before the fork).
            unsafe {
                command.pre_exec(move || crate::affinity::pin_this_thread(&cpus));
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = cpus;
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {}", program.display()))?;
        let pid = child.id();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if endpoint.exists() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}) before it served {}: {}",
                    program.display(),
                    endpoint.display(),
                    std::fs::read_to_string(&log_path)
                        .unwrap_or_default()
                        .trim()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{} did not serve {} within {} s",
                    program.display(),
                    endpoint.display(),
                    START_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Target {
            kind,
            endpoint: endpoint.display().to_string(),
            pid,
            child: Some(child),
        })
    }

    /// Resident memory now, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.pid.and_then(rss_bytes)
    }

    /// The CPUs the target may run on (`Cpus_allowed_list`), if it was started here.
    pub fn cpus(&self) -> Option<String> {
        self.child.as_ref().and(self.pid).and_then(cpus_allowed)
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.pid.and_then(cpu_seconds)
    }

    /// Stops a spawned target (SIGTERM, then SIGKILL after a while); leaves a running hub
    /// alone.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            #[cfg(unix)]
            if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) {
                // SAFETY: kill only sends a signal, to the process we started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            if tokio::time::timeout(STOP_TIMEOUT, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    kind = self.kind.name(),
                    "the target did not stop; killing it"
                );
                let _ = child.kill().await;
            }
        }
    }
}

/// How often [`RssPeak`] samples the target's memory.
const RSS_SAMPLE: Duration = Duration::from_millis(100);

/// The highest resident memory of a process over a stretch of time, sampled every
/// `RSS_SAMPLE` by a background task until [`RssPeak::finish`].
pub struct RssPeak {
    stop: CancellationToken,
    sampler: Option<JoinHandle<()>>,
    peak: Arc<AtomicU64>,
}

impl RssPeak {
    /// Starts sampling process `pid` (nothing to sample without one).
    pub fn start(pid: Option<u32>) -> RssPeak {
        let stop = CancellationToken::new();
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = pid.map(|pid| {
            let stop = stop.clone();
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    if let Some(rss) = rss_bytes(pid) {
                        peak.fetch_max(rss, Relaxed);
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RSS_SAMPLE) => {}
                    }
                }
            })
        });
        RssPeak {
            stop,
            sampler,
            peak,
        }
    }

    /// Stops sampling; the highest sample, if any was taken.
    pub async fn finish(mut self) -> Option<u64> {
        self.stop.cancel();
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.await;
        }
        let peak = self.peak.load(Relaxed);
        (peak > 0).then_some(peak)
    }
}

/// The `pipehub` binary next to this one, or an error that says how to get it.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where this program is")?;
    let dir = exe
        .parent()
        .context("this program's path has no directory")?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        anyhow::bail!(
            "--spawn-hub needs the {name} binary next to this one, at {}, and it is not \
             there; build both with `cargo build --release --bins` (or start a hub yourself \
             and pass --endpoint)",
            path.display()
        )
    }
}

/// The private directory the targets of one run serve from, removed with everything in
/// it when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new directory, mode 0700, in the temporary directory.
    #[cfg(unix)]
    pub fn new() -> anyhow::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("pipehub-load-{}-{nanos:x}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("could not create the directory {}", path.display()))?;
        Ok(Scratch { path })
    }

    /// Spawned targets need Unix sockets.
    #[cfg(not(unix))]
    pub fn new() -> anyhow::Result<Scratch> {
        anyhow::bail!("starting a hub needs Unix sockets; start a hub and pass --endpoint")
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The PID of the process serving the Unix socket `endpoint`.
#[cfg(unix)]
async fn peer_pid(endpoint: &str) -> Option<u32> {
    let stream = tokio::net::UnixStream::connect(endpoint).await.ok()?;
    let pid = stream.peer_cred().ok()?.pid()?;
    u32::try_from(pid).ok()
}

#[cfg(not(unix))]
async fn peer_pid(_endpoint: &str) -> Option<u32> {
    None
}

/// `VmRSS` of process `pid`, in bytes.
#[cfg(target_os = "linux")]
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

#[cfg(not(target_os = "linux"))]
pub fn rss_bytes(_pid: u32) -> Option<u64> {
    None
}

/// The CPUs process `pid` may run on, as `/proc/PID/status` lists them (`0-1`, `0,2`).
#[cfg(target_os = "linux")]
pub fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|list| list.trim().to_owned())
}

#[cfg(not(target_os = "linux"))]
pub fn cpus_allowed(_pid: u32) -> Option<String> {
    None
}

/// CPU seconds (user + system) of process `pid`, in steps of [`cpu_resolution`].
#[cfg(target_os = "linux")]
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_cpu_ticks(&stat)? as f64 * cpu_resolution())
}

/// The smallest step of [`cpu_seconds`], in seconds: one clock tick (10 ms on most Linux
/// systems). A shorter CPU time reads as 0.
#[cfg(target_os = "linux")]
pub fn cpu_resolution() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { 1.0 / ticks as f64 } else { 0.01 }
}

/// The smallest step of [`cpu_seconds`], which measures nothing on this platform.
#[cfg(not(target_os = "linux"))]
pub fn cpu_resolution() -> f64 {
    0.01
}

#[cfg(not(target_os = "linux"))]
pub fn cpu_seconds(_pid: u32) -> Option<f64> {
    None
}

/// The `VmRSS:  1234 kB` line of `/proc/PID/status`, in bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `utime + stime` (fields 14 and 15) of `/proc/PID/stat`, in clock ticks. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted from the
/// last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: field 3 (state) is index 0, so field 14 is index 11.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tpipehub\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_name() {
        let stat = "4242 (pipe hub) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).is_some_and(|rss| rss > 0));
        assert!(cpu_seconds(pid).is_some());
    }
}
