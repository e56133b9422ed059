//! The configuration file of `edge-agent federate`: where the coordinator is, which
//! certificate proves the agent's cluster, how to reconnect, what the agent trains on
//! locally, and the simulated cluster it autoscales meanwhile. Every key but `cluster_id`
//! has a default (`edge-agent default-federate-config` prints them all); unknown keys and
//! out-of-range values are refused at load, naming the key.
//!
//! The learner sections (`[dqn]`/`[ppo]`, `[env].actions`) fix the network's shape, which
//! must be the fleet's: the coordinator refuses a hello announcing another.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use common::env::EnvConfig;
use common::policy::HpaConfig;
use common::proto::DEFAULT_MAX_FRAME_BYTES;
use common::rl::artifact::{Algo, TrainConfig, TrainingConfig};
use common::rl::dqn::DqnConfig;
use common::rl::ppo::PpoConfig;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::transport::{ClusterId, Credentials, FleetCa, TransportSettings};
use serde::{Deserialize, Serialize};

use crate::federation::{BackoffConfig, FederationConfig, PayloadForm};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FederateConfig {
    /// This agent's cluster, exactly as its client certificate names it (lowercase
    /// letters, digits and '-'). Required.
    pub(crate) cluster_id: String,
    /// Labels of the workload, sent in the hello; the coordinator serves a model
    /// fine-tuned for one of them if it has one. Default: none.
    pub(crate) workload_tags: Vec<String>,
    /// The learner, `dqn` or `ppo`: must be the fleet's. Default `dqn`.
    pub(crate) algo: Algo,
    /// What updates carry: the trained `weights`, the `delta` from the round's base, or
    /// that delta as `half_delta`, rounded to `f16` on the wire (half the bytes; each
    /// value within a relative 2⁻¹¹, a plain `delta` when a value exceeds the `f16`
    /// range). Default `half_delta`: `coordinator simulate` measured no loss of quality
    /// against `delta` (see the README), and the coordinator can clip deltas' norms.
    pub(crate) payload: PayloadForm,
    /// How to reach the coordinator.
    pub(crate) coordinator: CoordinatorSection,
    /// The agent's certificate, its key and the fleet CA.
    pub(crate) tls: TlsSection,
    /// The reconnect schedule.
    pub(crate) backoff: BackoffConfig,
    /// The simulated cluster the agent autoscales.
    pub(crate) autoscale: AutoscaleSection,
    /// The HPA rule that decides until the first global model arrives.
    pub(crate) hpa: HpaConfig,
    /// Local training: the agent's own traffic (`scenarios`, pattern names or
    /// `trace:PATH`), its `seed`, and `timesteps`, the local steps expected over all
    /// rounds (DQN decays ε over its `exploration_fraction` of them). Default: the
    /// `daily_pattern` scenario, seed 0, 200,000 steps.
    pub(crate) training: TrainingConfig,
    /// The environment, for training and autoscaling alike.
    pub(crate) env: EnvConfig,
    /// DQN hyperparameters (and network shape).
    pub(crate) dqn: DqnConfig,
    /// PPO hyperparameters (and network shape).
    pub(crate) ppo: PpoConfig,
}

impl Default for FederateConfig {
    fn default() -> Self {
        Self {
            cluster_id: String::new(),
            workload_tags: Vec::new(),
            algo: Algo::Dqn,
            payload: PayloadForm::HalfDelta,
            coordinator: CoordinatorSection::default(),
            tls: TlsSection::default(),
            backoff: BackoffConfig::default(),
            autoscale: AutoscaleSection::default(),
            hpa: HpaConfig::default(),
            training: TrainingConfig {
                scenarios: vec!["daily_pattern".into()],
                ..TrainingConfig::default()
            },
            env: EnvConfig::default(),
            dqn: DqnConfig::default(),
            ppo: PpoConfig::default(),
        }
    }
}

/// `[coordinator]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CoordinatorSection {
    /// `host:port` of the coordinator's QUIC endpoint (UDP); a DNS name is resolved at
    /// every connection attempt. Default `127.0.0.1:7443`.
    pub(crate) address: String,
    /// The name the coordinator's certificate must carry. Default
    /// `coordinator.rl-system.svc`, the name `coordinator certs` puts first.
    pub(crate) server_name: String,
    /// Milliseconds between keep-alive pings. Default 2,000. Should match the coordinator.
    pub(crate) keep_alive_ms: u64,
    /// Milliseconds of silence after which the coordinator counts as gone and the agent
    /// reconnects. Default 6,000. Should match the coordinator.
    pub(crate) idle_timeout_ms: u64,
    /// The largest message accepted, bytes. Default 16 MiB.
    pub(crate) max_frame_bytes: usize,
}

impl Default for CoordinatorSection {
    fn default() -> Self {
        let transport = TransportSettings::default();
        Self {
            address: "127.0.0.1:7443".into(),
            server_name: "coordinator.rl-system.svc".into(),
            keep_alive_ms: transport.keep_alive_interval.as_millis() as u64,
            idle_timeout_ms: transport.idle_timeout.as_millis() as u64,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// `[tls]`. Relative paths are taken from the directory of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsSection {
    /// Directory of the files `coordinator certs` writes: `ca.pem`, `<cluster>.pem`,
    /// `<cluster>-key.pem`. Default `certs`.
    pub(crate) dir: PathBuf,
    /// The fleet CA certificate, instead of `<dir>/ca.pem`.
    pub(crate) ca: Option<PathBuf>,
    /// The agent's certificate, instead of `<dir>/<cluster>.pem`.
    pub(crate) cert: Option<PathBuf>,
    /// The agent's private key, instead of `<dir>/<cluster>-key.pem`.
    pub(crate) key: Option<PathBuf>,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("certs"),
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// `[autoscale]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AutoscaleSection {
    /// Traffic of the simulated cluster, played as an endless cycle of episodes. Default
    /// `daily_pattern`.
    pub(crate) scenarios: Vec<String>,
    /// Seed of that traffic. Default 1.
    pub(crate) seed: u64,
    /// Simulated seconds per wall-clock second. Default 60: a 15 s decision every 0.25 s,
    /// a simulated day in 24 minutes.
    pub(crate) speedup: f64,
    /// Log a summary every this many decisions. Default 40 (ten simulated minutes).
    pub(crate) log_every: u64,
}

impl Default for AutoscaleSection {
    fn default() -> Self {
        Self {
            scenarios: vec!["daily_pattern".into()],
            seed: 1,
            speedup: 60.0,
            log_every: 40,
        }
    }
}

/// The certificate files, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl FederateConfig {
    /// Reads and validates `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let mut cfg: Self = crate::config::read_validated(path, Self::validate)?;
        if let Some(base) = path.parent() {
            cfg.tls.dir = base.join(&cfg.tls.dir);
            for p in [&mut cfg.tls.ca, &mut cfg.tls.cert, &mut cfg.tls.key]
                .into_iter()
                .flatten()
            {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }

    /// Checks every key; the error names it.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.cluster_id.is_empty() {
            bail!(
                "cluster_id is required: set it to the cluster named in this agent's certificate"
            );
        }
        ClusterId::new(self.cluster_id.clone()).context("cluster_id")?;
        self.train_config().validate()?;
        self.backoff.validate()?;
        self.hpa.validate()?;
        self.transport()
            .map_err(|reason| anyhow::anyhow!("[coordinator]: {reason}"))?;
        let a = &self.autoscale;
        ensure!(
            a.speedup.is_finite() && a.speedup > 0.0,
            "autoscale.speedup must be a positive number, got {}",
            a.speedup
        );
        ensure!(a.log_every >= 1, "autoscale.log_every must be at least 1");
        ensure!(
            !a.scenarios.is_empty(),
            "autoscale.scenarios needs at least one scenario"
        );
        Ok(())
    }

    /// The cluster id; call after [`validate`](Self::validate).
    pub(crate) fn cluster(&self) -> anyhow::Result<ClusterId> {
        ClusterId::new(self.cluster_id.clone()).context("cluster_id")
    }

    /// The learner and environment settings as one training configuration.
    pub(crate) fn train_config(&self) -> TrainConfig {
        TrainConfig {
            training: self.training.clone(),
            env: self.env.clone(),
            dqn: self.dqn.clone(),
            ppo: self.ppo.clone(),
            // The federated part of a hybrid is its DQN; the tuner is not federated.
            hybrid: Default::default(),
        }
    }

    fn transport(&self) -> Result<TransportSettings, String> {
        let c = &self.coordinator;
        if c.keep_alive_ms == 0 || c.keep_alive_ms >= c.idle_timeout_ms {
            return Err(format!(
                "keep_alive_ms ({}) must be positive and below idle_timeout_ms ({})",
                c.keep_alive_ms, c.idle_timeout_ms
            ));
        }
        if c.max_frame_bytes < 1024 {
            return Err(format!(
                "max_frame_bytes {} is too small for any model",
                c.max_frame_bytes
            ));
        }
        Ok(TransportSettings {
            keep_alive_interval: std::time::Duration::from_millis(c.keep_alive_ms),
            idle_timeout: std::time::Duration::from_millis(c.idle_timeout_ms),
            max_frame_bytes: c.max_frame_bytes,
            ..TransportSettings::default()
        })
    }

    /// The client's settings. The backoff jitter is seeded from the cluster id and the
    /// training seed, so agents of one fleet spread out without configuring anything.
    pub(crate) fn federation_config(&self) -> anyhow::Result<FederationConfig> {
        let backoff_seed = self
            .cluster_id
            .bytes()
            .fold(self.training.seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Ok(FederationConfig {
            coordinator: self.coordinator.address.clone(),
            server_name: self.coordinator.server_name.clone(),
            cluster_id: self.cluster()?,
            workload_tags: self.workload_tags.clone(),
            backoff: self.backoff.clone(),
            backoff_seed,
            transport: self.transport().map_err(anyhow::Error::msg)?,
        })
    }

    /// Where the CA, certificate and key are read from.
    pub(crate) fn tls_files(&self) -> TlsFiles {
        let dir = &self.tls.dir;
        let id = &self.cluster_id;
        TlsFiles {
            ca: self.tls.ca.clone().unwrap_or_else(|| dir.join("ca.pem")),
            cert: self
                .tls
                .cert
                .clone()
                .unwrap_or_else(|| dir.join(format!("{id}.pem"))),
            key: self
                .tls
                .key
                .clone()
                .unwrap_or_else(|| dir.join(format!("{id}-key.pem"))),
        }
    }

    /// The fleet CA and this agent's credentials, read from [`tls_files`](Self::tls_files).
    pub(crate) fn load_tls(&self) -> anyhow::Result<(FleetCa, Credentials)> {
        let files = self.tls_files();
        // The errors name the file and carry their cause in their text already; as
        // `anyhow` sources they would print it twice.
        let ca = FleetCa::from_pem_file(&files.ca).map_err(|e| anyhow::anyhow!("{e}"))?;
        let credentials = Credentials::from_pem_files(&files.cert, &files.key)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((ca, credentials))
    }

    /// The simulated cluster's scenarios.
    pub(crate) fn autoscale_scenarios(&self) -> anyhow::Result<Vec<Scenario>> {
        let specs = ScenarioSpec::parse_list(&self.autoscale.scenarios.join(","))
            .context("autoscale.scenarios")?;
        specs
            .iter()
            .map(|s| {
                Scenario::build(s, &ScenarioOptions::default(), &self.env.sim)
                    .with_context(|| format!("autoscale.scenarios: {s}"))
            })
            .collect()
    }

    /// The printed default: every key with its default, `cluster_id` to be filled in.
    pub(crate) fn default_toml() -> anyhow::Result<String> {
        let body = toml::to_string_pretty(&Self::default())?;
        Ok(format!(
            "# edge-agent federate configuration. Every key is optional except cluster_id;\n\
             # the values below are the defaults. See `edge-agent federate --help`.\n{body}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<FederateConfig> {
        let cfg: FederateConfig = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    #[test]
    fn the_printed_default_reads_back_as_the_default() {
        let text = FederateConfig::default_toml().unwrap();
        let cfg: FederateConfig = toml::from_str(&text).unwrap();
        assert_eq!(cfg, FederateConfig::default());
    }

    #[test]
    fn a_minimal_file_needs_only_the_cluster() {
        let cfg = parse("cluster_id = \"eu-west-1\"\n").unwrap();
        assert_eq!(cfg.coordinator.address, "127.0.0.1:7443");
        let files = cfg.tls_files();
        assert_eq!(files.ca, Path::new("certs/ca.pem"));
        assert_eq!(files.cert, Path::new("certs/eu-west-1.pem"));
        assert_eq!(files.key, Path::new("certs/eu-west-1-key.pem"));
        let fed = cfg.federation_config().unwrap();
        assert_eq!(fed.cluster_id.as_str(), "eu-west-1");
        let other = parse("cluster_id = \"eu-west-2\"\n").unwrap();
        assert_ne!(
            fed.backoff_seed,
            other.federation_config().unwrap().backoff_seed
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("", "cluster_id is required"),
            ("cluster_id = \"EU\"", "cluster_id"),
            (
                "cluster_id = \"a\"\ncluster = \"b\"",
                "unknown field `cluster`",
            ),
            (
                "cluster_id = \"a\"\n[backoff]\nfactor = 0.5",
                "backoff.factor",
            ),
            (
                "cluster_id = \"a\"\n[autoscale]\nspeedup = 0",
                "autoscale.speedup",
            ),
            (
                "cluster_id = \"a\"\n[coordinator]\nkeep_alive_ms = 9000",
                "keep_alive_ms",
            ),
            ("cluster_id = \"a\"\n[dqn]\nhidden = []", "dqn.hidden"),
            ("cluster_id = \"a\"\nalgo = \"a2c\"", "a2c"),
        ];
        for (text, needle) in cases {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_file_s_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "cluster_id = \"a\"\n[tls]\ndir = \"pki\"\nkey = \"/abs/key.pem\"\n",
        )
        .unwrap();
        let cfg = FederateConfig::load(&path).unwrap();
        let files = cfg.tls_files();
        assert_eq!(files.ca, dir.path().join("pki/ca.pem"));
        assert_eq!(files.cert, dir.path().join("pki/a.pem"));
        assert_eq!(files.key, Path::new("/abs/key.pem"));
    }
}
