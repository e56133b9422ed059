//! Reading an agent's message within the coordinator's receive budget.
//!
//! Every agent may answer a round at the same moment; reading and decoding all of those
//! updates at once would make coordinator memory grow with the fleet. So a reader looks
//! at the frame's length prefix first and reserves that much of a shared budget before
//! it reads the rest; while it waits, QUIC flow control leaves the bytes at the agent.
//! The reservation lives until the engine has folded the message. A frame larger than
//! the whole budget reserves all of it, so it still passes, alone.

use std::sync::Arc;

use common::proto::{CodecError, Message, decode};
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
    /// plus its decoded values until the engine has folded them, which for an `f16` delta
    /// take twice the frame's bytes.
    async fn reserve(&self, frame_len: usize) -> Reservation {
        let wanted = frame_len.saturating_mul(3).div_ceil(UNIT);
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
/// holds. Refuses, and stops the stream, a frame over `max_frame_bytes` (on its prefix,
/// before reserving or buffering anything), any byte beyond the announced length, and a
/// malformed or truncated frame, like [`read_message`](common::transport::read_message).
///
/// Once the prefix has passed, the frame is collected into one buffer of exactly the
/// announced size, so a large update is copied once on its way in, not once per growth
/// step.
pub(super) async fn read_message(
    recv: &mut RecvStream,
    max_frame_bytes: usize,
    budget: &ReceiveBudget,
) -> Result<(Message, Reservation), StreamError> {
    let mut frame = Vec::new();
    let mut total = None;
    let mut reservation = Reservation { _permit: None };
    while let Some(chunk) = recv.read_chunk(READ_CHUNK, true).await? {
        let mut bytes = &chunk.bytes[..];
        if total.is_none() {
            let take = (PREFIX_LEN - frame.len()).min(bytes.len());
            frame.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if let Ok(prefix) = <[u8; PREFIX_LEN]>::try_from(frame.as_slice()) {
                let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
                if len > max_frame_bytes {
                    let _ = recv.stop(STREAM_REFUSED);
                    return Err(CodecError::FrameTooLarge {
                        len,
                        limit: max_frame_bytes,
                    }
                    .into());
                }
                reservation = budget.reserve(len).await;
                frame.reserve_exact(len);
                total = Some(PREFIX_LEN + len);
            }
        }
        if let Some(total) = total {
            let held = frame.len() + bytes.len();
            if held > total {
                let _ = recv.stop(STREAM_REFUSED);
                return Err(CodecError::TrailingBytes {
                    extra: held - total,
                }
                .into());
            }
            frame.extend_from_slice(bytes);
        }
    }
    // Checks the version and the length, and that the frame is complete.
    let message = decode(&frame, max_frame_bytes)?;
    Ok((message, reservation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_three_times_the_frame_and_capped_at_the_budget() {
        let budget = ReceiveBudget::new(10 * UNIT);
        let a = budget.reserve(2 * UNIT).await;
        assert_eq!(budget.semaphore.available_permits(), 4);
        let b = budget.reserve(1).await;
        assert_eq!(budget.semaphore.available_permits(), 3);
        drop((a, b));
        let whole = budget.reserve(1 << 30).await;
        assert_eq!(budget.semaphore.available_permits(), 0);
        drop(whole);
        assert_eq!(budget.semaphore.available_permits(), 10);
    }
}
