//! The command line of `pipehub-load`. Users do not type it: `pipehub-client load` runs
//! `pipehub-load run` with the arguments it parsed, and the load tool runs itself as its
//! `--procs` workers and as the raw baseline server. This directory belongs to the
//! binary only.

mod run;

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use pipehub_client::ClientError;
use pipehub_load::busy::BusyClock;
use pipehub_load::procs::{self, WorkerSpec};

/// The program behind `pipehub-client load`; run that instead (`pipehub-client load
/// --help` describes the load test)
#[derive(Debug, Parser)]
#[command(name = "pipehub-load", version)]
pub struct Cli {
    /// The hub's endpoint, as `pipehub-client --endpoint` resolved it
    #[arg(long, global = true, value_name = "ENDPOINT", default_value = "")]
    pub endpoint: String,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test: the arguments of `pipehub-client load`, as it hands them over
    Run {
        /// `pipehub_client::load_command::LoadArgs`, as JSON
        #[arg(value_name = "ARGS")]
        args: String,
    },
    /// Listeners for a parent `load --procs`
    #[command(name = procs::WORKER_COMMAND)]
    Worker(WorkerArgs),
    /// The raw baseline fan-out server for `load --baseline raw`
    #[command(name = pipehub_load::RAW_COMMAND)]
    RawFanout,
}

/// The `worker` command: listeners for a parent `load --procs`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Listeners to connect
    #[arg(long)]
    pub listeners: usize,
    /// Receiver threads to read them on
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The run ID of the messages to measure
    #[arg(long)]
    pub run: u32,
    /// Handshakes in flight at once
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The hubs of the next listeners, round-robin after --endpoint (`load --spread`);
    /// one flag per hub, as a socket path may contain a comma
    #[arg(long, value_name = "ENDPOINT")]
    pub spread: Vec<String>,
}

/// Runs the command `cli` names, on the runtime whose busy clock is `clock`.
pub async fn run(cli: Cli, clock: Arc<BusyClock>) -> anyhow::Result<()> {
    let endpoint = cli.endpoint;
    match cli.command {
        Command::Run { args } => run::run(&endpoint, &args, clock).await,
        Command::Worker(args) => {
            procs::run_worker(WorkerSpec {
                endpoint,
                spread: args.spread,
                listeners: args.listeners,
                threads: args.threads,
                run: args.run,
                concurrency: args.concurrency,
            })
            .await
        }
        Command::RawFanout => raw_fanout(&endpoint).await,
    }
}

/// Runs the raw baseline server.
#[cfg(unix)]
async fn raw_fanout(endpoint: &str) -> anyhow::Result<()> {
    pipehub_load::raw::serve(endpoint).await
}

/// The raw baseline needs Unix sockets.
#[cfg(not(unix))]
async fn raw_fanout(_endpoint: &str) -> anyhow::Result<()> {
    anyhow::bail!("the raw baseline needs Unix sockets")
}

/// The exit code for a failed command, as `pipehub-client` gives it: 3 when no hub serves
/// the endpoint, 4 when the hub refused, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    let code = err
        .chain()
        .find_map(|cause| match cause.downcast_ref::<ClientError>() {
            Some(ClientError::NoHub { .. } | ClientError::Unusable { .. }) => Some(3),
            Some(ClientError::Refused { .. }) => Some(4),
            Some(_) => Some(1),
            None => None,
        })
        .unwrap_or(1);
    ExitCode::from(code)
}

/// Writes one line for a person to stderr, as `pipehub-client` does:
/// `pipehub-client: {message}`. A closed stderr is ignored; there is nowhere left to
/// report it.
pub fn notice(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "pipehub-client: {message}");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
