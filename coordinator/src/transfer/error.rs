//! Why a fine-tune could not start or finish.

use common::proto::ModelArchitecture;

use crate::registry::error::RegistryError;
use crate::registry::manifest::version_name;

/// A fine-tune failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// Reading or publishing the registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// `latest` was asked for but the registry holds no fleet version.
    #[error(
        "the registry in {dir} holds no fleet model to fine-tune; publish one first or name a version"
    )]
    NoFleetVersion {
        /// The registry.
        dir: String,
    },
    /// The base is a kind of model there is no fine-tuning for.
    #[error("{} is a {kind} model; only dqn and ppo models can be fine-tuned", version_name(*.version))]
    UnsupportedKind {
        /// The base version.
        version: u64,
        /// Its kind.
        kind: String,
    },
    /// The base's architecture is not the one the training configuration builds.
    #[error(
        "{} holds a {:?} network with layers {:?} ({} parameters), but the training configuration builds {:?} {:?} ({} parameters); \
         pass --config with the configuration the fleet trains with",
        version_name(*.version),
        registry.kind, registry.layers, registry.parameter_count,
        config.kind, config.layers, config.parameter_count
    )]
    ArchitectureMismatch {
        /// The base version.
        version: u64,
        /// What the registry says it is.
        registry: Box<ModelArchitecture>,
        /// What the configuration builds.
        config: Box<ModelArchitecture>,
    },
    /// A workload tag that agents could not announce.
    #[error(
        "invalid workload tag `{0}`: use 1–64 letters, digits, `-`, `_` or `.` (the tag agents announce in their hello)"
    )]
    BadTag(String),
    /// Training or evaluation refused its input.
    #[error(transparent)]
    Training(#[from] common::rl::transfer::TransferError),
}
