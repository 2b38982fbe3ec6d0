//! The exit codes of `pipehub-client`, and which error means which.
//!
//! Scripts branch on these, so each code stands for one situation a script can act on:
//! start a hub (3), give up or try later (4), treat the output as incomplete (5).

use std::process::ExitCode;

use pipehub_client::ClientError;

/// The exit-code table, as `--help` shows it.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (listen: --count messages printed, or the hub said BYE and no --count was
     given; send: the hub confirmed every message)
  1  runtime error: I/O error, the hub reported a protocol ERROR, the connection closed
     without BYE, the hub did not answer HELLO or went silent (keepalive), a message too
     long for the hub
  2  usage error
  3  no hub at the endpoint
  4  the hub refused the session
  5  the hub said BYE too early (listen: before --count messages arrived; send: before it
     confirmed every message)
With listen --reconnect, no hub at the start, a lost connection and a BYE for shutdown are
not an end: listen waits for the hub and (re)connects. A BYE because the operator removed
the client still ends it (0, or 5 before --count messages), and so does a protocol ERROR
or a refusal other than \"hub full\" or \"shutting down\" (1 or 4).";

/// Why the command ended, as a process exit code. Usage errors (2) are clap's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Success = 0,
    /// A runtime error without a code of its own.
    Failure = 1,
    /// Nothing serves the endpoint.
    NoHub = 3,
    /// The hub answered `REFUSED`.
    Refused = 4,
    /// The hub said `BYE` before the command was done.
    EndedEarly = 5,
}

/// `listen --count N` saw the hub's `BYE` before N messages.
#[derive(Debug, thiserror::Error)]
#[error("the hub closed the session after {received} of {count} messages")]
pub struct EndedEarly {
    /// Messages printed.
    pub received: u64,
    /// Messages asked for with `--count`.
    pub count: u64,
}

impl Exit {
    /// The exit code for a failed command: decided by the first error in the chain that
    /// has a code of its own.
    pub fn for_error(err: &anyhow::Error) -> Exit {
        for cause in err.chain() {
            if cause.is::<EndedEarly>() {
                return Exit::EndedEarly;
            }
            match cause.downcast_ref::<ClientError>() {
                Some(ClientError::NoHub { .. } | ClientError::Unusable { .. }) => {
                    return Exit::NoHub;
                }
                Some(ClientError::Refused { .. }) => return Exit::Refused,
                Some(ClientError::Bye { .. }) => return Exit::EndedEarly,
                Some(_) => return Exit::Failure,
                None => {}
            }
        }
        Exit::Failure
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;
    use pipehub_client::protocol::{ByeReason, RefuseCode};

    use super::*;

    fn exit_for(err: ClientError) -> Exit {
        let err = Err::<(), _>(err).context("while testing");
        match err {
            Err(err) => Exit::for_error(&err),
            Ok(()) => Exit::Success,
        }
    }

    #[test]
    fn client_errors_map_to_their_codes() {
        let no_hub = ClientError::NoHub {
            endpoint: "x".into(),
        };
        assert_eq!(exit_for(no_hub), Exit::NoHub);
        let refused = ClientError::Refused {
            code: RefuseCode::HUB_FULL,
            text: String::new(),
        };
        assert_eq!(exit_for(refused), Exit::Refused);
        let bye = ClientError::Bye {
            reason: ByeReason::KICKED,
            text: String::new(),
        };
        assert_eq!(exit_for(bye), Exit::EndedEarly);
        assert_eq!(exit_for(ClientError::Closed), Exit::Failure);
    }

    #[test]
    fn ended_early_is_five() {
        let err = anyhow::Error::new(EndedEarly {
            received: 1,
            count: 2,
        });
        assert_eq!(Exit::for_error(&err), Exit::EndedEarly);
    }

    #[test]
    fn other_errors_are_one() {
        assert_eq!(
            Exit::for_error(&anyhow::anyhow!("disk full")),
            Exit::Failure
        );
    }
}
