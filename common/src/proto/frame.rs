//! Frames: how a message is delimited on a stream and how a receiver bounds what a peer
//! can make it buffer.
//!
//! ```text
//! offset 0   u32 big-endian   length: bytes that follow (version + payload), ≥ 2
//! offset 4   u16 big-endian   protocol version
//! offset 6   payload          one `Message` (see `codec`)
//! ```
//!
//! The version sits inside the length-prefixed body so that the prefix alone delimits a
//! frame whatever version it carries, and a receiver checks the length against its limit
//! before it reads anything else.

use super::error::CodecError;
use super::message::{Message, ModelPayload, Update};
use super::{PROTOCOL_VERSION, codec};

/// Bytes of the length prefix.
const LENGTH_PREFIX_LEN: usize = 4;
/// Bytes of the version field.
const VERSION_LEN: usize = 2;
/// Bytes before the payload.
pub const FRAME_HEADER_LEN: usize = LENGTH_PREFIX_LEN + VERSION_LEN;

/// A decoder that just carried a big model keeps its buffer only up to this size once it
/// is empty again, so one large frame does not pin megabytes for the life of a stream.
const RETAIN_CAPACITY: usize = 64 * 1024;

/// Encodes `message` as one complete frame.
///
/// There is no limit here: the receiver's limit is the one that counts, and the sender
/// learns about it from the receiver's refusal.
pub fn encode(message: &Message) -> Result<Vec<u8>, CodecError> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + size_hint(message));
    frame.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    codec::encode_payload(message, &mut frame)?;
    let body_len = frame.len() - LENGTH_PREFIX_LEN;
    let prefix = u32::try_from(body_len).map_err(|_| CodecError::Encode {
        reason: format!(
            "a frame of {body_len} bytes does not fit the 4-byte length prefix (at most {} bytes)",
            u32::MAX
        ),
    })?;
    frame[..LENGTH_PREFIX_LEN].copy_from_slice(&prefix.to_be_bytes());
    Ok(frame)
}

/// Roughly the payload size, dominated by the weights, so encoding a model does not copy
/// it through a series of doubling reallocations.
fn size_hint(message: &Message) -> usize {
    const OVERHEAD: usize = 256;
    let float_bytes = match message {
        Message::Update(Update {
            payload: ModelPayload::HalfDelta(v),
            ..
        }) => v.len() * 2,
        Message::Update(u) => size_of_val(u.payload.values()),
        Message::GlobalModel(g) => size_of_val(g.weights.as_slice()),
        Message::Hello(_) | Message::RoundOffer(_) | Message::Error(_) => 0,
    };
    OVERHEAD + float_bytes
}

/// Decodes `frame`, which must be exactly one complete frame, e.g. a whole stream read
/// to its end.
pub fn decode(frame: &[u8], max_frame_bytes: usize) -> Result<Message, CodecError> {
    let Some(total) = check_header(frame, max_frame_bytes)? else {
        return Err(CodecError::Truncated {
            got: frame.len(),
            expected: expected_len(frame),
        });
    };
    match frame.len().cmp(&total) {
        std::cmp::Ordering::Less => Err(CodecError::Truncated {
            got: frame.len(),
            expected: total,
        }),
        std::cmp::Ordering::Greater => Err(CodecError::TrailingBytes {
            extra: frame.len() - total,
        }),
        std::cmp::Ordering::Equal => codec::decode_payload(&frame[FRAME_HEADER_LEN..]),
    }
}

/// Validates as much of the header at the start of `buf` as has arrived: the length as
/// soon as its 4 bytes are there, the version once its 2 follow. Returns the whole
/// frame's size once the header is complete and acceptable.
fn check_header(buf: &[u8], max_frame_bytes: usize) -> Result<Option<usize>, CodecError> {
    let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX_LEN>() else {
        return Ok(None);
    };
    let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
    if len > max_frame_bytes {
        return Err(CodecError::FrameTooLarge {
            len,
            limit: max_frame_bytes,
        });
    }
    if len < VERSION_LEN {
        return Err(CodecError::FrameTooShort { len });
    }
    let Some(version) = buf[LENGTH_PREFIX_LEN..].first_chunk::<VERSION_LEN>() else {
        return Ok(None);
    };
    let peer = u16::from_be_bytes(*version);
    if peer != PROTOCOL_VERSION {
        return Err(CodecError::UnsupportedVersion {
            peer,
            ours: PROTOCOL_VERSION,
        });
    }
    Ok(Some(LENGTH_PREFIX_LEN + len))
}

/// The size of the frame starting `buf` as far as it can be known, for truncation errors.
fn expected_len(buf: &[u8]) -> usize {
    match buf.first_chunk::<LENGTH_PREFIX_LEN>() {
        Some(prefix) => LENGTH_PREFIX_LEN
            .saturating_add(usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX)),
        None => FRAME_HEADER_LEN,
    }
}

/// Turns bytes arriving in arbitrary pieces into messages, without doing any I/O itself.
///
/// Memory is bounded by what actually arrived for frames the limit admits: a header is
/// checked the moment its bytes are in, and [`push`](Self::push) copies nothing past a
/// header it has not yet accepted. Nor is the announced length reserved up front, so a
/// peer that announces a large frame and then stalls holds only what it sent.
///
/// A bad header (too large, too short, another version) leaves no way to find the next
/// frame, so it is sticky: every later call returns it and further input is dropped. A
/// bad payload inside a well-delimited frame only costs that frame.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
    /// Bytes received and not yet returned as messages; starts at a frame boundary.
    buf: Vec<u8>,
    /// Where the first header not yet accepted starts. May lie past `buf.len()` while a
    /// payload is still arriving.
    next_header: usize,
    failed: Option<CodecError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(super::DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose length field (version plus payload) exceeds
    /// `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            max_frame_bytes,
            buf: Vec::new(),
            next_header: 0,
            failed: None,
        }
    }

    /// The limit this decoder enforces.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Bytes held that have not yet come out as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds received bytes. Errors surface from [`next_message`](Self::next_message), so
    /// a caller has one place to handle them.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.failed.is_none() {
            // Copy up to the end of the header being validated, or, inside a payload, up
            // to the next header, so nothing beyond an unchecked header is ever buffered.
            let header_end = self.next_header + FRAME_HEADER_LEN;
            let upto = if self.buf.len() < self.next_header {
                self.next_header
            } else {
                header_end
            };
            let take = (upto - self.buf.len()).min(bytes.len());
            let (now, later) = bytes.split_at(take);
            self.buf.extend_from_slice(now);
            bytes = later;
            if self.buf.len() > self.next_header {
                match check_header(&self.buf[self.next_header..], self.max_frame_bytes) {
                    Ok(Some(total)) => self.next_header += total,
                    Ok(None) => {}
                    Err(e) => self.fail(e),
                }
            }
        }
    }

    /// The next complete message, `Ok(None)` while its frame is still incomplete.
    pub fn next_message(&mut self) -> Result<Option<Message>, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // A non-zero `next_header` means the frame at the front has an accepted header.
        if self.next_header == 0 {
            return Ok(None);
        }
        let total = expected_len(&self.buf);
        if self.buf.len() < total {
            return Ok(None);
        }
        let decoded = codec::decode_payload(&self.buf[FRAME_HEADER_LEN..total]);
        self.buf.drain(..total);
        self.next_header -= total;
        if self.buf.is_empty() && self.buf.capacity() > RETAIN_CAPACITY {
            self.buf = Vec::new();
        }
        decoded.map(Some)
    }

    /// Declares the input ended, e.g. at the stream's FIN, once
    /// [`next_message`](Self::next_message) has returned `Ok(None)`: bytes still held
    /// then are a frame the peer never finished.
    pub fn finish(&self) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CodecError::Truncated {
                got: self.buf.len(),
                expected: expected_len(&self.buf),
            })
        }
    }

    fn fail(&mut self, error: CodecError) {
        self.failed = Some(error);
        self.buf = Vec::new();
        self.next_header = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ErrorCode, ErrorMessage};

    const MIB: usize = 1024 * 1024;

    fn small_message() -> Message {
        Message::Error(ErrorMessage::new(ErrorCode::Internal, "boom"))
    }

    #[test]
    fn four_gib_header_is_refused_after_its_four_bytes_without_buffering() {
        let mut dec = FrameDecoder::new(MIB);
        dec.push(&[0xFF, 0xFF, 0xFF]);
        assert_eq!(
            dec.next_message(),
            Ok(None),
            "three bytes cannot be judged yet"
        );
        dec.push(&[0xFF]);
        let expected = CodecError::FrameTooLarge {
            len: 0xFFFF_FFFF,
            limit: MIB,
        };
        assert_eq!(dec.next_message(), Err(expected.clone()));
        assert!(dec.buf.capacity() <= 16, "capacity {}", dec.buf.capacity());
        // Sticky, and whatever the peer sends next is dropped, not buffered.
        dec.push(&[0; 4096]);
        assert_eq!(dec.buffered(), 0);
        assert!(dec.buf.capacity() <= 16, "capacity {}", dec.buf.capacity());
        assert_eq!(dec.next_message(), Err(expected.clone()));
        assert_eq!(dec.finish(), Err(expected));
    }

    #[test]
    fn a_chunk_is_not_copied_past_a_header_that_is_refused() {
        let mut chunk = vec![0x80, 0, 0, 0, 0, 1];
        chunk.resize(64 * 1024, 0xAB);
        let mut dec = FrameDecoder::new(MIB);
        dec.push(&chunk);
        assert!(matches!(
            dec.next_message(),
            Err(CodecError::FrameTooLarge {
                len: 0x8000_0000,
                limit: MIB
            })
        ));
        assert!(dec.buf.capacity() <= 16, "capacity {}", dec.buf.capacity());
    }

    #[test]
    fn an_accepted_length_is_not_reserved_up_front() {
        // A peer announcing a frame the limit admits, then stalling, holds only what it sent.
        let mut dec = FrameDecoder::new(16 * MIB);
        let mut header = u32::try_from(16 * MIB).unwrap().to_be_bytes().to_vec();
        header.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        header.extend_from_slice(&[0; 10]);
        dec.push(&header);
        assert_eq!(dec.next_message(), Ok(None));
        assert!(dec.buf.capacity() <= 64, "capacity {}", dec.buf.capacity());
    }

    #[test]
    fn a_large_frame_does_not_pin_its_buffer_once_consumed() {
        let big = Message::GlobalModel(crate::proto::GlobalModel {
            version: 1,
            architecture: crate::proto::ModelArchitecture::dense(
                crate::proto::ModelKind::Dqn,
                vec![4, 2],
            ),
            weights: vec![0.5; 100_000],
            tags: vec![],
        });
        let mut dec = FrameDecoder::default();
        dec.push(&encode(&big).unwrap());
        assert_eq!(dec.next_message(), Ok(Some(big)));
        assert_eq!(dec.buf.capacity(), 0);
        // A small frame keeps the buffer for the next one.
        dec.push(&encode(&small_message()).unwrap());
        assert_eq!(dec.next_message(), Ok(Some(small_message())));
        assert!(dec.buf.capacity() > 0);
    }

    #[test]
    fn the_limit_bounds_the_length_field_inclusively() {
        let frame = encode(&small_message()).unwrap();
        let len = frame.len() - LENGTH_PREFIX_LEN;
        assert_eq!(decode(&frame, len), Ok(small_message()));
        assert_eq!(
            decode(&frame, len - 1),
            Err(CodecError::FrameTooLarge {
                len,
                limit: len - 1
            })
        );
        let mut dec = FrameDecoder::new(len - 1);
        dec.push(&frame);
        assert!(matches!(
            dec.next_message(),
            Err(CodecError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn a_length_below_the_version_field_is_refused() {
        for len in [0u8, 1] {
            let mut dec = FrameDecoder::new(MIB);
            dec.push(&[0, 0, 0, len]);
            assert_eq!(
                dec.next_message(),
                Err(CodecError::FrameTooShort {
                    len: usize::from(len)
                })
            );
        }
    }
}
