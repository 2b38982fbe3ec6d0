//! File-descriptor limits: every listener is a socket, so N listeners need N descriptors
//! in the process that holds them, and N more in the hub.
//!
//! The load command raises its soft `RLIMIT_NOFILE` to the hard limit (child processes,
//! the spawned hub among them, inherit it), then checks, before anything connects, that
//! every process will have room; if one will not, it says which and how to fix it,
//! instead of failing half-way with "too many open files".

use crate::LoadConfig;

/// Descriptors a process needs besides its sockets: stdio, the runtime's epoll and
/// wake-up descriptors, pipes to workers, files under /proc.
pub const SPARE_FDS: u64 = 64;

/// The soft and hard limit on open files after raising the soft one as far as allowed;
/// `None` where the platform has no such limit (Windows) or it cannot be read.
pub fn raise_nofile() -> Option<(u64, u64)> {
    pipehub_protocol::os::raise_open_file_limit()
}

/// Checks that a process needing `needed` descriptors fits `limit` (soft, hard); the
/// error names the process, the numbers and the fix.
pub fn check(limit: Option<(u64, u64)>, who: &str, needed: u64, fix: &str) -> anyhow::Result<()> {
    let Some((soft, hard)) = limit else {
        return Ok(());
    };
    if needed <= soft {
        return Ok(());
    }
    anyhow::bail!(
        "{who} would need about {needed} open files, but the limit is {soft} (hard limit \
         {hard}); {fix}"
    )
}

/// The fix to suggest when `needed` descriptors do not fit: a larger `ulimit -n` where
/// the hard limit allows, else a system setting.
pub fn ulimit_fix(needed: u64, limit: Option<(u64, u64)>) -> String {
    match limit {
        Some((_, hard)) if needed <= hard => {
            format!("run `ulimit -n {needed}` in this shell first")
        }
        _ => format!(
            "raise the hard limit (as root: `ulimit -Hn {needed}`, or `nofile` in \
             /etc/security/limits.conf) and run `ulimit -n {needed}`"
        ),
    }
}

/// Raises the open-file limit and checks that every process will fit in it.
pub fn check_config(config: &LoadConfig) -> anyhow::Result<()> {
    let limit = raise_nofile();
    let per_process = config.clients.div_ceil(config.procs);
    let here = if config.procs > 1 {
        config.publishers + 3 * config.procs + SPARE_FDS
    } else {
        config.clients + config.publishers + SPARE_FDS
    };
    let fix = if config.procs > 1 {
        ulimit_fix(here, limit)
    } else {
        format!(
            "{}, or spread the listeners over processes with --procs {}",
            ulimit_fix(here, limit),
            limit.map_or(2, |(soft, _)| {
                config
                    .clients
                    .div_ceil(soft.saturating_sub(SPARE_FDS).max(1))
                    + 1
            })
        )
    };
    check(limit, "this load process", here, &fix)?;
    if config.procs > 1 {
        let worker = per_process + SPARE_FDS;
        check(
            limit,
            "each worker process",
            worker,
            &format!("{}, or use more --procs", ulimit_fix(worker, limit)),
        )?;
    }
    if config.spawn_hub || config.baseline_raw {
        let target = config.clients + config.publishers + SPARE_FDS;
        check(limit, "the spawned hub", target, &ulimit_fix(target, limit))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_fits_passes() {
        assert!(check(Some((1024, 4096)), "x", 1000, "fix").is_ok());
        assert!(check(None, "x", u64::MAX, "fix").is_ok());
    }

    #[test]
    fn a_process_that_does_not_fit_names_the_numbers_and_fix() {
        let err = check(Some((1024, 4096)), "the hub", 2000, "use --procs")
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(err.contains("the hub would need about 2000"), "{err}");
        assert!(err.contains("limit is 1024 (hard limit 4096)"), "{err}");
        assert!(err.ends_with("use --procs"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn raising_leaves_soft_at_most_hard() {
        if let Some((soft, hard)) = raise_nofile() {
            assert!(soft <= hard);
        }
    }
}
