//! One message per QUIC stream: the sender writes one frame and finishes the stream, the
//! receiver reads to the end through a [`FrameDecoder`].
//!
//! A stream per message costs QUIC almost nothing and spares the protocol any
//! resynchronisation logic: the stream's end delimits the message, a broken message only
//! breaks its own stream, and one large model in flight does not hold up a small message
//! behind it. The receiver hands every chunk to the decoder as it arrives, so an oversized
//! length prefix is refused, and the stream stopped, after its first four bytes, not after
//! the peer has pushed megabytes.

use quinn::{Connection, RecvStream, SendStream, VarInt};

use super::error::StreamError;
use crate::proto::{CodecError, FRAME_HEADER_LEN, FrameDecoder, Message, encode};

/// The code a receiver stops a stream with when it refuses what arrives on it; the sender's
/// write fails with [`quinn::WriteError::Stopped`] carrying it.
pub const STREAM_REFUSED: VarInt = VarInt::from_u32(1);

/// The most a single read takes from quinn at once. quinn already holds the bytes (within
/// its flow-control window); this only bounds each copy into the decoder.
const READ_CHUNK: usize = 64 * 1024;

/// Writes `message` as one frame and finishes the stream.
///
/// Returns once the bytes are handed to quinn, not when the peer has them; the connection
/// must stay open until then (keep it, or await [`SendStream::stopped`]).
pub async fn write_message(send: &mut SendStream, message: &Message) -> Result<(), StreamError> {
    let frame = encode(message)?;
    send.write_all(&frame).await?;
    send.finish()?;
    Ok(())
}

/// Reads the stream to its end and returns the one message on it.
///
/// Refuses, and stops the stream with [`STREAM_REFUSED`], a frame whose length exceeds
/// `max_frame_bytes` (as soon as its prefix is in), a malformed payload, and any byte
/// after the first frame. A stream that ends early or empty is
/// [`CodecError::Truncated`].
pub async fn read_message(
    recv: &mut RecvStream,
    max_frame_bytes: usize,
) -> Result<Message, StreamError> {
    let mut decoder = FrameDecoder::new(max_frame_bytes);
    let mut message = None;
    while let Some(chunk) = recv.read_chunk(READ_CHUNK, true).await? {
        if let Err(e) = take_chunk(&mut decoder, &mut message, &chunk.bytes) {
            // The stream is already known to be bad, so whether the stop frame still goes
            // out (the peer may have reset the stream meanwhile) changes nothing.
            let _ = recv.stop(STREAM_REFUSED);
            return Err(e.into());
        }
    }
    decoder.finish()?;
    message.ok_or_else(|| {
        StreamError::Codec(CodecError::Truncated {
            got: 0,
            expected: FRAME_HEADER_LEN,
        })
    })
}

/// Feeds one chunk; the first complete frame becomes the message, anything after it is an
/// error.
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

/// Sends `message` on a new unidirectional stream: for messages that need no answer on
/// the same stream (a global model pushed to an agent, an update).
pub async fn send_uni(connection: &Connection, message: &Message) -> Result<(), StreamError> {
    let mut send = connection.open_uni().await?;
    write_message(&mut send, message).await
}

/// Waits for the peer's next unidirectional stream and reads its message.
pub async fn receive_uni(
    connection: &Connection,
    max_frame_bytes: usize,
) -> Result<Message, StreamError> {
    let mut recv = connection.accept_uni().await?;
    read_message(&mut recv, max_frame_bytes).await
}

/// Sends `message` on a new bidirectional stream and reads the peer's one-message answer
/// from it, e.g. a hello and the coordinator's reply.
pub async fn request(
    connection: &Connection,
    message: &Message,
    max_frame_bytes: usize,
) -> Result<Message, StreamError> {
    let (mut send, mut recv) = connection.open_bi().await?;
    write_message(&mut send, message).await?;
    read_message(&mut recv, max_frame_bytes).await
}
