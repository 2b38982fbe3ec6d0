//! How the binary stops when it cannot go on: an exit code (listed in `--help`) and a
//! message that names the cause and the fix, printed once as `pipehub: error: ...`.

use std::{fmt::Display, process::ExitCode};

/// Why `pipehub` stops early.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    message: String,
}

impl Exit {
    /// An error while serving: exit code 1.
    pub fn failure(message: impl Display) -> Exit {
        Exit::with(1, message)
    }

    /// An error with its own exit code (2: bad command line, 3: endpoint in use).
    pub fn with(code: u8, message: impl Display) -> Exit {
        Exit {
            code,
            message: message.to_string(),
        }
    }
}

/// Prints why the program stopped early, if it did; the exit code either way.
pub fn report(result: Result<(), Exit>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            eprintln!("pipehub: error: {}", exit.message);
            ExitCode::from(exit.code)
        }
    }
}
