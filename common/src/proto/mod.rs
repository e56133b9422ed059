//! The federation wire protocol between edge agents and the coordinator, kept free of I/O
//! so every rule about bytes can be tested in memory: the transport (QUIC streams, one
//! message per stream) hands received bytes to a [`FrameDecoder`] and writes what
//! [`encode`] returns. A frame is a 4-byte length, a 2-byte protocol version and one
//! [`Message`]; the receiver refuses an oversized frame on its length alone, before it
//! buffers any of it, because a peer, even an authenticated one, must not be able to make
//! the coordinator allocate at will. The version travels twice: in the ALPN string, so
//! mismatched builds fail the handshake with a clear reason, and in every frame, so a
//! frame that reaches the wrong decoder anyway is refused as
//! [`CodecError::UnsupportedVersion`] instead of being misread.
//!
//! The payload encoding lives in one private module (`codec`, bincode 2 today); nothing
//! else depends on it, so changing it means that module plus a new [`PROTOCOL_VERSION`].
//! How weight vectors are laid out inside it (byte blocks, `f16` deltas) is `floats`'s
//! business, through serde, so it holds for any encoding.

mod codec;
mod error;
mod floats;
mod frame;
mod message;
#[cfg(test)]
mod tests;

pub use codec::{decode_record, encode_record};
pub use error::CodecError;
pub use floats::{F16_MAX, round_to_f16};
pub use frame::{FRAME_HEADER_LEN, FrameDecoder, decode, encode};
pub use message::{
    ArchitectureMismatch, ErrorCode, ErrorMessage, GlobalModel, Hello, LocalMetrics, Message,
    ModelArchitecture, ModelKind, ModelPayload, RoundOffer, TrainingBudget, Update,
};

/// The version every frame carries. Bump it for any change to the framing, the payload
/// encoding or the message types that an older peer would misread.
///
/// History: 1, the first; 2, float vectors as byte blocks and `f16` deltas.
pub const PROTOCOL_VERSION: u16 = 2;

/// The ALPN protocol id, `rlas/<PROTOCOL_VERSION>`, computed from the version so the two
/// cannot drift apart: a bump then also makes old and new builds refuse each other at the
/// TLS handshake.
pub const ALPN: &[u8] = ALPN_PARTS.0.split_at(ALPN_PARTS.1).0;

const ALPN_PREFIX: &[u8] = b"rlas/";
/// The prefix plus at most the five digits of a `u16`.
const ALPN_CAPACITY: usize = ALPN_PREFIX.len() + 5;
const ALPN_PARTS: ([u8; ALPN_CAPACITY], usize) = alpn_for(PROTOCOL_VERSION);

/// `rlas/<version>` in a fixed buffer, with its length; `const` so [`ALPN`] can be one.
const fn alpn_for(version: u16) -> ([u8; ALPN_CAPACITY], usize) {
    let mut out = [0; ALPN_CAPACITY];
    let mut i = 0;
    while i < ALPN_PREFIX.len() {
        out[i] = ALPN_PREFIX[i];
        i += 1;
    }
    let mut digits = 1;
    let mut rest = version / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    let mut rest = version;
    let mut d = digits;
    while d > 0 {
        d -= 1;
        out[i + d] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    (out, i + digits)
}

/// The default limit on a frame's length field (version plus payload): 16 MiB.
///
/// The largest model today, the DQN 12→256→256→128→3, has 102,403 parameters, about
/// 400 KiB as `f32`, so a full-weight update or global model fits some forty times over;
/// that leaves room for wider networks without a configuration change, while a hostile
/// peer can still make a receiver hold at most 16 MiB per open stream.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
