//! Reading an agent's message within the coordinator's receive budget.
//!
//! Every agent may answer a round at the same moment; reading and decoding all of those
//! updates at once would make coordinator memory grow with the fleet. So a reader looks
//! at the frame's length prefix first and reserves that much of a shared budget before
//! it reads the rest; while it waits, QUIC flow control leaves the bytes at the agent.
//! The reservation lives until the engine has folded the message. A frame larger than
//! the whole budget reserves all of it, so it still passes, alone.

use std::sync::Arc;

use common::proto::{CodecError, FRAME_HEADER_LEN, FrameDecoder, Message};
use common::transport::{STREAM_REFUSED, StreamError};
use quinn::RecvStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget granularity: reservations are counted in KiB so even a 4 GiB budget fits the
/// semaphore's `u32` permit counts.
const UNIT: usize = 1024;

/// The most taken from quinn per read.
const READ_CHUNK: usize = 64 * 1024;

/// The bytes of the length prefix.
const PREFIX_LEN: usize = 4;

/// The shared budget; clones share it.
#[derive(Debug, Clone)]
pub(super) struct ReceiveBudget {
    semaphore: Arc<Semaphore>,
    units: u32,
}

/// A message's share of the budget, returned when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl ReceiveBudget {
    /// A budget of `bytes` (at least one unit).
    pub(super) fn new(bytes: usize) -> Self {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Waits until a frame of `frame_len` bytes fits: the frame itself while it arrives,
    /// plus its decoded values until the engine has folded them.
    async fn reserve(&self, frame_len: usize) -> Reservation {
        let wanted = frame_len.saturating_mul(2).div_ceil(UNIT);
        let units = u32::try_from(wanted)
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        Reservation {
            // The semaphore is never closed, so this only fails if that changes.
            _permit: self.semaphore.clone().acquire_many_owned(units).await.ok(),
        }
    }
}

/// Reads `recv` to its end and returns its one message with the budget reservation it
/// holds. Refuses, and stops the stream, a frame over `max_frame_bytes` (on its prefix),
/// a malformed payload and any byte after the frame, like
/// [`read_message`](common::transport::read_message).
pub(super) async fn read_message(
    recv: &mut RecvStream,
    max_frame_bytes: usize,
    budget: &ReceiveBudget,
) -> Result<(Message, Reservation), StreamError> {
    let mut decoder = FrameDecoder::new(max_frame_bytes);
    let mut prefix = [0_u8; PREFIX_LEN];
    let mut prefix_len = 0;
    let mut reservation = None;
    let mut message = None;
    while let Some(chunk) = recv.read_chunk(READ_CHUNK, true).await? {
        let bytes = &chunk.bytes[..];
        if prefix_len < PREFIX_LEN {
            let take = (PREFIX_LEN - prefix_len).min(bytes.len());
            prefix[prefix_len..prefix_len + take].copy_from_slice(&bytes[..take]);
            prefix_len += take;
            if prefix_len == PREFIX_LEN {
                let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
                // An oversized frame is refused by the decoder below without reserving.
                if len <= max_frame_bytes {
                    reservation = Some(budget.reserve(len).await);
                }
            }
        }
        if let Err(e) = take_chunk(&mut decoder, &mut message, bytes) {
            let _ = recv.stop(STREAM_REFUSED);
            return Err(e.into());
        }
    }
    decoder.finish()?;
    let message = message.ok_or(StreamError::Codec(CodecError::Truncated {
        got: 0,
        expected: FRAME_HEADER_LEN,
    }))?;
    let reservation = reservation.unwrap_or(Reservation { _permit: None });
    Ok((message, reservation))
}

/// Feeds one chunk; the first complete frame becomes the message, anything after it is
/// an error.
fn take_chunk(
    decoder: &mut FrameDecoder,
    message: &mut Option<Message>,
    bytes: &[u8],
) -> Result<(), CodecError> {
    if message.is_some() {
        return Err(CodecError::TrailingBytes { extra: bytes.len() });
    }
    decoder.push(bytes);
    if let Some(decoded) = decoder.next_message()? {
        if decoder.buffered() > 0 {
            return Err(CodecError::TrailingBytes {
                extra: decoder.buffered(),
            });
        }
        *message = Some(decoded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_twice_the_frame_and_capped_at_the_budget() {
        let budget = ReceiveBudget::new(10 * UNIT);
        let a = budget.reserve(2 * UNIT).await;
        assert_eq!(budget.semaphore.available_permits(), 6);
        let b = budget.reserve(1).await;
        assert_eq!(budget.semaphore.available_permits(), 5);
        drop((a, b));
        let whole = budget.reserve(1 << 30).await;
        assert_eq!(budget.semaphore.available_permits(), 0);
        drop(whole);
        assert_eq!(budget.semaphore.available_permits(), 10);
    }
}
