//! The body of every message the load tool publishes: who sent it, when, and what it is.
//!
//! A listener must tell, from the body alone, whether a broadcast belongs to this run
//! (a hub under test may carry other traffic), whether it is a warm-up marker, a measured
//! message or the end marker, and when it was sent. So every body starts with a fixed
//! header, and is padded with zeros to `--size`:
//!
//! ```text
//! offset  size  field
//!  0      8     sent_ns: u64 BE, nanoseconds since the Unix epoch (wall clock, so that
//!               listeners in other processes can compare it with their own clock)
//!  8      8     index: u64 BE, the message's number at its publisher (0, 1, 2 ...)
//! 16      4     run: u32 BE, the run's random ID
//! 20      1     kind: 1 warm-up marker, 2 measured, 3 end
//! 21      3     zero
//! ```
//!
//! Latency is the listener's wall clock at receipt minus `sent_ns`: it includes the
//! publisher's write, the hub, and the listener's read and decode, which is what a user
//! of the hub sees.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of header at the start of every load message; the smallest `--size`.
pub const HEADER_LEN: usize = 24;

// The command line's smallest --size is this header.
const _: () = assert!(HEADER_LEN as u64 == pipehub_client::load_command::MIN_SIZE);

/// What a load message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Sent during warm-up until every listener has received one; not measured.
    Marker = 1,
    /// A measured message: counted, and its latency recorded.
    Measured = 2,
    /// Sent once after every measured message: a listener that receives it has
    /// received (or been told it lost) everything before it.
    End = 3,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Marker),
            2 => Some(Kind::Measured),
            3 => Some(Kind::End),
            _ => None,
        }
    }
}

/// The header of one load message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub sent_ns: u64,
    pub index: u64,
    pub run: u32,
    pub kind: Kind,
}

/// Wall-clock nanoseconds since the Unix epoch; 0 for a clock set before 1970.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A random-enough run ID, which tells this run's messages from any other traffic.
pub fn run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// Builds message bodies of one size without allocating a fresh zeroed buffer each time.
#[derive(Debug)]
pub struct Encoder {
    size: usize,
    buf: BytesMut,
}

impl Encoder {
    /// An encoder for bodies of `size` bytes (at least [`HEADER_LEN`]).
    pub fn new(size: usize) -> Encoder {
        Encoder {
            size: size.max(HEADER_LEN),
            buf: BytesMut::new(),
        }
    }

    /// One body with this header; `sent_ns` is normally [`now_ns`].
    pub fn encode(&mut self, sent_ns: u64, index: u64, run: u32, kind: Kind) -> Bytes {
        // One allocation serves many messages: `split` hands out the front and keeps
        // the rest of the capacity.
        if self.buf.capacity() < self.size {
            self.buf.reserve(self.size.max(64 * 1024));
        }
        self.buf.put_u64(sent_ns);
        self.buf.put_u64(index);
        self.buf.put_u32(run);
        self.buf.put_u8(kind as u8);
        self.buf.put_bytes(0, self.size - 21);
        self.buf.split().freeze()
    }
}

/// One reused message body of one size, whose header is rewritten for every message:
/// what the publishers send measured messages from, with no allocation per message.
#[derive(Debug)]
pub struct Template {
    body: Vec<u8>,
}

impl Template {
    /// A body of `size` bytes (at least [`HEADER_LEN`]), zeros after the header.
    pub fn new(size: usize) -> Template {
        Template {
            body: vec![0; size.max(HEADER_LEN)],
        }
    }

    /// The body with this header; `sent_ns` is normally [`now_ns`].
    pub fn set(&mut self, sent_ns: u64, index: u64, run: u32, kind: Kind) -> &[u8] {
        self.body[..8].copy_from_slice(&sent_ns.to_be_bytes());
        self.body[8..16].copy_from_slice(&index.to_be_bytes());
        self.body[16..20].copy_from_slice(&run.to_be_bytes());
        self.body[20] = kind as u8;
        &self.body
    }
}

/// Reads a load message's header; `None` for a body that is not one (too short, or an
/// unknown kind).
pub fn decode(body: &[u8]) -> Option<Header> {
    let header = body.get(..HEADER_LEN)?;
    let u64_at = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&header[at..at + 8]);
        u64::from_be_bytes(bytes)
    };
    let mut run = [0; 4];
    run.copy_from_slice(&header[16..20]);
    Some(Header {
        sent_ns: u64_at(0),
        index: u64_at(8),
        run: u32::from_be_bytes(run),
        kind: Kind::from_byte(header[20])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_requested_size_and_round_trip() {
        let mut encoder = Encoder::new(64);
        let before = now_ns();
        let body = encoder.encode(now_ns(), 7, 0xdead_beef, Kind::Measured);
        assert_eq!(body.len(), 64);
        let header = decode(&body).expect("a load message");
        assert_eq!(header.index, 7);
        assert_eq!(header.run, 0xdead_beef);
        assert_eq!(header.kind, Kind::Measured);
        assert!(header.sent_ns >= before && header.sent_ns <= now_ns());
        assert!(body[HEADER_LEN..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_template_body_is_what_the_encoder_makes() {
        let mut template = Template::new(100);
        template.set(9, 9, 9, Kind::End);
        let body = template.set(5, 6, 7, Kind::Measured).to_vec();
        assert_eq!(
            body,
            Encoder::new(100).encode(5, 6, 7, Kind::Measured).to_vec()
        );
    }

    #[test]
    fn small_sizes_are_raised_to_the_header() {
        let mut encoder = Encoder::new(3);
        assert_eq!(encoder.encode(1, 0, 1, Kind::End).len(), HEADER_LEN);
    }

    #[test]
    fn foreign_bodies_are_not_load_messages() {
        assert_eq!(decode(b"hello"), None);
        let mut body = Encoder::new(32).encode(1, 0, 1, Kind::Marker).to_vec();
        body[20] = 9;
        assert_eq!(decode(&body), None);
    }
}
