//! Keeping the measured target and the tool on separate CPUs (`--target-cpus`, Linux):
//! the spawned hub (or raw baseline) runs on the CPUs given, the tool on the others, so
//! that a figure says what the target does with those cores, not how it shared them with
//! its own load.

#[cfg(target_os = "linux")]
use std::io;

/// The CPUs this process may run on now.
#[cfg(target_os = "linux")]
pub fn allowed() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set, and sched_getaffinity writes at
    // most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes; pid 0 is this thread.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, within the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The set holding `cpus` (those beyond what a cpu_set_t holds are left out).
#[cfg(target_os = "linux")]
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&cpu| cpu < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` is below CPU_SETSIZE, within the set.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Pins thread `tid` (0: the calling thread) to `set`.
#[cfg(target_os = "linux")]
fn pin(tid: i32, set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    match unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Pins the calling thread to `cpus`: for a child between `fork` and `exec`, where only
/// async-signal-safe calls are allowed (sched_setaffinity is one system call).
#[cfg(target_os = "linux")]
pub fn pin_this_thread(cpus: &[usize]) -> io::Result<()> {
    pin(0, &cpu_set(cpus))
}

/// Pins every thread of this process to `cpus`; threads started later inherit it from
/// the thread that starts them.
#[cfg(target_os = "linux")]
pub fn pin_this_process(cpus: &[usize]) -> io::Result<()> {
    let set = cpu_set(cpus);
    for task in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = task?
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // A thread that ended meanwhile is no longer there to pin (ESRCH).
        match pin(tid, &set) {
            Err(err) if err.raw_os_error() != Some(libc::ESRCH) => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

/// Checks `target` against the CPUs this process may use, and moves the tool off them:
/// returns the CPUs the tool now runs on.
#[cfg(target_os = "linux")]
pub fn keep_off(target: &[usize]) -> anyhow::Result<Vec<usize>> {
    let allowed = allowed()?;
    if let Some(cpu) = target.iter().find(|cpu| !allowed.contains(cpu)) {
        anyhow::bail!(
            "--target-cpus names CPU {cpu}, which this process may not use (it may use {}); \
             name CPUs from that list",
            list(&allowed)
        );
    }
    let rest: Vec<usize> = allowed
        .into_iter()
        .filter(|cpu| !target.contains(cpu))
        .collect();
    if rest.is_empty() {
        anyhow::bail!(
            "--target-cpus {} leaves no CPU for the tool itself; leave it at least one",
            list(target)
        );
    }
    pin_this_process(&rest)?;
    Ok(rest)
}

#[cfg(not(target_os = "linux"))]
pub fn keep_off(_target: &[usize]) -> anyhow::Result<Vec<usize>> {
    anyhow::bail!("--target-cpus works on Linux only")
}

/// `cpus` as a comma-separated list.
pub fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_only_where_it_was_pinned() {
        let first = allowed().unwrap()[0];
        std::thread::spawn(move || {
            pin_this_thread(&[first]).unwrap();
            assert_eq!(allowed().unwrap(), vec![first]);
        })
        .join()
        .unwrap();
    }
}
