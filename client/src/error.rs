//! [`ClientError`]: every way a client session can fail.
//!
//! Each message says what happened and, where the user can do something about it, what
//! to do. The binary maps the variants to exit codes (no hub, refused, runtime error), so
//! the variants follow what a script would want to tell apart, not where in the code the
//! failure was noticed.

use std::io;
use std::time::Duration;

use pipehub_protocol::{ByeReason, ErrorCode, FrameType, ProtocolError, RefuseCode};

use crate::transport::EndpointProblem;

/// Why a session with a hub could not be opened or did not go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing serves the endpoint: no socket file or pipe, or a socket file left over
    /// from a hub that has exited.
    #[error("no hub at {endpoint} (start one with: pipehub --endpoint {endpoint})")]
    NoHub { endpoint: String },

    /// Nothing serves the endpoint, and no hub could as it is (see [`EndpointProblem`]):
    /// the message says what is wrong with it instead of suggesting to start a hub there.
    #[error("no hub at {endpoint}: {problem}")]
    Unusable {
        endpoint: String,
        problem: EndpointProblem,
    },

    /// The hub answered `HELLO` with `REFUSED`.
    #[error("the hub refused the session: {code}{}{}", detail(text), refuse_hint(*code))]
    Refused { code: RefuseCode, text: String },

    /// The hub sent `ERROR`: it says this client broke the protocol, and it closes the
    /// connection.
    #[error(
        "the hub ended the session over a protocol error: {code}{} \
         (pipehub-client and the hub may be different versions)",
        detail(text)
    )]
    HubError { code: ErrorCode, text: String },

    /// The hub sent `BYE` while the client still expected something (a `WELCOME`, a
    /// `PONG`): it shut down or the operator removed this client.
    #[error("the hub closed the session: {reason}{}", detail(text))]
    Bye { reason: ByeReason, text: String },

    /// A message too long for the hub's maximum frame size; nothing was sent.
    #[error(
        "a message of {len} bytes is longer than the hub accepts ({max} bytes per message); \
         split it into smaller messages"
    )]
    MessageTooLarge { len: usize, max: usize },

    /// The hub's bytes are not valid pipehub frames.
    #[error(
        "the hub sent bytes that are not valid pipehub frames: {0} \
         (is the endpoint a pipehub hub of a matching version?)"
    )]
    Protocol(ProtocolError),

    /// Reading from or writing to the connection failed. (The message includes the I/O
    /// error, so it is not also given as `source`, and a chain of errors says it once.)
    #[error("I/O error on the connection to the hub: {0}")]
    Io(io::Error),

    /// The hub closed the connection without saying why (no `BYE`, `ERROR` or `REFUSED`).
    #[error(
        "the hub closed the connection without a BYE \
         (it may have crashed or been killed; its log may say why)"
    )]
    Closed,

    /// Something accepted the connection at the endpoint but sent no answer to `HELLO`:
    /// perhaps not a pipehub hub, or a hub that hangs.
    #[error(
        "the endpoint at {endpoint} accepted the connection but did not answer HELLO \
         within {}; is it a pipehub hub?",
        Seconds(*waited)
    )]
    WelcomeTimeout { endpoint: String, waited: Duration },

    /// The hub sent nothing for a keepalive interval, then did not answer the `PING` this
    /// client sent for another interval: it hangs, or it is gone without the connection
    /// having been closed.
    #[error(
        "the hub at {endpoint} sent nothing for {}, not even an answer to a keepalive PING \
         (it may hang, or be gone without closing the connection)",
        Seconds(*silent_for)
    )]
    HubSilent {
        endpoint: String,
        silent_for: Duration,
    },

    /// A valid frame that makes no sense at this point of the session.
    #[error(
        "the hub sent an unexpected {} frame {during} \
         (pipehub-client and the hub may be different versions)",
        .frame.name()
    )]
    UnexpectedFrame {
        frame: FrameType,
        /// Where in the session, e.g. "before WELCOME".
        during: &'static str,
    },

    /// The hub does not know `STATUS_REQUEST`: it is older than status requests.
    #[error(
        "the hub at {endpoint} cannot report its status: it is older than status requests \
         (upgrade the hub; its own console has /list and /stats)"
    )]
    NoStatus { endpoint: String },

    /// The hub's `STATUS` parts are not a status report.
    #[error("the hub's status report is not valid JSON of the documented form: {0}")]
    BadStatus(serde_json::Error),
}

impl ClientError {
    /// Whether trying again later may well succeed: the hub is not there (yet), nor the
    /// directory of its socket, went away without a word, did not answer, or said it is
    /// shutting down or full. A
    /// client that reconnects on its own retries these and gives up on the others (the
    /// operator removed it, the hub refused it for good, or one side broke the protocol).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::NoHub { .. }
            | ClientError::Io(_)
            | ClientError::Closed
            | ClientError::WelcomeTimeout { .. }
            | ClientError::HubSilent { .. }
            | ClientError::Protocol(ProtocolError::Truncated(_)) => true,
            ClientError::Unusable { problem, .. } => problem.is_transient(),
            ClientError::Refused { code, .. } => {
                matches!(*code, RefuseCode::HUB_FULL | RefuseCode::SHUTTING_DOWN)
            }
            ClientError::Bye { reason, .. } => *reason == ByeReason::SHUTDOWN,
            ClientError::HubError { .. }
            | ClientError::NoStatus { .. }
            | ClientError::BadStatus(_)
            | ClientError::MessageTooLarge { .. }
            | ClientError::Protocol(_)
            | ClientError::UnexpectedFrame { .. } => false,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> ClientError {
        ClientError::Io(err)
    }
}

impl From<ProtocolError> for ClientError {
    /// Keeps I/O errors apart from the hub's malformed bytes: `Framed` reports both
    /// through the codec's error type.
    fn from(err: ProtocolError) -> ClientError {
        match err {
            ProtocolError::Io(err) => ClientError::Io(err),
            err => ClientError::Protocol(err),
        }
    }
}

/// `": text"`, or nothing for an empty text.
fn detail(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// A duration as people read it in a message: `10 s`, `0.25 s`.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else {
            write!(f, "{} s", self.0.as_secs_f64())
        }
    }
}

/// What to do about a refusal, as `" (...)"`, or nothing for a code without advice.
fn refuse_hint(code: RefuseCode) -> &'static str {
    match code {
        RefuseCode::UNSUPPORTED_VERSION => " (use a pipehub-client of the same version as the hub)",
        RefuseCode::HUB_FULL => {
            " (try again when clients have left, or raise the hub's client limit)"
        }
        RefuseCode::NOT_PERMITTED => " (ask the hub's operator for access)",
        RefuseCode::SHUTTING_DOWN => " (try again once the hub has been restarted)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_hub_names_endpoint_and_fix() {
        let err = ClientError::NoHub {
            endpoint: "/tmp/x.sock".into(),
        };
        assert_eq!(
            err.to_string(),
            "no hub at /tmp/x.sock (start one with: pipehub --endpoint /tmp/x.sock)"
        );
    }

    #[test]
    fn an_unusable_endpoint_says_what_is_wrong_instead_of_starting_a_hub() {
        let err = ClientError::Unusable {
            endpoint: "/tmp/gone/hub.sock".into(),
            problem: EndpointProblem::NoDirectory {
                dir: "/tmp/gone".into(),
            },
        };
        assert_eq!(
            err.to_string(),
            "no hub at /tmp/gone/hub.sock: directory /tmp/gone does not exist; check the \
             endpoint (no hub can serve it until the directory exists)"
        );
        assert!(err.is_transient(), "the directory may yet be created");
        let err = ClientError::Unusable {
            endpoint: "/tmp/file".into(),
            problem: EndpointProblem::NotASocket {
                path: "/tmp/file".into(),
            },
        };
        assert!(!err.is_transient());
    }

    #[test]
    fn refused_names_code_text_and_fix() {
        let err = ClientError::Refused {
            code: RefuseCode::HUB_FULL,
            text: "1000 clients".into(),
        };
        assert_eq!(
            err.to_string(),
            "the hub refused the session: hub full: 1000 clients \
             (try again when clients have left, or raise the hub's client limit)"
        );
    }

    #[test]
    fn empty_text_adds_no_separator() {
        let err = ClientError::Bye {
            reason: ByeReason::SHUTDOWN,
            text: String::new(),
        };
        assert_eq!(err.to_string(), "the hub closed the session: shutdown");
    }

    #[test]
    fn welcome_timeout_names_endpoint_and_wait() {
        let err = ClientError::WelcomeTimeout {
            endpoint: "/tmp/x.sock".into(),
            waited: Duration::from_secs(10),
        };
        assert_eq!(
            err.to_string(),
            "the endpoint at /tmp/x.sock accepted the connection but did not answer HELLO \
             within 10 s; is it a pipehub hub?"
        );
    }

    #[test]
    fn hub_silent_names_endpoint_and_silence() {
        let err = ClientError::HubSilent {
            endpoint: "/tmp/x.sock".into(),
            silent_for: Duration::from_millis(600),
        };
        assert_eq!(
            err.to_string(),
            "the hub at /tmp/x.sock sent nothing for 0.6 s, not even an answer to a keepalive \
             PING (it may hang, or be gone without closing the connection)"
        );
    }

    #[test]
    fn only_losses_and_passing_refusals_are_transient() {
        assert!(ClientError::Closed.is_transient());
        assert!(ClientError::from(ProtocolError::Truncated(3)).is_transient());
        assert!(!ClientError::from(ProtocolError::EmptyFrame).is_transient());
        let bye = |reason| ClientError::Bye {
            reason,
            text: String::new(),
        };
        assert!(bye(ByeReason::SHUTDOWN).is_transient());
        assert!(!bye(ByeReason::KICKED).is_transient());
        let refused = |code| ClientError::Refused {
            code,
            text: String::new(),
        };
        assert!(refused(RefuseCode::SHUTTING_DOWN).is_transient());
        assert!(refused(RefuseCode::HUB_FULL).is_transient());
        assert!(!refused(RefuseCode::NOT_PERMITTED).is_transient());
        assert!(!refused(RefuseCode::UNSUPPORTED_VERSION).is_transient());
    }

    #[test]
    fn protocol_io_error_becomes_io() {
        let err = ClientError::from(ProtocolError::Io(io::ErrorKind::BrokenPipe.into()));
        assert!(matches!(err, ClientError::Io(_)));
        let err = ClientError::from(ProtocolError::EmptyFrame);
        assert!(matches!(err, ClientError::Protocol(_)));
    }
}
