//! Why bytes could not become a message, or a message could not become bytes.

use super::message::{ErrorCode, ErrorMessage};

/// A frame or payload was refused. The texts name the likely cause and the remedy,
/// because they end up in the logs of whoever operates the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The length prefix announces more than the receiver accepts. Refused on the prefix
    /// alone, before any of the frame is buffered.
    #[error(
        "frame of {len} bytes exceeds the limit of {limit} bytes; if models this large are expected, raise `max_frame_bytes` on the receiving side"
    )]
    FrameTooLarge {
        /// The announced length (version and payload).
        len: usize,
        /// The receiver's limit.
        limit: usize,
    },
    /// The length prefix announces less than the version field itself.
    #[error(
        "frame of {len} bytes is too short to hold a protocol version; the peer does not speak this protocol"
    )]
    FrameTooShort {
        /// The announced length.
        len: usize,
    },
    /// The frame is in another protocol version than this build speaks.
    #[error(
        "peer speaks protocol version {peer}, this build speaks {ours}; upgrade the older side (ALPN negotiation should have refused this connection: check both ends advertise their version)"
    )]
    UnsupportedVersion {
        /// The version in the frame.
        peer: u16,
        /// [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
        ours: u16,
    },
    /// The input ended inside a frame.
    #[error(
        "stream ended inside a frame: {got} of {expected} bytes arrived; the peer closed or reset the stream early"
    )]
    Truncated {
        /// Bytes of the frame that arrived.
        got: usize,
        /// Bytes the frame needs (the header size while the header itself is incomplete).
        expected: usize,
    },
    /// A whole-frame input holds more than one frame.
    #[error(
        "{extra} bytes follow the frame; each stream carries exactly one message, so the peer is not speaking this protocol"
    )]
    TrailingBytes {
        /// Bytes after the frame's end.
        extra: usize,
    },
    /// The payload claims more content (a longer string or vector) than its frame holds.
    /// Well-formed frames never do this, so the sender is broken or hostile.
    #[error(
        "payload of {payload_len} bytes claims more data than it holds; the peer is buggy or hostile, drop the connection"
    )]
    PayloadOverrun {
        /// The payload's actual size.
        payload_len: usize,
    },
    /// The payload is not a valid message (unknown variant, invalid UTF-8, leftover bytes).
    #[error("malformed payload: {reason}; the peer is buggy or runs an incompatible build")]
    Malformed {
        /// What the decoder tripped over.
        reason: String,
    },
    /// A message could not be encoded; with the message types of this crate this means a
    /// frame too large for the 4-byte length prefix.
    #[error("cannot encode message: {reason}")]
    Encode {
        /// What went wrong.
        reason: String,
    },
}

impl CodecError {
    /// The refusal to send back to the peer, so both logs say the same thing. Only
    /// meaningful for errors in what the peer sent (not for [`CodecError::Encode`]); the
    /// peer can only read it if it speaks our version, which is why ALPN checks the
    /// version before any frame is exchanged.
    pub fn to_error_message(&self) -> ErrorMessage {
        let code = match self {
            Self::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            Self::Encode { .. } => ErrorCode::Internal,
            _ => ErrorCode::Invalid,
        };
        ErrorMessage::new(code, self.to_string())
    }
}
