//! The version a fine-tune starts from.

use std::str::FromStr;

use common::proto::{ModelArchitecture, ModelKind};
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::fleet_model::architecture;

use super::TransferError;
use crate::registry::store::Registry;

/// Which version to start from, as the operator names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseRef {
    /// The newest fleet version: the current global model, which is what a new workload
    /// would otherwise start from. Earlier fine-tunes are not considered.
    Latest,
    /// A version number.
    Version(u64),
}

impl FromStr for BaseRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(Self::Latest);
        }
        s.strip_prefix('v')
            .unwrap_or(s)
            .parse()
            .map(Self::Version)
            .map_err(|_| {
                format!("`{s}` is not a version; expected e.g. 42, v42, v000042 or latest")
            })
    }
}

/// A base version, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct BaseModel {
    /// Its version number.
    pub(crate) version: u64,
    /// The learner its weights belong to.
    pub(crate) algo: Algo,
    /// Its architecture, as recorded and as the configuration builds it.
    pub(crate) architecture: ModelArchitecture,
    /// Its weights, checksum verified.
    pub(crate) weights: Vec<f32>,
}

impl BaseModel {
    /// Reads `base` from `registry` and checks that `cfg` builds the very network its
    /// weights are for, so a fine-tune never trains weights laid out for another shape.
    pub(crate) fn load(
        registry: &Registry,
        base: BaseRef,
        cfg: &TrainConfig,
    ) -> Result<Self, TransferError> {
        let manifest = match base {
            BaseRef::Latest => {
                registry
                    .latest_fleet()
                    .ok_or_else(|| TransferError::NoFleetVersion {
                        dir: registry.dir().display().to_string(),
                    })?
            }
            BaseRef::Version(v) => registry.manifest(v)?,
        };
        let version = manifest.version;
        let algo = match manifest.architecture.kind {
            ModelKind::Dqn => Algo::Dqn,
            ModelKind::Ppo => Algo::Ppo,
            other => {
                return Err(TransferError::UnsupportedKind {
                    version,
                    kind: format!("{other:?}"),
                });
            }
        };
        let expected = architecture(algo, cfg);
        if manifest.architecture.check_compatible(&expected).is_err() {
            return Err(TransferError::ArchitectureMismatch {
                version,
                registry: Box::new(manifest.architecture.clone()),
                config: Box::new(expected),
            });
        }
        let architecture = manifest.architecture.clone();
        let weights = registry.load_weights(version)?;
        Ok(Self {
            version,
            algo,
            architecture,
            weights,
        })
    }
}
