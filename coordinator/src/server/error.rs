//! Why a coordinator could not start.

use common::proto::CodecError;
use common::transport::EndpointError;

use crate::registry::error::RegistryError;
use crate::round::EngineError;

/// A coordinator failed to start; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The model registry could not be opened, read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The QUIC endpoint could not be set up.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The round policy, the aggregation settings or the starting model are unusable.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The registry holds models of another shape than the configured one.
    #[error(
        "the registry's newest fleet model (version {version}) does not fit the configured architecture: {reason}; use another registry directory or the matching model configuration"
    )]
    RegistryArchitecture {
        /// The registry's newest fleet version.
        version: u64,
        /// How the shapes differ.
        reason: String,
    },
    /// A model could not be encoded for sending (larger than a frame can hold).
    #[error("cannot encode the global model: {0}")]
    Encode(#[from] CodecError),
}
