//! Reading a listener's socket without waiting: the one place where the receivers differ
//! between platforms.
//!
//! On Unix one `read` takes what the socket holds, and a short read tells that the
//! socket is now empty, so tokio is told at once that the socket is not readable: the
//! receiver waits for the next data instead of spending one more system call to learn
//! that nothing is left. Elsewhere (Windows named pipes) tokio's own `try_read` is used.

use std::io;

use pipehub_client::transport::Stream;

/// Reads what `stream` holds into `buf`, without waiting: `Ok(0)` when the hub closed
/// the connection, `WouldBlock` when there was nothing to read.
#[cfg(unix)]
pub fn read_now(stream: &Stream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;

    use tokio::io::Interest;

    let mut got = 0;
    let result = stream.try_io(Interest::READABLE, || {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call, and
        // the descriptor belongs to `stream`, which outlives it.
        let n = unsafe { libc::read(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        got = n.unsigned_abs();
        if got > 0 && got < buf.len() {
            // A stream socket returns less than asked only when its queue is empty: the
            // same as the `WouldBlock` the next read would get, which is what makes
            // tokio forget the readiness (only if no new data was announced meanwhile).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(got),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        Err(err) => Err(err),
    }
}

/// Reads what `stream` holds into `buf`, without waiting: `Ok(0)` when the hub closed
/// the connection, `WouldBlock` when there was nothing to read.
#[cfg(not(unix))]
pub fn read_now(stream: &Stream, buf: &mut [u8]) -> io::Result<usize> {
    stream.try_read(buf)
}
