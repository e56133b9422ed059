//! A trained model on disk: the burn record of its network (both networks, for a hybrid), the full resolved training
//! configuration (which also fixes the architecture), and a small manifest. Loading
//! rebuilds the network from the configuration and applies the record, so a model can be
//! read back by anything that knows the configuration format, and the checked-in default
//! models are just such directories embedded in the binary.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::device::inference_device;
use super::dqn::DqnConfig;
use super::hybrid::{HybridConfig, tuner_network};
use super::network::{ActorCritic, HybridNetwork, QNetwork};
use super::ppo::PpoConfig;
use crate::env::{ActionSpace, EnvConfig, OBSERVATION_LEN};
use crate::error::ConfigError;

/// The network's weights (burnpack).
pub const MODEL_FILE: &str = "model.bpk";
/// The resolved training configuration (TOML).
pub const CONFIG_FILE: &str = "config.toml";
/// What was trained, how long, on which backend (TOML).
pub const MANIFEST_FILE: &str = "manifest.toml";
/// Episode returns during training (CSV).
pub const CURVE_CSV_FILE: &str = "curve.csv";

/// Which learner produced a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Double DQN.
    Dqn,
    /// PPO.
    Ppo,
    /// A DQN with a PPO tuner setting its reward weight and a replica floor per segment.
    Hybrid,
}

impl Algo {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Dqn => "dqn",
            Algo::Ppo => "ppo",
            Algo::Hybrid => "hybrid",
        }
    }
}

/// How long and on what a model trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Environment steps (15 s decisions) to train for. Default 200,000.
    pub timesteps: u64,
    /// Scenarios played round-robin, as on the `evaluate` command line. Default: the six
    /// named patterns.
    pub scenarios: Vec<String>,
    /// Seed of the learner and of the training episodes' traffic. Default 0.
    pub seed: u64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            timesteps: 200_000,
            scenarios: crate::traffic::PatternKind::NAMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            seed: 0,
        }
    }
}

/// Everything a training run is configured by; one TOML file, unknown keys refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Run length, scenarios and seed.
    pub training: TrainingConfig,
    /// The environment trained in.
    pub env: EnvConfig,
    /// DQN hyperparameters.
    pub dqn: DqnConfig,
    /// PPO hyperparameters.
    pub ppo: PpoConfig,
    /// Hybrid settings (its DQN reads `dqn`).
    pub hybrid: HybridConfig,
}

impl TrainConfig {
    /// Validates every part.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.env.validate()?;
        self.dqn.validate()?;
        self.ppo.validate()?;
        self.hybrid.validate()?;
        if self.training.timesteps == 0 {
            return Err(ConfigError::invalid(
                "training.timesteps",
                "must be at least 1",
            ));
        }
        if self.training.scenarios.is_empty() {
            return Err(ConfigError::invalid(
                "training.scenarios",
                "needs at least one scenario",
            ));
        }
        Ok(())
    }
}

/// What a model directory says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The learner.
    pub algo: Algo,
    /// Layer widths, input to output (for a hybrid, its DQN's: the part a fleet federates).
    pub layers: Vec<usize>,
    /// Number of parameters (for a hybrid, its DQN's).
    pub parameter_count: usize,
    /// Environment steps trained.
    pub timesteps: u64,
    /// The seed.
    pub seed: u64,
    /// burn backend used for training.
    pub backend: String,
    /// Version of the program that trained it.
    pub trained_by: String,
}

/// Reading or writing a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A TOML file is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The weights do not fit the configured architecture.
    #[error("{path}: weights do not fit the configured network: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// burn's explanation.
        reason: String,
    },
}

/// A trained network ready to act greedily.
#[derive(Debug, Clone)]
pub enum TrainedNetwork {
    /// A Q-network: act on the largest Q-value.
    Dqn(QNetwork),
    /// An actor-critic: act on the most probable action.
    Ppo(ActorCritic),
    /// A Q-network and its tuner: act on the largest Q-value, raised to the tuner's floor.
    Hybrid(Box<HybridNetwork>),
}

/// A loaded model: its network, the action set it was trained with, and its manifest.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The network.
    pub network: TrainedNetwork,
    /// The actions its outputs stand for.
    pub actions: ActionSpace,
    /// The training configuration.
    pub config: TrainConfig,
    /// The manifest.
    pub manifest: Manifest,
}

fn read(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    std::fs::read(path).map_err(|source| ArtifactError::Io {
        path: path.to_owned(),
        source,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, ArtifactError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ArtifactError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    toml::from_str(text).map_err(|e| ArtifactError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// A fresh (untrained) network of the architecture `algo` and `cfg` describe, on `device`.
pub fn build_network(
    algo: Algo,
    cfg: &TrainConfig,
    device: &burn::tensor::Device,
) -> TrainedNetwork {
    let actions = cfg.env.actions.len();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    match algo {
        Algo::Dqn => TrainedNetwork::Dqn(QNetwork::new(
            OBSERVATION_LEN,
            &cfg.dqn.hidden,
            actions,
            &mut rng,
            device,
        )),
        Algo::Ppo => TrainedNetwork::Ppo(ActorCritic::new(
            OBSERVATION_LEN,
            &cfg.ppo.hidden,
            actions,
            &mut rng,
            device,
        )),
        Algo::Hybrid => TrainedNetwork::Hybrid(Box::new(HybridNetwork {
            dqn: QNetwork::new(OBSERVATION_LEN, &cfg.dqn.hidden, actions, &mut rng, device),
            tuner: tuner_network(&cfg.hybrid, &mut rng, device),
        })),
    }
}

impl TrainedModel {
    /// Reads a model directory written by [`TrainedModel::save`].
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let config_path = dir.join(CONFIG_FILE);
        let model_path = dir.join(MODEL_FILE);
        Self::from_parts(
            (&manifest_path, &read(&manifest_path)?),
            (&config_path, &read(&config_path)?),
            (&model_path, read(&model_path)?),
        )
    }

    /// Builds a model from the bytes of its three files (`path`s only label errors).
    pub fn from_parts(
        manifest: (&Path, &[u8]),
        config: (&Path, &[u8]),
        record: (&Path, Vec<u8>),
    ) -> Result<Self, ArtifactError> {
        let manifest_v: Manifest = parse_toml(manifest.0, manifest.1)?;
        let config_v: TrainConfig = parse_toml(config.0, config.1)?;
        config_v.validate()?;
        let record_err = |reason: String| ArtifactError::Record {
            path: record.0.to_owned(),
            reason,
        };
        let rec = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record.1))
            .map_err(|e| record_err(e.to_string()))?;
        let device = inference_device();
        let network = match build_network(manifest_v.algo, &config_v, &device) {
            TrainedNetwork::Dqn(n) => TrainedNetwork::Dqn(
                n.try_load_record(rec)
                    .map_err(|e| record_err(e.to_string()))?,
            ),
            TrainedNetwork::Ppo(n) => TrainedNetwork::Ppo(
                n.try_load_record(rec)
                    .map_err(|e| record_err(e.to_string()))?,
            ),
            TrainedNetwork::Hybrid(n) => TrainedNetwork::Hybrid(Box::new(
                (*n).try_load_record(rec)
                    .map_err(|e| record_err(e.to_string()))?,
            )),
        };
        Ok(Self {
            network,
            actions: config_v.env.actions.clone(),
            config: config_v,
            manifest: manifest_v,
        })
    }

    /// Writes the model into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<(), ArtifactError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ArtifactError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let fmt = |path: &Path, e: toml::ser::Error| ArtifactError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = toml::to_string_pretty(&self.manifest).map_err(|e| fmt(&manifest_path, e))?;
        std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
        let config_path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(&self.config).map_err(|e| fmt(&config_path, e))?;
        std::fs::write(&config_path, text).map_err(io(&config_path))?;
        let model_path = dir.join(MODEL_FILE);
        let record = match &self.network {
            TrainedNetwork::Dqn(n) => n.clone().into_record(),
            TrainedNetwork::Ppo(n) => n.clone().into_record(),
            TrainedNetwork::Hybrid(n) => n.as_ref().clone().into_record(),
        };
        record.save(&model_path).map_err(|e| ArtifactError::Record {
            path: model_path.clone(),
            reason: e.to_string(),
        })
    }
}
