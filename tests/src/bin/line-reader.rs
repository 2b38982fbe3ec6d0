//! `line-reader ENDPOINT`: the classic read-only pipe client, in a few lines of Rust. It
//! opens the hub's endpoint for reading only and prints every line it reads until the
//! hub closes the connection; the end-to-end tests use it as a plain text listener.
//!
//! On Windows it opens the named pipe with `GENERIC_READ` alone, exactly as .NET's
//! `NamedPipeClientStream(".", NAME, PipeDirection.In)` does, and retries while every
//! instance is busy. On Unix it connects to the socket and shuts down its sending side,
//! as `nc -U PATH < /dev/null` does.

use std::{
    io::{self, BufRead, BufReader, Write},
    process::ExitCode,
};

fn main() -> ExitCode {
    let Some(endpoint) = std::env::args().nth(1) else {
        eprintln!("usage: line-reader ENDPOINT");
        return ExitCode::from(2);
    };
    let stream = match open(&endpoint) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("line-reader: cannot open {endpoint}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::stdout().lock();
    for line in BufReader::new(stream).lines() {
        let written = line.and_then(|line| {
            writeln!(out, "{line}")?;
            out.flush()
        });
        if let Err(err) = written {
            eprintln!("line-reader: {err}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Opens the pipe `endpoint` (a bare name means `\\.\pipe\NAME`) for reading only.
#[cfg(windows)]
fn open(endpoint: &str) -> io::Result<std::fs::File> {
    use std::time::{Duration, Instant};
    /// Win32 `ERROR_PIPE_BUSY`: every instance is taken; the hub creates the next.
    const ERROR_PIPE_BUSY: i32 = 231;
    let path = if endpoint.starts_with(r"\\") {
        endpoint.to_owned()
    } else {
        format!(r"\\.\pipe\{endpoint}")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::OpenOptions::new().read(true).open(&path) {
            Err(err)
                if err.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened => return opened,
        }
    }
}

/// Connects to the socket `endpoint` and shuts down the sending side.
#[cfg(unix)]
fn open(endpoint: &str) -> io::Result<std::os::unix::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::connect(endpoint)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    Ok(stream)
}
