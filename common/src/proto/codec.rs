//! The payload format: the one place that knows the bytes are bincode, so swapping the
//! format touches this file (and a new protocol version) and nothing else.
//!
//! The configuration is bincode's standard one with fixed-width little-endian integers.
//! Fixed width costs a few bytes per message (weights are `f32` either way) but makes
//! every byte bincode claims while decoding correspond to exactly one byte of input,
//! which is what lets the decode budget below equal the payload length.

use bincode::config::{self, Configuration, Fixint, LittleEndian, NoLimit};
use bincode::de::read::Reader;
use bincode::de::{Decode, Decoder, DecoderImpl};
use bincode::error::DecodeError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::CodecError;
use super::message::Message;

/// The encoding, shared by both directions so they cannot drift apart.
fn base_config() -> Configuration<LittleEndian, Fixint, NoLimit> {
    config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
}

/// bincode 2 only takes its byte limit as a const generic, but the budget has to be the
/// length of the frame at hand. So the limit is set to the maximum and the decoder is
/// made to pre-spend everything but the payload's length (see [`decode_payload`]).
const BINCODE_LIMIT: usize = usize::MAX;

/// Appends the payload encoding of `message` to `out`, so the frame header can be written
/// in front of it without a second buffer.
pub(super) fn encode_payload(message: &Message, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(message, out, base_config())
        .map(|_| ())
        .map_err(|e| CodecError::Encode {
            reason: e.to_string(),
        })
}

/// Decodes one message that must fill `payload` exactly.
///
/// A length inside the payload (of a string, a weight vector) is only believed as far as
/// the payload's own size: bincode checks each claimed container size against the budget
/// before allocating for it, so a string announcing 2^40 bytes in a 100-byte frame fails
/// here instead of asking the allocator for a terabyte. Sequences decoded through serde
/// are also capped by serde itself, which preallocates at most 1 MiB whatever the claim
/// and grows only as elements actually decode.
pub(super) fn decode_payload(payload: &[u8]) -> Result<Message, CodecError> {
    let (message, left) = decode_exact::<Message>(payload)?;
    if left > 0 {
        return Err(CodecError::Malformed {
            reason: format!(
                "{left} bytes left over after the {} message",
                message.kind()
            ),
        });
    }
    Ok(message)
}

/// Appends the encoding of any serde value to `out`: records kept on disk (the agent's
/// experience log) use the same format as the wire, so one swap changes both.
pub fn encode_record<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, base_config())
        .map(|_| ())
        .map_err(|e| CodecError::Encode {
            reason: e.to_string(),
        })
}

/// Decodes one record that must fill `bytes` exactly, under the same allocation guard as a
/// message.
pub fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, left) = decode_exact::<T>(bytes)?;
    if left > 0 {
        return Err(CodecError::Malformed {
            reason: format!("{left} bytes left over after the record"),
        });
    }
    Ok(value)
}

/// Decodes a `T` from the front of `payload`, believing no length beyond the payload's
/// size; returns it with the number of bytes left over.
fn decode_exact<T: DeserializeOwned>(payload: &[u8]) -> Result<(T, usize), CodecError> {
    let overrun = || CodecError::PayloadOverrun {
        payload_len: payload.len(),
    };
    let mut reader = PayloadReader { rest: payload };
    let config = base_config().with_limit::<BINCODE_LIMIT>();
    let mut decoder = DecoderImpl::new(&mut reader, config, ());
    decoder
        .claim_bytes_read(BINCODE_LIMIT - payload.len())
        .map_err(|_| overrun())?;
    match bincode::serde::Compat::<T>::decode(&mut decoder) {
        Ok(compat) => Ok((compat.0, reader.rest.len())),
        Err(DecodeError::LimitExceeded | DecodeError::UnexpectedEnd { .. }) => Err(overrun()),
        Err(e) => Err(CodecError::Malformed {
            reason: e.to_string(),
        }),
    }
}

/// A slice reader whose remainder stays visible, to refuse payloads with trailing bytes
/// (bincode's own slice reader keeps its position private).
struct PayloadReader<'a> {
    rest: &'a [u8],
}

impl Reader for PayloadReader<'_> {
    fn read(&mut self, bytes: &mut [u8]) -> Result<(), DecodeError> {
        let Some((head, tail)) = self.rest.split_at_checked(bytes.len()) else {
            return Err(DecodeError::UnexpectedEnd {
                additional: bytes.len() - self.rest.len(),
            });
        };
        bytes.copy_from_slice(head);
        self.rest = tail;
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.rest.get(..n)
    }

    fn consume(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }
}
