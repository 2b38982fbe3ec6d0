//! The pipehub wire protocol: frames, their byte layout, the codec that cuts a byte
//! stream into frames, identifiers, limits and the endpoint naming convention.
//!
//! This crate is the contract between the hub and every client. It holds no I/O policy:
//! it turns bytes into [`Frame`]s and back, and names the limits. `docs/protocol.md`
//! specifies the same thing byte for byte; a test checks the document's hex vectors
//! against this code, so the two cannot drift apart.
//!
//! Framing in one line: `length: u32 BE | type: u8 | payload`, where `length` counts the
//! type byte and the payload and never exceeds the hub's maximum frame size.

pub mod bridge;
mod codec;
pub mod endpoint;
mod error;
mod frame;
mod ids;
pub mod os;
pub mod status;

pub use codec::FrameCodec;
pub use error::{ByeReason, ErrorCode, ProtocolError, RefuseCode};
pub use frame::{
    BROADCAST_BODY_OFFSET, Broadcast, Frame, FrameType, Hello, MAX_HELLO_LEN, Origin, Role,
    Welcome, broadcast_frame, check_first_frame_start, put_broadcast_frame, put_send_frame,
    truncate_utf8,
};
pub use ids::{ClientId, HubInstance, Seq};

/// The four bytes every `HELLO` starts with: ASCII `PHUB`.
pub const MAGIC: [u8; 4] = *b"PHUB";

/// The protocol version this crate speaks.
pub const VERSION: u16 = 1;

/// Bytes before a frame's type byte: the big-endian `u32` length.
pub const LENGTH_LEN: usize = 4;

/// Bytes of frame header: the length and the type byte.
pub const HEADER_LEN: usize = LENGTH_LEN + 1;

/// The default maximum frame size (the value of the length field), 1 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 1024 * 1024;

/// The smallest maximum frame size a hub may announce: room for a `WELCOME` and a
/// broadcast with a short body.
pub const MIN_MAX_FRAME: u32 = 256;

/// The longest display name a client may give in its `HELLO`, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 64;
