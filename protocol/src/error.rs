//! Decoding errors, and the numeric codes the protocol puts on the wire (`ERROR`,
//! `REFUSED`, `BYE`).

use std::{fmt, io};

/// Why a byte stream could not be read as pipehub frames. Every variant except `Io` is
/// the peer's fault; [`ProtocolError::code`] gives the code the hub sends back in an
/// `ERROR` frame before it closes such a connection.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The length field is larger than the maximum frame size in force.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    /// The length field is 0: a frame has at least its type byte.
    #[error("frame length 0: every frame has at least a type byte")]
    EmptyFrame,
    /// The type byte names no frame this protocol version knows.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    /// The frame's payload does not have the layout its type requires.
    #[error("malformed {frame} frame: {reason}")]
    Malformed {
        frame: &'static str,
        reason: &'static str,
    },
    /// A `HELLO` that does not start with the magic `PHUB`.
    #[error("bad magic {0:02x?} in HELLO (expected \"PHUB\"): not a pipehub client")]
    BadMagic([u8; 4]),
    /// A `HELLO` for a protocol version this side does not speak.
    #[error("unsupported protocol version {0} (this side speaks version {v})", v = crate::VERSION)]
    UnsupportedVersion(u16),
    /// The stream ended in the middle of a frame: the peer vanished mid-frame.
    #[error("the first frame must be HELLO, got {}", .0.name())]
    NotHello(crate::FrameType),

    #[error("connection closed in the middle of a frame ({0} bytes of it received)")]
    Truncated(usize),
    /// Reading or writing the underlying stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ProtocolError {
    /// The code for an `ERROR` frame describing this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge { .. } => ErrorCode::FRAME_TOO_LARGE,
            ProtocolError::UnknownType(_) => ErrorCode::UNKNOWN_FRAME_TYPE,
            ProtocolError::BadMagic(_) => ErrorCode::BAD_MAGIC,
            ProtocolError::UnsupportedVersion(_) => ErrorCode::UNSUPPORTED_VERSION,
            ProtocolError::NotHello(_) => ErrorCode::UNEXPECTED_FRAME,
            ProtocolError::EmptyFrame
            | ProtocolError::Malformed { .. }
            | ProtocolError::Truncated(_)
            | ProtocolError::Io(_) => ErrorCode::MALFORMED_FRAME,
        }
    }
}

macro_rules! wire_code {
    ($(#[$doc:meta])* $name:ident($repr:ty) { $($(#[$cdoc:meta])* $konst:ident = $val:expr, $label:expr;)* }) => {
        $(#[$doc])*
        ///
        /// Unknown values are kept as they are, so a newer peer's code is shown, not lost.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $($(#[$cdoc])* pub const $konst: $name = $name($val);)*

            /// A short lowercase name for the code, or `None` for a code this version
            /// does not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($label),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "code {}", self.0),
                }
            }
        }
    };
}

wire_code! {
    /// The code in an `ERROR` frame: how the peer broke the protocol.
    ErrorCode(u16) {
        /// A frame whose payload does not fit its type's layout.
        MALFORMED_FRAME = 1, "malformed frame";
        /// A length field over the maximum frame size.
        FRAME_TOO_LARGE = 2, "frame too large";
        /// A `HELLO` without the `PHUB` magic.
        BAD_MAGIC = 3, "bad magic";
        /// A frame that is valid but not allowed now (a `SEND` before `HELLO`, a second
        /// `HELLO`, a hub-to-client frame sent by a client).
        UNEXPECTED_FRAME = 4, "unexpected frame";
        /// A type byte this protocol does not know.
        UNKNOWN_FRAME_TYPE = 5, "unknown frame type";
        /// A `HELLO` for an unsupported version (normally answered with `REFUSED`).
        UNSUPPORTED_VERSION = 6, "unsupported version";
    }
}

wire_code! {
    /// The code in a `REFUSED` frame: why the hub will not serve this client.
    RefuseCode(u16) {
        /// The client's protocol version is not one the hub speaks.
        UNSUPPORTED_VERSION = 1, "unsupported version";
        /// The hub holds as many clients as it is allowed to.
        HUB_FULL = 2, "hub full";
        /// The client may not connect, or may not take the role it asked for.
        NOT_PERMITTED = 3, "not permitted";
        /// The hub is shutting down.
        SHUTTING_DOWN = 4, "shutting down";
    }
}

wire_code! {
    /// The reason in a `BYE` frame: why the hub is closing a healthy connection.
    ByeReason(u8) {
        /// The hub is shutting down.
        SHUTDOWN = 1, "shutdown";
        /// The operator removed this client.
        KICKED = 2, "kicked";
    }
}
