//! Why a `coordinator serve` configuration was refused.

use std::path::PathBuf;

use common::rl::artifact::ArtifactError;
use common::transport::TlsError;

use crate::aggregate::round::ConfigError as AggregationError;
use crate::round::PolicyError;

/// A configuration that cannot be served; each message names the file or field to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not valid TOML for what it should hold.
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with the offending line.
        reason: String,
    },
    /// A value is out of range or contradicts another.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as written in the file (e.g. `aggregation.trim`).
        field: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The round policy.
    #[error(transparent)]
    Rounds(#[from] PolicyError),
    /// The aggregation settings.
    #[error("aggregation: {0}")]
    Aggregation(#[from] AggregationError),
    /// The training configuration named by `model.train_config`.
    #[error("model.train_config {}: {reason}", path.display())]
    TrainConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The initial model could not be loaded.
    #[error("model.initial `{what}`: {source}")]
    InitialModel {
        /// Which model.
        what: String,
        /// Why.
        source: ArtifactError,
    },
    /// The initial model does not have the fleet's architecture.
    #[error("model.initial `{what}`: {reason}")]
    InitialMismatch {
        /// Which model.
        what: String,
        /// How it differs, and what to change.
        reason: String,
    },
    /// A certificate, key or CA file.
    #[error(transparent)]
    Tls(#[from] TlsError),
}
