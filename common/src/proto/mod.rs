//! The federation wire protocol between edge agents and the coordinator: the messages,
//! and the version they are spoken in. The version is advertised in the ALPN string so
//! mismatched builds fail the QUIC handshake with a clear reason instead of misreading
//! each other.

mod message;
#[cfg(test)]
mod tests;

pub use message::{
    ArchitectureMismatch, ErrorCode, ErrorMessage, GlobalModel, Hello, LocalMetrics, Message,
    ModelArchitecture, ModelKind, ModelPayload, RoundOffer, TrainingBudget, Update,
};

/// The version every frame carries. Bump it for any change to the framing, the payload
/// encoding or the message types that an older peer would misread.
pub const PROTOCOL_VERSION: u16 = 1;

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
