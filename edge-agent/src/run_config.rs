//! The configuration file of `edge-agent run`, the control loop on a real cluster: which
//! Deployment to scale, where Prometheus is and what to ask it, which policy decides, the
//! safety settings, where experience is kept and where the agent's own metrics are served.
//! Every key has a default (`edge-agent default-run-config` prints them all); unknown keys
//! and out-of-range values are refused at load, and the error names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::ensure;
use common::rl::policy::DEFAULT_DQN_CONFIDENCE_TEMPERATURE;
use common::scorecard::PolicyName;
use serde::{Deserialize, Serialize};

use crate::experience::{
    DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, Retention,
};
use crate::metrics::{PrometheusConfig, Target};
use crate::safety::config::SafetyConfig;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RunConfig {
    /// Seconds between two decisions. Default 15: the HPA's sync period, and the interval
    /// the shipped models were trained at (a policy run at another pace sees its actions
    /// take effect at a pace it never learned).
    pub(crate) interval_s: f64,
    /// The workload scaled.
    pub(crate) target: TargetSection,
    /// Where the metrics come from and the PromQL per observation entry.
    pub(crate) prometheus: PrometheusConfig,
    /// Who proposes replica counts.
    pub(crate) policy: PolicySection,
    /// What every proposal is checked against before it is written.
    pub(crate) safety: SafetyConfig,
    /// Where the experience log lives and how much of it is kept.
    pub(crate) experience: ExperienceSection,
    /// The agent's own `/metrics`, `/healthz` and `/readyz`.
    pub(crate) observability: ObservabilitySection,
    /// Federated learning, off unless set.
    pub(crate) federation: FederationSection,
}

/// `[federation]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FederationSection {
    /// An `edge-agent federate` configuration file (coordinator address, certificates,
    /// backoff, learner and local training; its `[autoscale]` section is not used here).
    /// When set, the agent joins the coordinator's rounds and decides with every global
    /// model it publishes, keeping the last good one while the coordinator is away.
    /// Relative to this file. Default: unset (no federation).
    pub(crate) config: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            interval_s: 15.0,
            target: TargetSection::default(),
            prometheus: PrometheusConfig::default(),
            policy: PolicySection::default(),
            safety: SafetyConfig::default(),
            experience: ExperienceSection::default(),
            observability: ObservabilitySection::default(),
            federation: FederationSection::default(),
        }
    }
}

/// `[target]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TargetSection {
    /// Namespace of the Deployment. Default `default`.
    pub(crate) namespace: String,
    /// Name of the Deployment (its `scale` subresource is what the agent writes).
    /// Default `web`.
    pub(crate) deployment: String,
    /// A kubeconfig file to use instead of the in-cluster service account (or
    /// `$KUBECONFIG`, `~/.kube/config`, which are tried when this is unset). Relative to the
    /// configuration file.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; its current context when unset.
    pub(crate) context: Option<String>,
    /// Seconds one Kubernetes API call may take. Default 5.
    pub(crate) request_timeout_s: f64,
}

impl Default for TargetSection {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            deployment: "web".into(),
            kubeconfig: None,
            context: None,
            request_timeout_s: 5.0,
        }
    }
}

/// `[policy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PolicySection {
    /// `hpa` (the Kubernetes HPA rule, as configured in `[safety.fallback]`), `dqn`, `ppo`,
    /// `hybrid` (the shipped models), or `dqn:DIR` / `ppo:DIR` / `hybrid:DIR` (a model
    /// `edge-agent train` wrote; relative to the configuration file). Default `dqn`.
    pub(crate) model: String,
    /// The temperature DQN Q-values are read at to turn the best action's margin into a
    /// confidence (softmax probability) that `safety.min_confidence` is compared with.
    /// Lower trusts smaller margins. Default 0.1 (reward units).
    pub(crate) dqn_confidence_temperature: f64,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            model: "dqn".into(),
            dqn_confidence_temperature: DEFAULT_DQN_CONFIDENCE_TEMPERATURE,
        }
    }
}

/// `[experience]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ExperienceSection {
    /// Directory of the experience log; relative to the configuration file. On Kubernetes
    /// mount a volume here (a hostPath or PVC) or a restart of the pod loses it. Default
    /// `experience`.
    pub(crate) dir: PathBuf,
    /// The log's segments together never exceed this many bytes; the oldest are deleted
    /// first. Default 64 MiB: at about 200 bytes per decision every 15 s that is about
    /// two months, so the default `max_age_days` binds first; and a sixteenth of the DaemonSet's 1 GiB
    /// `emptyDir`, whose limit the kubelet enforces by evicting the pod. At least twice
    /// `segment_bytes`.
    pub(crate) max_bytes: u64,
    /// Segments whose newest transition is more than this many days older than the newest
    /// transition recorded are deleted (judged by the transitions' own timestamps, not the
    /// clock, so a stopped agent does not lose its history on restart). Default 30.
    pub(crate) max_age_days: u32,
    /// Size at which a segment is closed and a new one started: retention deletes whole
    /// segments, so this is its granularity. Default 4 MiB; at least 128 KiB (a record is
    /// at most 64 KiB) and at most half of `max_bytes`, so a closed segment is kept beside
    /// the one being written.
    pub(crate) segment_bytes: u64,
}

impl Default for ExperienceSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("experience"),
            max_bytes: DEFAULT_MAX_BYTES,
            max_age_days: DEFAULT_MAX_AGE_DAYS,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Smallest `experience.segment_bytes`: room for the largest record the format accepts.
const MIN_SEGMENT_BYTES: u64 = 128 * 1024;

impl ExperienceSection {
    /// The limits the log is opened with.
    pub(crate) fn retention(&self) -> Retention {
        Retention {
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes,
            max_age_s: u64::from(self.max_age_days) * 86_400,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.segment_bytes >= MIN_SEGMENT_BYTES,
            "experience.segment_bytes must be at least {MIN_SEGMENT_BYTES} (128 KiB), got {}",
            self.segment_bytes
        );
        ensure!(
            self.max_bytes / 2 >= self.segment_bytes,
            "experience.max_bytes must be at least twice experience.segment_bytes ({}), got {}",
            self.segment_bytes,
            self.max_bytes
        );
        ensure!(
            self.max_age_days >= 1,
            "experience.max_age_days must be at least 1, got {}",
            self.max_age_days
        );
        Ok(())
    }
}

/// `[observability]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ObservabilitySection {
    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
    /// Default `0.0.0.0:9464`.
    pub(crate) listen: SocketAddr,
}

impl Default for ObservabilitySection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9464)),
        }
    }
}

impl RunConfig {
    /// Reads and validates `path`; relative paths in it are taken from its directory.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let mut cfg: Self = crate::config::read_validated(path, Self::validate)?;
        if let Some(base) = path.parent() {
            cfg.experience.dir = base.join(&cfg.experience.dir);
            for p in [&mut cfg.target.kubeconfig, &mut cfg.federation.config]
                .into_iter()
                .flatten()
            {
                *p = base.join(&*p);
            }
            if let Some((algo, dir)) = cfg.policy.model.split_once(':') {
                cfg.policy.model = format!("{algo}:{}", base.join(dir).display());
            }
        }
        Ok(cfg)
    }

    /// Checks every key; the error names it.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.interval_s.is_finite() && self.interval_s >= 0.01,
            "interval_s must be at least 0.01 seconds, got {}",
            self.interval_s
        );
        ensure!(
            !self.target.namespace.is_empty(),
            "target.namespace must not be empty"
        );
        ensure!(
            !self.target.deployment.is_empty(),
            "target.deployment must not be empty"
        );
        ensure!(
            self.target.request_timeout_s.is_finite() && self.target.request_timeout_s > 0.0,
            "target.request_timeout_s must be a positive number of seconds, got {}",
            self.target.request_timeout_s
        );
        // Its errors already say `prometheus.<key>`.
        self.prometheus.validate()?;
        self.policy_name()?;
        let t = self.policy.dqn_confidence_temperature;
        ensure!(
            t.is_finite() && t > 0.0,
            "policy.dqn_confidence_temperature must be positive, got {t}"
        );
        self.safety
            .validate()
            .map_err(|e| anyhow::anyhow!("safety.{}: {}", e.field, e.reason))?;
        self.experience.validate()?;
        Ok(())
    }

    /// The policy named by `policy.model`.
    pub(crate) fn policy_name(&self) -> anyhow::Result<PolicyName> {
        let names = PolicyName::parse_list(&self.policy.model)
            .map_err(|e| anyhow::anyhow!("policy.model: {e}"))?;
        match names.as_slice() {
            [name @ (PolicyName::Hpa | PolicyName::Learned(..))] => Ok(name.clone()),
            _ => anyhow::bail!(
                "policy.model must be one of hpa, dqn[:DIR], ppo[:DIR], hybrid[:DIR]; got {:?}",
                self.policy.model
            ),
        }
    }

    /// The workload the metrics queries are about.
    pub(crate) fn metrics_target(&self) -> Target {
        Target {
            namespace: self.target.namespace.clone(),
            deployment: self.target.deployment.clone(),
        }
    }

    /// The file with every default, for `edge-agent default-run-config`.
    pub(crate) fn default_toml() -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(&Self::default())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> anyhow::Result<RunConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, text).unwrap();
        RunConfig::load(&path)
    }

    fn chain(e: &anyhow::Error) -> String {
        format!("{e:#}")
    }

    #[test]
    fn the_printed_defaults_load_back_as_the_defaults() {
        let text = RunConfig::default_toml().unwrap();
        let cfg: RunConfig = toml::from_str(&text).unwrap();
        assert_eq!(cfg, RunConfig::default());
        cfg.validate().unwrap();
    }

    #[test]
    fn bad_values_and_unknown_keys_are_refused_by_name() {
        for (text, expect) in [
            ("interval_s = 0", "interval_s must be at least 0.01"),
            (
                "[target]\ndeployment = \"\"",
                "target.deployment must not be empty",
            ),
            ("[target]\nreplicas = 3", "unknown field `replicas`"),
            (
                "[policy]\nmodel = \"oracle\"",
                "policy.model must be one of",
            ),
            ("[policy]\nmodel = \"sarsa\"", "policy.model"),
            (
                "[safety]\nmin_replicas = 9\nmax_replicas = 3",
                "safety.min_replicas",
            ),
            ("[prometheus]\nurl = \"localhost:9090\"", "prometheus.url"),
            ("[observability]\nlisten = \"nowhere\"", "listen"),
            (
                "[experience]\nsegment_bytes = 1024",
                "experience.segment_bytes must be at least",
            ),
            (
                "[experience]\nmax_bytes = 1048576\nsegment_bytes = 1048576",
                "experience.max_bytes must be at least twice",
            ),
            (
                "[experience]\nmax_age_days = 0",
                "experience.max_age_days must be at least 1",
            ),
            ("[experience]\nmax_bytes = -1", "max_bytes"),
        ] {
            let err = chain(&load_text(text).unwrap_err());
            assert!(err.contains(expect), "{text:?} gave {err}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "[policy]\nmodel = \"ppo:models/mine\"\n[target]\nkubeconfig = \"kube.yaml\"\n",
        )
        .unwrap();
        let cfg = RunConfig::load(&path).unwrap();
        assert_eq!(cfg.experience.dir, dir.path().join("experience"));
        assert_eq!(cfg.target.kubeconfig, Some(dir.path().join("kube.yaml")));
        assert_eq!(
            cfg.policy.model,
            format!("ppo:{}", dir.path().join("models/mine").display())
        );
    }
}
