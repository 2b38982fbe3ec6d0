//! Giving memory back to the system once the load that needed it has gone.
//!
//! glibc's allocator keeps what the hub frees for reuse, and returns a part of its heap
//! only when the top of the heap is free: after a load (thousands of listeners that did
//! not read, large frames) the hub stayed at its peak for good. Measured on Linux with
//! 2,000 text listeners that did not read and 200 half-sent 1 MiB frames: 6 MB at the
//! start, 65 MB loaded, still 48 MB after every one of them left; trimmed as here,
//! 9–12 MB (the retained broadcasts are the rest). An allocator with decay (mimalloc)
//! measured worse: it kept 85–103 MB.
//!
//! Elsewhere this does nothing: it is glibc's heap that needs it.

/// Free bytes in the allocator's heap past which they are given back: well above what
/// the hub frees and reuses in a moment of steady work, so steady work trims rarely.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_ABOVE: usize = 2 * 1024 * 1024;

/// Gives the heap's free memory back to the system if there is much of it. Called now and
/// then by one hub-wide task; cheap when there is little to give.
pub(crate) fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics (under its own lock).
        let free = unsafe { libc::mallinfo2() }.fordblks;
        if free > TRIM_ABOVE {
            // SAFETY: malloc_trim releases free pages of the heap under the allocator's
            // own locks; memory in use is untouched.
            unsafe { libc::malloc_trim(0) };
        }
    }
}
