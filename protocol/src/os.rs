//! What both programs, the hub and its client, ask of the operating system: the user they
//! run as, and as many open files as they may have (every client is a descriptor).
//! Written once here, in the crate both link.

/// The real user ID of this process (0 where there is no such thing, on Windows).
pub fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Raises this process's soft limit on open files as far as it may go (the hard limit;
/// on macOS, which refuses an unlimited soft limit, `OPEN_MAX`). Returns the soft and
/// hard limits it leaves; `None` where the platform has no such limit (Windows) or they
/// cannot be read. Child processes inherit the raised limit.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given, nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let mut raised = limit;
            raised.rlim_cur = limit.rlim_max;
            // SAFETY: setrlimit only reads the struct it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            } else {
                // macOS refuses RLIM_INFINITY as a soft limit; OPEN_MAX is its ceiling.
                raised.rlim_cur = limit.rlim_max.min(10_240);
                // SAFETY: as above.
                if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                    limit = raised;
                }
            }
        }
        // `rlim_t` is `u64` on Linux and macOS, not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        Some((limit.rlim_cur as u64, limit.rlim_max as u64))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
