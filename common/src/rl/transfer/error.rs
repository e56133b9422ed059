//! What can stop a fine-tune or a race.

use crate::error::ConfigError;
use crate::rl::params::ParamLengthError;

/// A fine-tune or race could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransferError {
    /// The base weights are not of the architecture the configuration describes.
    #[error(
        "the base weights do not fit the {algo} network the training configuration describes ({source}); \
         use the configuration the base model was trained with"
    )]
    BaseWeights {
        /// The learner, as named on the command line.
        algo: &'static str,
        /// The length mismatch.
        #[source]
        source: ParamLengthError,
    },
    /// The training configuration or the fine-tune/race settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
