//! What pipehub's fuzz targets share with their seed generator: how each target reads
//! its input ([`DecoderInput`], [`ConnectionInput`]) and the seed inputs ([`seeds`]).
//!
//! Every byte string is a valid input for both targets: the first two bytes are
//! settings (how the bytes are cut into reads or writes, how the connection ends, the
//! decoder's limit) and the rest is the data. libFuzzer mutates the settings along with
//! the data, so it explores how the input arrives as well as what it says. Inputs shorter
//! than two bytes are all data, with default settings.

pub mod seeds;

use pipehub_protocol::{DEFAULT_MAX_FRAME, MIN_MAX_FRAME};

/// Bytes of settings before the data, in both layouts.
pub const SETTINGS_LEN: usize = 2;

/// The `max_frame` limits the decoder target tries: the default, the smallest a hub may
/// announce, and two in between (so that lengths on both sides of the limit are short
/// enough for the fuzzer to reach).
pub const DECODER_LIMITS: [u32; 4] = [DEFAULT_MAX_FRAME, MIN_MAX_FRAME, 4096, 65536];

/// Splits `input` into its two settings bytes and its data.
fn split(input: &[u8]) -> ([u8; SETTINGS_LEN], &[u8]) {
    match input {
        [a, b, data @ ..] => ([*a, *b], data),
        data => ([0, 0], data),
    }
}

/// The `frame_decoder` target's input: `flags`, `chunk`, then the bytes to decode.
///
/// - `flags` bit 0: the codec drops unknown hub-to-client frames, as clients do;
///   bits 1-2: the limit, an index into [`DECODER_LIMITS`].
/// - `chunk`: bytes added to the read buffer per step, as one socket read would; 0 means
///   all at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderInput<'a> {
    pub skip_unknown: bool,
    pub max_frame: u32,
    /// Bytes per step; never 0.
    pub chunk: usize,
    pub data: &'a [u8],
}

impl<'a> DecoderInput<'a> {
    pub fn parse(input: &'a [u8]) -> DecoderInput<'a> {
        let ([flags, chunk], data) = split(input);
        DecoderInput {
            skip_unknown: flags & 1 != 0,
            max_frame: DECODER_LIMITS[usize::from(flags >> 1) & 3],
            chunk: if chunk == 0 {
                data.len().max(1)
            } else {
                usize::from(chunk)
            },
            data,
        }
    }

    /// The input that decodes `data` with these settings (`limit` indexes
    /// [`DECODER_LIMITS`]; `chunk` 0 is all at once).
    pub fn encode(skip_unknown: bool, limit: u8, chunk: u8, data: &[u8]) -> Vec<u8> {
        let mut input = vec![u8::from(skip_unknown) | (limit & 3) << 1, chunk];
        input.extend_from_slice(data);
        input
    }
}

/// How the `hub_connection` target ends its connection once the data is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Shut down the sending side, then read until the hub closes (a read-only tool, or a
    /// client that closes politely).
    HalfClose,
    /// Close the connection at once, whatever the hub still has to say (a client that
    /// crashed).
    Drop,
    /// Keep the connection open and read until the hub closes it (a client still there).
    Stay,
}

/// The `hub_connection` target's input: `ending`, `chunk`, then the bytes a client sends.
///
/// - `ending` modulo 3: [`Ending::HalfClose`], [`Ending::Drop`], [`Ending::Stay`].
/// - `chunk`: bytes per write, with a pause after each so that the hub sees the pieces
///   apart; 0 means one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInput<'a> {
    pub ending: Ending,
    /// Bytes per write; never 0.
    pub chunk: usize,
    pub data: &'a [u8],
}

impl<'a> ConnectionInput<'a> {
    pub fn parse(input: &'a [u8]) -> ConnectionInput<'a> {
        let ([ending, chunk], data) = split(input);
        ConnectionInput {
            ending: match ending % 3 {
                0 => Ending::HalfClose,
                1 => Ending::Drop,
                _ => Ending::Stay,
            },
            chunk: if chunk == 0 {
                data.len().max(1)
            } else {
                usize::from(chunk)
            },
            data,
        }
    }

    /// The input that sends `data` in writes of `chunk` bytes (0: one write) and then
    /// ends as `ending` says.
    pub fn encode(ending: Ending, chunk: u8, data: &[u8]) -> Vec<u8> {
        let ending = match ending {
            Ending::HalfClose => 0,
            Ending::Drop => 1,
            Ending::Stay => 2,
        };
        let mut input = vec![ending, chunk];
        input.extend_from_slice(data);
        input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let input = DecoderInput::encode(true, 2, 7, b"abc");
        let parsed = DecoderInput::parse(&input);
        assert!(parsed.skip_unknown);
        assert_eq!(parsed.max_frame, DECODER_LIMITS[2]);
        assert_eq!((parsed.chunk, parsed.data), (7, &b"abc"[..]));

        let input = ConnectionInput::encode(Ending::Stay, 0, b"xy");
        let parsed = ConnectionInput::parse(&input);
        assert_eq!(parsed.ending, Ending::Stay);
        assert_eq!((parsed.chunk, parsed.data), (2, &b"xy"[..]));
    }

    #[test]
    fn short_inputs_are_all_data() {
        let parsed = ConnectionInput::parse(b"x");
        assert_eq!(parsed.ending, Ending::HalfClose);
        assert_eq!((parsed.chunk, parsed.data), (1, &b"x"[..]));
        assert_eq!(DecoderInput::parse(b"").chunk, 1);
    }
}
