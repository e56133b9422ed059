//! The configuration of `coordinator serve`: one TOML file, every key optional with a
//! documented default, unknown keys refused, everything validated when it is loaded so a
//! typo fails at start and not at the first round. [`DEFAULT_CONFIG`] is the commented
//! file `coordinator default-config` prints; a test keeps it equal to the defaults here.
//!
//! Relative paths in a file are taken relative to the file's directory, so a
//! configuration and the certificates beside it can move together.

mod duration;
mod error;
mod initial;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::proto::{DEFAULT_MAX_FRAME_BYTES, ModelArchitecture};
use common::rl::artifact::{Algo, TrainConfig, TrainedModel};
use common::rl::{defaults, fleet_model};
use common::transport::{Credentials, FleetCa, TransportSettings};
use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use initial::InitialModel;

use crate::aggregate::round::AggregationConfig;
use crate::aggregate::strategy::Strategy;
use crate::round::RoundPolicy;
use crate::server::{CoordinatorOptions, ServerLimits};

pub(crate) use duration::{deserialize as deserialize_duration, serialize as serialize_duration};

/// The commented default configuration, as printed by `coordinator default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Everything `coordinator serve` is configured by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// UDP address to listen on. Default `0.0.0.0:4433`.
    pub listen: SocketAddr,
    /// The model registry directory; created if missing. Default `registry`.
    pub registry: PathBuf,
    /// Seed of participant sampling and of `fresh` initial weights. Default 0.
    pub seed: u64,
    /// Certificates, as written by `coordinator certs`.
    pub tls: TlsPaths,
    /// The fleet's model.
    pub model: ModelConfig,
    /// How a round's updates are combined.
    pub aggregation: AggregationSection,
    /// When rounds open and close.
    pub rounds: RoundPolicy,
    /// Connection timing and resource limits.
    pub transport: TransportSection,
    /// The HTTP admin port: metrics and probes.
    pub admin: AdminSection,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 4433)),
            registry: PathBuf::from("registry"),
            seed: 0,
            tls: TlsPaths::default(),
            model: ModelConfig::default(),
            aggregation: AggregationSection::default(),
            rounds: RoundPolicy::default(),
            transport: TransportSection::default(),
            admin: AdminSection::default(),
        }
    }
}

/// The HTTP admin port. Always on: a coordinator nobody can probe cannot be run under an
/// orchestrator, and the port carries nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// TCP address serving `/metrics`, `/healthz` and `/readyz`. Default `0.0.0.0:9465`
    /// (the edge agent's is 9464, so both fit on one host).
    pub listen: SocketAddr,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9465)),
        }
    }
}

/// The coordinator's certificate and the fleet CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsPaths {
    /// The fleet CA certificate agents' certificates must chain to. Default `certs/ca.pem`.
    pub ca: PathBuf,
    /// The coordinator's certificate. Default `certs/server.pem`.
    pub cert: PathBuf,
    /// Its private key. Default `certs/server-key.pem`.
    pub key: PathBuf,
}

impl Default for TlsPaths {
    fn default() -> Self {
        Self {
            ca: PathBuf::from("certs/ca.pem"),
            cert: PathBuf::from("certs/server.pem"),
            key: PathBuf::from("certs/server-key.pem"),
        }
    }
}

/// The fleet's model: learner, network shape, and first weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The learner every agent runs, `dqn` or `ppo`. Default `dqn`.
    pub algo: Algo,
    /// A training configuration (TOML, as for `edge-agent train --config`) whose network
    /// shape the fleet uses; agents must derive theirs from the same. Default: none, the
    /// built-in training defaults.
    pub train_config: Option<PathBuf>,
    /// The first global model when the registry is empty. Default `default`.
    pub initial: InitialModel,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            algo: Algo::Dqn,
            train_config: None,
            initial: InitialModel::Default,
        }
    }
}

/// The aggregation strategy by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// Sample-weighted mean of the deltas; streams, O(model) memory.
    Fedavg,
    /// Coordinate-wise trimmed mean; keeps every delta until the round closes.
    TrimmedMean,
    /// Coordinate-wise median; keeps every delta until the round closes.
    Median,
}

/// How a round's updates are combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregationSection {
    /// `fedavg`, `trimmed-mean` or `median`. Default `fedavg`.
    pub strategy: StrategyName,
    /// For `trimmed-mean`: the share of values dropped at each end, in [0, 0.5). Default
    /// 0.1; refused with the other strategies.
    pub trim: Option<f64>,
    /// Bound on the L2 norm of any one update's delta. Default: none.
    pub clip_norm: Option<f64>,
}

impl Default for AggregationSection {
    fn default() -> Self {
        Self {
            strategy: StrategyName::Fedavg,
            trim: None,
            clip_norm: None,
        }
    }
}

impl AggregationSection {
    /// The aggregator's settings, validated.
    pub fn to_aggregation(&self) -> Result<AggregationConfig, ConfigError> {
        let strategy = match (self.strategy, self.trim) {
            (StrategyName::Fedavg, None) => Strategy::FedAvg,
            (StrategyName::Median, None) => Strategy::Median,
            (StrategyName::TrimmedMean, trim) => Strategy::TrimmedMean {
                trim_fraction: trim.unwrap_or(0.1),
            },
            (other, Some(_)) => {
                return Err(ConfigError::Invalid {
                    field: "aggregation.trim",
                    reason: format!(
                        "only applies to strategy = \"trimmed-mean\", not {other:?}; remove it"
                    ),
                });
            }
        };
        let config = AggregationConfig {
            strategy,
            clip_norm: self.clip_norm,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Connection timing and the coordinator's resource limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportSection {
    /// How often a quiet connection is pinged. Default `2s`.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub keep_alive_interval: Duration,
    /// Silence after which a connection is dead. Default `6s`.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub idle_timeout: Duration,
    /// Streams of each kind an agent may have open at once. Default 8.
    pub max_concurrent_streams: u32,
    /// Largest frame accepted, in bytes. Default 16777216 (16 MiB).
    pub max_frame_bytes: usize,
    /// How long a new connection may take to say hello. Default `10s`.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub hello_timeout: Duration,
    /// Memory for messages being received and decoded, in MiB. Default 16.
    pub receive_budget_mib: u32,
    /// Unread bytes each agent may send ahead, in KiB (QUIC flow control). Default 256.
    pub receive_window_kib: u32,
}

impl Default for TransportSection {
    fn default() -> Self {
        let transport = TransportSettings::default();
        let limits = ServerLimits::default();
        Self {
            keep_alive_interval: transport.keep_alive_interval,
            idle_timeout: transport.idle_timeout,
            max_concurrent_streams: transport.max_concurrent_streams,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            hello_timeout: limits.hello_timeout,
            receive_budget_mib: u32::try_from(limits.receive_budget_bytes >> 20).unwrap_or(16),
            receive_window_kib: limits.receive_window_bytes >> 10,
        }
    }
}

impl TransportSection {
    /// The transport's settings.
    pub fn settings(&self) -> TransportSettings {
        TransportSettings {
            keep_alive_interval: self.keep_alive_interval,
            idle_timeout: self.idle_timeout,
            max_concurrent_streams: self.max_concurrent_streams,
            max_frame_bytes: self.max_frame_bytes,
        }
    }

    /// The server's own limits.
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            hello_timeout: self.hello_timeout,
            receive_budget_bytes: usize::try_from(self.receive_budget_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            receive_window_bytes: self.receive_window_kib.saturating_mul(1 << 10),
        }
    }
}

impl ServeConfig {
    /// Reads and validates `path`; relative paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { reason, .. } => ConfigError::Parse {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and validates a configuration held in memory; paths stay as written.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<configuration>"),
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that can be checked without reading other files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rounds.validate()?;
        self.aggregation.to_aggregation()?;
        let t = &self.transport;
        if t.keep_alive_interval.is_zero() || t.keep_alive_interval >= t.idle_timeout {
            return Err(ConfigError::Invalid {
                field: "transport.keep_alive_interval",
                reason: format!(
                    "{} must be positive and shorter than transport.idle_timeout ({})",
                    humantime::format_duration(t.keep_alive_interval),
                    humantime::format_duration(t.idle_timeout)
                ),
            });
        }
        if t.max_concurrent_streams == 0 {
            return Err(ConfigError::Invalid {
                field: "transport.max_concurrent_streams",
                reason: "must be at least 1".into(),
            });
        }
        if t.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid {
                field: "transport.max_frame_bytes",
                reason: format!(
                    "{} bytes cannot hold a model; use e.g. 16777216",
                    t.max_frame_bytes
                ),
            });
        }
        if t.hello_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                field: "transport.hello_timeout",
                reason: "must be positive".into(),
            });
        }
        if t.receive_window_kib == 0 || t.receive_window_kib > 1 << 20 {
            return Err(ConfigError::Invalid {
                field: "transport.receive_window_kib",
                reason: format!(
                    "{} KiB is outside 1..=1048576; use e.g. 256",
                    t.receive_window_kib
                ),
            });
        }
        if t.receive_budget_mib == 0 {
            return Err(ConfigError::Invalid {
                field: "transport.receive_budget_mib",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.registry,
            &mut self.tls.ca,
            &mut self.tls.cert,
            &mut self.tls.key,
        ] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        if let Some(path) = &mut self.model.train_config
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
        if let InitialModel::Dir(path) = &mut self.model.initial
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }

    /// The fleet CA and the coordinator's credentials, read from `tls`.
    pub fn credentials(&self) -> Result<(FleetCa, Credentials), ConfigError> {
        let ca = FleetCa::from_pem_file(&self.tls.ca)?;
        let identity = Credentials::from_pem_files(&self.tls.cert, &self.tls.key)?;
        Ok((ca, identity))
    }

    /// The training configuration the fleet's architecture derives from.
    pub fn train_config(&self) -> Result<TrainConfig, ConfigError> {
        let Some(path) = &self.model.train_config else {
            return Ok(TrainConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let cfg: TrainConfig = toml::from_str(&text).map_err(|e| ConfigError::TrainConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        cfg.validate().map_err(|e| ConfigError::TrainConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Everything the server needs to start, with the fleet architecture derived and the
    /// initial model loaded (it is only used if the registry turns out to be empty, but
    /// loading it now means a bad path fails at start either way).
    pub fn options(&self) -> Result<CoordinatorOptions, ConfigError> {
        let algo = self.model.algo;
        let train = self.train_config()?;
        let architecture = fleet_model::architecture(algo, &train);
        let initial_weights = self.initial_weights(algo, &train, &architecture)?;
        Ok(CoordinatorOptions {
            listen: self.listen,
            registry: self.registry.clone(),
            architecture,
            initial_weights,
            aggregation: self.aggregation.to_aggregation()?,
            rounds: self.rounds.clone(),
            transport: self.transport.settings(),
            limits: self.transport.limits(),
            seed: self.seed,
        })
    }

    fn initial_weights(
        &self,
        algo: Algo,
        train: &TrainConfig,
        architecture: &ModelArchitecture,
    ) -> Result<Vec<f32>, ConfigError> {
        let what = self.model.initial.to_string();
        let trained = match &self.model.initial {
            InitialModel::Fresh => return Ok(fleet_model::fresh_weights(algo, train, self.seed)),
            InitialModel::Default => defaults::load(algo),
            InitialModel::Dir(dir) => TrainedModel::load(dir),
        }
        .map_err(|source| ConfigError::InitialModel {
            what: what.clone(),
            source,
        })?;
        if trained.manifest.algo != algo {
            return Err(ConfigError::InitialMismatch {
                what,
                reason: format!(
                    "it is a {} model but model.algo is {}",
                    trained.manifest.algo.name(),
                    algo.name()
                ),
            });
        }
        let theirs = fleet_model::architecture(algo, &trained.config);
        if let Err(mismatch) = architecture.check_compatible(&theirs) {
            return Err(ConfigError::InitialMismatch {
                what,
                reason: format!(
                    "{mismatch}; point model.train_config at the training configuration it was trained with, or use model.initial = \"fresh\""
                ),
            });
        }
        Ok(fleet_model::network_weights(&trained.network))
    }
}

#[cfg(test)]
mod tests;
