//! Messages encoded once into shareable bytes: a global model of 1M parameters is a 4 MB
//! frame, and fifty agents receiving it must not mean fifty copies.

use bytes::Bytes;
use common::proto::{CodecError, GlobalModel, Message, ModelArchitecture, encode};

/// `message` as one complete frame.
pub(super) fn frame(message: &Message) -> Result<Bytes, CodecError> {
    encode(message).map(Bytes::from)
}

/// The frame of a global model.
pub(super) fn global_model(
    version: u64,
    architecture: &ModelArchitecture,
    weights: &[f32],
    tags: &[String],
) -> Result<Bytes, CodecError> {
    frame(&Message::GlobalModel(GlobalModel {
        version,
        architecture: architecture.clone(),
        weights: weights.to_vec(),
        tags: tags.to_vec(),
    }))
}

/// The newest fleet model's frame, the one sent on most hellos and after every round.
#[derive(Debug, Clone)]
pub(super) struct FleetFrame {
    /// Its version.
    pub(super) version: u64,
    /// The encoded `GlobalModel`.
    pub(super) bytes: Bytes,
}
