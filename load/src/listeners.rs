//! [`Listeners`]: the listeners of one run, in this process ([`Receivers`]) or in
//! `--procs` worker processes ([`WorkerGroup`]), seen by the phases as one set of live
//! [`Counters`] and, at the end, one [`GroupStats`].

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

use crate::LoadConfig;
use crate::counters::{Counters, Snapshot};
use crate::procs::{WorkerGroup, WorkerSpec};
use crate::receiver::{self, Receivers};
use crate::spread::Hubs;
use crate::stats::GroupStats;

/// The listeners of one run: in this process, or in worker processes.
pub enum Listeners {
    Local(Receivers),
    Workers(Vec<WorkerGroup>),
}

impl Listeners {
    /// Starts connecting `config.clients` listeners for run `run`, round-robin over
    /// `hubs`, in this process or spread over `config.procs` workers. Returns at once;
    /// the counters show them arrive. `advanced` is woken as listeners move on.
    pub fn start(
        config: &LoadConfig,
        hubs: &Hubs,
        run: u32,
        advanced: &Arc<Notify>,
    ) -> anyhow::Result<Listeners> {
        let clients = usize::try_from(config.clients).context("--clients is too large")?;
        let procs = usize::try_from(config.procs).context("--procs is too large")?;
        if procs <= 1 {
            return Ok(Listeners::Local(Receivers::start(
                hubs,
                clients,
                receiver::thread_count(config.receiver_threads, clients, 1),
                run,
                config.connect_concurrency,
                Arc::clone(advanced),
            )));
        }
        let exe = std::env::current_exe().context("cannot tell where this program is")?;
        let mut workers = Vec::with_capacity(procs);
        let mut first_slot = 0;
        for i in 0..procs {
            let listeners = clients / procs + usize::from(i < clients % procs);
            let round = hubs.starting_at(first_slot);
            let spec = WorkerSpec {
                endpoint: round.first().to_owned(),
                spread: round.others().to_vec(),
                listeners,
                threads: receiver::thread_count(config.receiver_threads, listeners, procs),
                run,
                concurrency: config.connect_concurrency,
            };
            workers.push(WorkerGroup::spawn(&exe, &spec, Arc::clone(advanced))?);
            first_slot += listeners;
        }
        Ok(Listeners::Workers(workers))
    }

    /// The live counters of every group.
    pub fn counters(&self) -> Vec<Arc<Counters>> {
        match self {
            Listeners::Local(group) => vec![Arc::clone(group.counters())],
            Listeners::Workers(workers) => {
                workers.iter().map(|w| Arc::clone(w.counters())).collect()
            }
        }
    }

    /// The processes the listeners run in: this one, and any workers.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![std::process::id()];
        if let Listeners::Workers(workers) = self {
            pids.extend(workers.iter().filter_map(WorkerGroup::pid));
        }
        pids
    }

    /// Stops every listener and returns what they all measured.
    pub async fn finish(self) -> anyhow::Result<GroupStats> {
        match self {
            Listeners::Local(group) => Ok(group.finish().await),
            Listeners::Workers(workers) => {
                let mut total = GroupStats::default();
                for stats in
                    futures_util::future::join_all(workers.into_iter().map(WorkerGroup::finish))
                        .await
                {
                    total.merge(stats?);
                }
                Ok(total)
            }
        }
    }
}

/// The counts of every group together.
pub fn snapshot(groups: &[Arc<Counters>]) -> Snapshot {
    let mut total = Snapshot {
        min_received: u64::MAX,
        ..Snapshot::default()
    };
    for group in groups {
        total.add(&group.snapshot());
    }
    total
}
