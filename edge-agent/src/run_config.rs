//! The configuration file of `edge-agent run`, the control loop on a real cluster: which
//! Deployment to scale, where Prometheus is and what to ask it, which policy decides, the
//! safety settings, where experience is kept and where the agent's own metrics are served.
//! Every key has a default (`edge-agent default-run-config` prints them all); unknown keys
//! and out-of-range values are refused at load, and the error names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::ensure;
use common::rl::policy::DEFAULT_DQN_CONFIDENCE_TEMPERATURE;
use common::scorecard::PolicyName;
use serde::{Deserialize, Serialize};

use crate::experience::{
    DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, Retention,
};
use crate::leader::elector::ElectionConfig;
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
    /// Which of several agents in one cluster writes; off unless enabled.
    pub(crate) leader_election: LeaderElectionSection,
    /// The model store `edge-agent retrain` promotes into; off unless set.
    pub(crate) twin: TwinSection,
}

/// `[twin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TwinSection {
    /// The model store `edge-agent retrain --store` promotes into. When set, the agent
    /// decides with the store's `current` model (of `policy.model`'s learner) and checks
    /// the store before every interval, so a promotion or a `rollback-model` takes effect
    /// at the next decision; with nothing promoted, `policy.model` decides. Relative to
    /// this file. Default: unset. Not with `[federation]`, whose global models would
    /// replace it.
    pub(crate) store: Option<PathBuf>,
    /// Retrain every this many hours of recorded traffic: the agent runs `edge-agent
    /// retrain` on its experience log and `store` as a separate, niced process (a crash
    /// or an out-of-memory kill of training cannot take autoscaling with it), counting
    /// from the newest sample the last verdict saw. Default: unset (only on demand).
    pub(crate) retrain_every_h: Option<f64>,
    /// Seconds between checks whether a retrain is due. Default 600.
    pub(crate) check_every_s: u64,
    /// Environment steps each scheduled retrain trains for. Default 20000.
    pub(crate) retrain_timesteps: u64,
    /// CPU niceness of the retrain process (0–19). Default 10; give its container a CPU
    /// limit too, so training never takes a core the workloads need.
    pub(crate) retrain_nice: i32,
    /// With `[federation]`: train the coordinator's rounds in the twin calibrated from the
    /// experience log, on the recorded traffic and its variations, instead of the
    /// federation file's scenarios; observations are then normalised by the twin. Built
    /// when the agent starts; until the log can calibrate the twin (two hours of varied
    /// traffic with scale-ups), rounds train on the configured scenarios. Default false.
    pub(crate) federate_in_twin: bool,
    /// With `federate_in_twin`: the newest quarter of the recording is held back from the
    /// rounds, and a global model goes into service only if, played through that slice in
    /// the twin, it is cheaper than the policy in service at equal or better SLO
    /// compliance (the promotion gate's rule); otherwise the agent keeps deciding with
    /// the policy it has, while the rounds still train from the new model. Verdicts are
    /// logged and counted like the store's. Default true.
    pub(crate) gate_global_models: bool,
    /// With `federate_in_twin`: rebuild the twin (calibration, training and held-back
    /// slices) from the experience log every this many hours, so it follows the workload;
    /// while none could be built yet, try again every `check_every_s`. Default 6.
    pub(crate) recalibrate_every_h: f64,
}

impl Default for TwinSection {
    fn default() -> Self {
        Self {
            store: None,
            retrain_every_h: None,
            check_every_s: 600,
            retrain_timesteps: 20_000,
            retrain_nice: 10,
            federate_in_twin: false,
            gate_global_models: true,
            recalibrate_every_h: 6.0,
        }
    }
}

/// `[leader_election]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LeaderElectionSection {
    /// Whether agents take turns through a Lease, so that only the holder writes the
    /// Deployment's scale and the others decide without writing. Must be on whenever more
    /// than one agent runs for a cluster (the DaemonSet manifest turns it on). Default
    /// `false`: a single `edge-agent run` then needs no Lease permissions and no
    /// namespace of its own, and acts from its first interval.
    pub(crate) enabled: bool,
    /// The namespace of the Lease: the agent's own. Default: `$POD_NAMESPACE` (set it
    /// from the pod's `metadata.namespace` with the downward API); with neither, enabling
    /// leader election is an error.
    pub(crate) namespace: Option<String>,
    /// The Lease's name. Default `edge-agent-<target.deployment>`, so agents scaling
    /// different Deployments from one namespace elect separately.
    pub(crate) lease_name: Option<String>,
    /// This agent's name in the Lease's `holderIdentity`; must differ between agents.
    /// Default: `$POD_NAME`, else `$HOSTNAME`, else the kernel's host name.
    pub(crate) identity: Option<String>,
    /// Seconds a follower waits, after it last saw the Lease change, before taking over
    /// (written as the Lease's `leaseDurationSeconds`). Default 15.
    pub(crate) lease_duration_s: u32,
    /// Seconds after its last successful renewal that the leader stops writing, unless it
    /// renewed again. Shorter than `lease_duration_s`: the margin covers a write the API
    /// received but answered too late. More than `target.request_timeout_s` plus
    /// `retry_period_s`, since a write may start only while a whole request timeout is
    /// left of the term. Default 10.
    pub(crate) renew_deadline_s: f64,
    /// Seconds between two attempts to renew or take over. Default 2.
    pub(crate) retry_period_s: f64,
}

impl Default for LeaderElectionSection {
    fn default() -> Self {
        Self {
            enabled: false,
            namespace: None,
            lease_name: None,
            identity: None,
            lease_duration_s: 15,
            renew_deadline_s: 10.0,
            retry_period_s: 2.0,
        }
    }
}

/// `[leader_election]` with its defaults filled in from the environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeaderElection {
    /// The Lease's namespace.
    pub(crate) namespace: String,
    /// The Lease's name.
    pub(crate) lease_name: String,
    /// Identity and timing.
    pub(crate) election: ElectionConfig,
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
            twin: TwinSection::default(),
            leader_election: LeaderElectionSection::default(),
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
    /// first. Default 64 MiB: a transition takes about 130 bytes on disk, so at one decision
    /// every 15 s that is about 90 days and the default `max_age_days` binds first; and it
    /// is a sixteenth of the DaemonSet's 1 GiB `emptyDir`, whose limit the kubelet enforces by evicting the pod. At least twice
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

/// A variable of this process's environment; empty counts as unset.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl RunConfig {
    /// Reads and validates `path`; relative paths in it are taken from its directory.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        Self::load_with_env(path, process_env)
    }

    /// [`load`](Self::load) with the environment the defaults come from given, for
    /// checking a configuration meant for another process (a pod's downward API).
    pub(crate) fn load_with_env(
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut cfg: Self = crate::config::read_validated(path, |c: &Self| c.validate_with(env))?;
        if let Some(base) = path.parent() {
            cfg.experience.dir = base.join(&cfg.experience.dir);
            for p in [
                &mut cfg.target.kubeconfig,
                &mut cfg.federation.config,
                &mut cfg.twin.store,
            ]
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

    /// Checks every key; the error names it. Defaults that come from the environment are
    /// taken from `env`.
    fn validate_with(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
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
        self.leader_election_with(env)?;
        if let Some(h) = self.twin.retrain_every_h {
            ensure!(
                h.is_finite() && h > 0.0,
                "twin.retrain_every_h must be a positive number of hours, got {h}"
            );
            ensure!(
                self.twin.store.is_some(),
                "twin.retrain_every_h needs twin.store: retraining promotes into it"
            );
        }
        ensure!(
            self.twin.check_every_s >= 1,
            "twin.check_every_s must be at least 1"
        );
        let every = self.twin.recalibrate_every_h;
        ensure!(
            every.is_finite() && every > 0.0,
            "twin.recalibrate_every_h must be a positive number of hours, got {every}"
        );
        ensure!(
            self.twin.retrain_timesteps >= 1,
            "twin.retrain_timesteps must be at least 1"
        );
        ensure!(
            (0..=19).contains(&self.twin.retrain_nice),
            "twin.retrain_nice must be 0 to 19, got {}",
            self.twin.retrain_nice
        );
        ensure!(
            !self.twin.federate_in_twin || self.federation.config.is_some(),
            "twin.federate_in_twin needs federation.config: it changes where the rounds train"
        );
        if self.twin.store.is_some() {
            ensure!(
                self.federation.config.is_none(),
                "twin.store and federation.config cannot both be set: the federation's global models would replace the store's"
            );
            ensure!(
                matches!(self.policy_name()?, PolicyName::Learned(..)),
                "twin.store needs a learned policy.model (dqn, ppo or hybrid): the store holds that learner's models, got `{}`",
                self.policy.model
            );
        }
        Ok(())
    }

    /// The leader election, resolved from the process environment; `None` when off.
    pub(crate) fn leader_election(&self) -> anyhow::Result<Option<LeaderElection>> {
        self.leader_election_with(process_env)
    }

    /// The leader election with defaults taken from `env`; checks every key (also when
    /// off, so a mistake shows before the day it is turned on).
    pub(crate) fn leader_election_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<LeaderElection>> {
        let le = &self.leader_election;
        let lease_s = f64::from(le.lease_duration_s);
        ensure!(
            le.lease_duration_s >= 1,
            "leader_election.lease_duration_s must be at least 1 second, got {}",
            le.lease_duration_s
        );
        ensure!(
            le.renew_deadline_s.is_finite()
                && le.renew_deadline_s > 0.0
                && le.renew_deadline_s < lease_s,
            "leader_election.renew_deadline_s must be positive and shorter than \
             leader_election.lease_duration_s ({lease_s} s), got {}",
            le.renew_deadline_s
        );
        ensure!(
            le.retry_period_s.is_finite() && le.retry_period_s > 0.0,
            "leader_election.retry_period_s must be positive, got {}",
            le.retry_period_s
        );
        ensure!(
            le.retry_period_s < le.renew_deadline_s,
            "leader_election.retry_period_s must be shorter than \
             leader_election.renew_deadline_s ({}), got {}",
            le.renew_deadline_s,
            le.retry_period_s
        );
        if let Some(name) = &le.lease_name {
            ensure!(
                is_dns_subdomain(name),
                "leader_election.lease_name must be a DNS subdomain name (lower-case letters, \
                 digits, '-' and '.', at most 253), got {name:?}"
            );
        }
        if !le.enabled {
            return Ok(None);
        }
        let timeout = self.target.request_timeout_s;
        ensure!(
            le.retry_period_s + timeout < le.renew_deadline_s,
            "leader_election.renew_deadline_s ({}) must exceed leader_election.retry_period_s \
             ({}) plus target.request_timeout_s ({timeout}): the leader may start a write only \
             while a whole request timeout is left of its term, and renews once per retry period",
            le.renew_deadline_s,
            le.retry_period_s
        );
        let namespace = le
            .namespace
            .clone()
            .or_else(|| env("POD_NAMESPACE"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "leader_election.namespace is not set and $POD_NAMESPACE is empty: name the \
                     agent's own namespace, where its Lease lives"
                )
            })?;
        ensure!(
            !namespace.is_empty(),
            "leader_election.namespace must not be empty"
        );
        let identity = le
            .identity
            .clone()
            .or_else(|| env("POD_NAME"))
            .or_else(|| env("HOSTNAME"))
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "leader_election.identity is not set and neither $POD_NAME nor a host \
                     name is available"
                )
            })?;
        ensure!(
            !identity.is_empty(),
            "leader_election.identity must not be empty"
        );
        let lease_name = le
            .lease_name
            .clone()
            .unwrap_or_else(|| format!("edge-agent-{}", self.target.deployment));
        Ok(Some(LeaderElection {
            namespace,
            lease_name,
            election: ElectionConfig {
                identity,
                lease_duration: Duration::from_secs(u64::from(le.lease_duration_s)),
                renew_deadline: Duration::from_secs_f64(le.renew_deadline_s),
                retry_period: Duration::from_secs_f64(le.retry_period_s),
            },
        }))
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

/// A Kubernetes object name of the DNS-subdomain kind (RFC 1123).
fn is_dns_subdomain(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    name.len() <= 253
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
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
        cfg.validate_with(process_env).unwrap();
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
            (
                "[twin]\nretrain_every_h = 6",
                "twin.retrain_every_h needs twin.store",
            ),
            (
                "[twin]\nstore = \"m\"\nretrain_every_h = 0",
                "twin.retrain_every_h must be a positive number",
            ),
            (
                "[twin]\nretrain_nice = 25",
                "twin.retrain_nice must be 0 to 19",
            ),
            (
                "[twin]\nrecalibrate_every_h = 0",
                "twin.recalibrate_every_h must be a positive number",
            ),
            (
                "[twin]\nfederate_in_twin = true",
                "twin.federate_in_twin needs federation.config",
            ),
            (
                "[policy]\nmodel = \"hpa\"\n[twin]\nstore = \"models\"",
                "twin.store needs a learned policy.model",
            ),
            (
                "[policy]\nmodel = \"dqn\"\n[twin]\nstore = \"models\"\n[federation]\nconfig = \"f.toml\"",
                "twin.store and federation.config cannot both be set",
            ),
            ("[observability]\nlisten = \"nowhere\"", "listen"),
            (
                "[leader_election]\nrenew_deadline_s = 15",
                "leader_election.renew_deadline_s must be positive and shorter",
            ),
            (
                "[leader_election]\nretry_period_s = 10",
                "leader_election.retry_period_s must be shorter",
            ),
            (
                "[leader_election]\nlease_name = \"Edge_Agent\"",
                "leader_election.lease_name",
            ),
            (
                "[leader_election]\nlease_duration_s = 0",
                "lease_duration_s",
            ),
            (
                "[leader_election]\nholder = \"me\"",
                "unknown field `holder`",
            ),
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
            "[policy]\nmodel = \"ppo:models/mine\"\n[target]\nkubeconfig = \"kube.yaml\"\n\
             [twin]\nstore = \"store\"\n",
        )
        .unwrap();
        let cfg = RunConfig::load(&path).unwrap();
        assert_eq!(cfg.experience.dir, dir.path().join("experience"));
        assert_eq!(cfg.twin.store, Some(dir.path().join("store")));
        assert_eq!(cfg.target.kubeconfig, Some(dir.path().join("kube.yaml")));
        assert_eq!(
            cfg.policy.model,
            format!("ppo:{}", dir.path().join("models/mine").display())
        );
    }

    #[test]
    fn leader_election_is_off_by_default_and_takes_its_defaults_from_the_pod() {
        let mut cfg = RunConfig::default();
        assert_eq!(cfg.leader_election_with(|_| None).unwrap(), None);
        cfg.leader_election.enabled = true;
        let err = cfg.leader_election_with(|_| None).unwrap_err().to_string();
        assert!(err.contains("leader_election.namespace"), "{err}");

        let pod = |name: &str| match name {
            "POD_NAMESPACE" => Some("rl-system".to_owned()),
            "POD_NAME" => Some("edge-agent-x7k2p".to_owned()),
            "HOSTNAME" => Some("node-1".to_owned()),
            _ => None,
        };
        let le = cfg.leader_election_with(pod).unwrap().unwrap();
        assert_eq!(le.namespace, "rl-system");
        assert_eq!(le.lease_name, "edge-agent-web");
        assert_eq!(le.election.identity, "edge-agent-x7k2p");
        assert_eq!(le.election.lease_duration, Duration::from_secs(15));
        assert_eq!(le.election.renew_deadline, Duration::from_secs(10));
        assert_eq!(le.election.retry_period, Duration::from_secs(2));

        cfg.leader_election.namespace = Some("agents".into());
        cfg.leader_election.identity = Some("a".into());
        cfg.leader_election.lease_name = Some("shop.web".into());
        let le = cfg.leader_election_with(pod).unwrap().unwrap();
        assert_eq!(
            (
                le.namespace.as_str(),
                le.lease_name.as_str(),
                le.election.identity.as_str()
            ),
            ("agents", "shop.web", "a")
        );
    }

    #[test]
    fn a_request_timeout_the_term_cannot_fit_is_refused() {
        let err = chain(
            &load_text("[target]\nrequest_timeout_s = 9\n[leader_election]\nenabled = true\nnamespace = \"rl\"")
                .unwrap_err(),
        );
        assert!(err.contains("target.request_timeout_s (9)"), "{err}");
    }
}
