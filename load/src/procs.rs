//! `--procs P`: listeners spread over P child processes of this same binary.
//!
//! One process holds only as many sockets as its descriptor limit allows, so large N
//! needs more processes. Each worker is `pipehub-load --endpoint E worker ...`: it
//! starts [`Receivers`] of its own and talks to the parent over its stdin
//! and stdout with JSON lines:
//!
//! - worker → parent, every millisecond while something changed (every 100 ms when only
//!   the receivers' idle time did): `{"type":"progress","counts":{...Snapshot},
//!   "error":null}`; the counts include the worker's slowest listener, which the
//!   parent's publishers use for flow control;
//! - parent → worker: `{"type":"stop"}` (or the end of stdin): stop the listeners;
//! - worker → parent, last: `{"type":"stats","stats":{...GroupStats}}`.
//!
//! A worker's stderr is the parent's, so its errors reach the user directly.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::counters::{Counters, Snapshot};
use super::limits;
use super::receiver::Receivers;
use super::spread::Hubs;
use super::stats::GroupStats;

/// The `pipehub-load` command that runs a worker.
pub const WORKER_COMMAND: &str = "worker";

/// How often a worker reports its counts (when they changed).
const REPORT_INTERVAL: Duration = Duration::from_millis(1);

/// How often a worker reports when only its receivers' idle time changed.
const BUSY_REPORT: Duration = Duration::from_millis(100);

/// How long the parent waits for a worker's final report after asking it to stop.
const STATS_TIMEOUT: Duration = Duration::from_secs(30);

/// What a worker is asked to do (its command-line arguments).
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    /// The hub of the worker's first listener.
    pub endpoint: String,
    /// The hubs of its next listeners, round-robin after `endpoint` (`--spread`).
    pub spread: Vec<String>,
    pub listeners: usize,
    /// Receiver threads.
    pub threads: usize,
    pub run: u32,
    pub concurrency: usize,
}

/// A line from a worker to its parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Report {
    Progress {
        counts: Snapshot,
        error: Option<String>,
    },
    Stats {
        stats: GroupStats,
    },
}

/// A line from the parent to a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Order {
    Stop,
}

/// Runs a worker: the body of `pipehub-load worker`.
pub async fn run_worker(spec: WorkerSpec) -> anyhow::Result<()> {
    limits::raise_nofile();
    let group = Receivers::start(
        &Hubs::new(&spec.endpoint, &spec.spread),
        spec.listeners,
        spec.threads,
        spec.run,
        spec.concurrency,
        Arc::new(Notify::new()),
    );
    let counters = Arc::clone(group.counters());
    let mut stdout = tokio::io::stdout();
    let mut orders = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(REPORT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(Snapshot, Instant)> = None;
    loop {
        tokio::select! {
            order = orders.next_line() => match order {
                Ok(Some(line)) => match serde_json::from_str::<Order>(&line) {
                    Ok(Order::Stop) => break,
                    Err(err) => tracing::warn!(%err, line, "ignoring an order the worker does not understand"),
                },
                // The parent is gone or closed our stdin: stop.
                Ok(None) | Err(_) => break,
            },
            _ = tick.tick() => {
                let counts = counters.snapshot();
                // The receivers' idle time changes all the time: it alone is worth a
                // report only now and then.
                let due = last.is_none_or(|(sent, at)| {
                    Snapshot { busy: counts.busy, ..sent } != counts || at.elapsed() >= BUSY_REPORT
                });
                if due {
                    last = Some((counts, Instant::now()));
                    let report = Report::Progress { counts, error: counters.first_error() };
                    send(&mut stdout, &report).await?;
                }
            }
        }
    }
    let stats = group.finish().await;
    send(&mut stdout, &Report::Stats { stats }).await
}

async fn send(stdout: &mut tokio::io::Stdout, report: &Report) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(report).context("encoding a worker report")?;
    line.push(b'\n');
    stdout
        .write_all(&line)
        .await
        .context("the load command that started this worker is gone")?;
    stdout.flush().await?;
    Ok(())
}

/// The parent's handle on one worker process.
pub struct WorkerGroup {
    child: Child,
    stdin: Option<ChildStdin>,
    counters: Arc<Counters>,
    reader: JoinHandle<anyhow::Result<GroupStats>>,
}

impl WorkerGroup {
    /// Starts `exe` as a worker for `spec`; its counts appear in the returned group's
    /// counters, which wake `advanced` on every report.
    pub fn spawn(
        exe: &Path,
        spec: &WorkerSpec,
        advanced: Arc<Notify>,
    ) -> anyhow::Result<WorkerGroup> {
        let mut command = Command::new(exe);
        command
            .arg("--endpoint")
            .arg(&spec.endpoint)
            .arg(WORKER_COMMAND);
        // One flag per hub: a Unix socket path may contain a comma.
        for endpoint in &spec.spread {
            command.arg("--spread").arg(endpoint);
        }
        let mut child = command
            .arg("--listeners")
            .arg(spec.listeners.to_string())
            .arg("--threads")
            .arg(spec.threads.to_string())
            .arg("--run")
            .arg(spec.run.to_string())
            .arg("--concurrency")
            .arg(spec.concurrency.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not start a load worker ({})", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .context("a load worker has no stdout pipe")?;
        let counters = Arc::new(Counters::mirror(advanced));
        let reader = tokio::spawn(read_reports(stdout, Arc::clone(&counters)));
        Ok(WorkerGroup {
            child,
            stdin,
            counters,
            reader,
        })
    }

    /// The worker's process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The worker's latest counts.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Asks the worker to stop its listeners and returns what they measured.
    pub async fn finish(mut self) -> anyhow::Result<GroupStats> {
        if let Some(mut stdin) = self.stdin.take() {
            let mut order = serde_json::to_vec(&Order::Stop).context("encoding an order")?;
            order.push(b'\n');
            // A worker that already exited has its report in the pipe, or none: the
            // reader says which.
            let _ = stdin.write_all(&order).await;
        }
        let stats = match tokio::time::timeout(STATS_TIMEOUT, &mut self.reader).await {
            Ok(Ok(stats)) => stats,
            Ok(Err(err)) => Err(anyhow::anyhow!("a load worker's reader failed: {err}")),
            Err(_) => {
                self.reader.abort();
                Err(anyhow::anyhow!(
                    "a load worker sent no report within {} s of being asked to stop",
                    STATS_TIMEOUT.as_secs()
                ))
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                tracing::warn!(%status, "a load worker exited unsuccessfully");
            }
            Ok(_) => {}
            Err(_) => {
                let _ = self.child.kill().await;
            }
        }
        stats
    }
}

/// Reads a worker's reports into `counters` until its final statistics arrive.
async fn read_reports(
    stdout: tokio::process::ChildStdout,
    counters: Arc<Counters>,
) -> anyhow::Result<GroupStats> {
    let mut lines = BufReader::new(stdout).lines();
    let result = loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => {
                break Err(anyhow::anyhow!(
                    "a load worker exited without its report (see its errors above)"
                ));
            }
            Err(err) => {
                break Err(anyhow::Error::new(err).context("reading a load worker's reports"));
            }
        };
        match serde_json::from_str::<Report>(&line) {
            Ok(Report::Progress { counts, error }) => {
                if let Some(error) = error {
                    counters.note_error(&error);
                }
                counters.set(&counts);
            }
            Ok(Report::Stats { stats }) => break Ok(stats),
            Err(err) => {
                break Err(anyhow::Error::new(err).context(format!(
                    "a load worker sent a report that is not valid: {line}"
                )));
            }
        }
    };
    counters.set_gone();
    result
}
