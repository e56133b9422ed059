//! The autoscaling loop of `edge-agent federate`, on a simulated cluster: the stand-in for
//! the Prometheus and Kubernetes loop until that exists. Each interval the current global
//! model decides, or, while none has arrived yet, the Kubernetes HPA rule does, so the
//! workload is autoscaled from the first second whatever the coordinator is doing.
//!
//! Pure: the caller supplies the model and the pace, so the same rules run in tests
//! without a clock. The traffic is an endless cycle of episodes over the configured
//! scenarios.

use std::sync::Arc;

use common::env::Env;
use common::policy::{Hpa, HpaConfig, Policy};
use common::proto::GlobalModel;
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::episodes::EpisodeCycle;
use common::rl::policy::LearnedPolicy;
use common::scenario::Scenario;

use crate::federation::global_model_policy;
use crate::meter::IntervalMeter;

/// Who decided an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecidedBy {
    /// The global model of this version.
    Model(u64),
    /// The HPA rule: no usable model yet.
    Hpa,
}

/// One interval as the loop logs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    /// Simulated second the interval started, within its episode.
    pub(crate) now_s: u64,
    /// The episode's scenario.
    pub(crate) scenario: String,
    /// Who decided.
    pub(crate) decided_by: DecidedBy,
    /// Replicas asked for and applied.
    pub(crate) replicas: u32,
    /// p95 latency over the interval, seconds.
    pub(crate) p95_s: f64,
}

/// A simulated workload and the policies that may scale it.
#[derive(Debug)]
pub(crate) struct SimulatedCluster {
    algo: Algo,
    cfg: TrainConfig,
    episodes: EpisodeCycle,
    env: Env,
    scenario: String,
    hpa: Hpa,
    /// The policy built from the newest model seen, by version.
    learned: Option<(u64, LearnedPolicy)>,
    meter: IntervalMeter,
}

impl SimulatedCluster {
    /// A cluster playing `scenarios` (seeded by `seed`) under `cfg.env`; models are run as
    /// `algo` networks shaped by `cfg`, the fallback is an HPA configured by `hpa`.
    pub(crate) fn new(
        algo: Algo,
        cfg: TrainConfig,
        scenarios: Vec<Scenario>,
        seed: u64,
        hpa: HpaConfig,
    ) -> Result<Self, common::ConfigError> {
        let mut episodes = EpisodeCycle::new(cfg.env.clone(), scenarios, seed)?;
        let (env, id) = episodes.next_env();
        Ok(Self {
            algo,
            cfg,
            episodes,
            env,
            scenario: id.scenario,
            hpa: Hpa::new(hpa),
            learned: None,
            meter: IntervalMeter::default(),
        })
    }

    /// Runs one decision interval with `model` if there is one, else with the HPA rule.
    ///
    /// The HPA is only asked when it decides: it assumes whatever it returns is applied,
    /// and keeps its rate limits by that, so consulting it while a model decides would
    /// leave it with a history of scale events that never happened.
    pub(crate) fn step(&mut self, model: Option<&Arc<GlobalModel>>) -> Decision {
        let now_s = self.env.view().now_s;
        let learned = model.and_then(|m| policy_for(&mut self.learned, m, self.algo, &self.cfg));
        let (desired, decided_by) = match learned {
            Some((version, policy)) => (
                policy.desired_replicas(&self.env.view()),
                DecidedBy::Model(version),
            ),
            None => (self.hpa.desired_replicas(&self.env.view()), DecidedBy::Hpa),
        };
        let step = self.env.step_to(desired);
        self.meter.record(&step);
        let decision = Decision {
            now_s,
            scenario: self.scenario.clone(),
            decided_by,
            replicas: step.applied_replicas,
            p95_s: step.outcome.counters.p95_s(),
        };
        if step.done {
            let (env, id) = self.episodes.next_env();
            self.env = env;
            self.scenario = id.scenario;
            self.hpa.reset();
        }
        decision
    }

    /// The tally since the last [`take_meter`](Self::take_meter), restarted.
    pub(crate) fn take_meter(&mut self) -> IntervalMeter {
        std::mem::take(&mut self.meter)
    }

    /// The environment configuration (for pricing the meter).
    pub(crate) fn config(&self) -> &TrainConfig {
        &self.cfg
    }
}

/// The learned policy for `model`, built on first sight of its version. A model that
/// cannot run here (the client refuses those, so only by misuse) leaves the HPA in charge.
fn policy_for<'a>(
    learned: &'a mut Option<(u64, LearnedPolicy)>,
    model: &GlobalModel,
    algo: Algo,
    cfg: &TrainConfig,
) -> Option<(u64, &'a mut LearnedPolicy)> {
    if learned.as_ref().is_none_or(|(v, _)| *v != model.version) {
        match global_model_policy(model, algo, cfg) {
            Ok(policy) => {
                tracing::info!(version = model.version, "autoscaling with global model");
                *learned = Some((model.version, policy));
            }
            Err(e) => {
                tracing::error!("{e}; the HPA rule keeps deciding");
                return None;
            }
        }
    }
    learned.as_mut().map(|(v, p)| (*v, p))
}

#[cfg(test)]
mod tests {
    use common::rl::fleet_model::{architecture, fresh_weights};
    use common::scenario::{ScenarioOptions, ScenarioSpec};

    use super::*;

    fn setup() -> (TrainConfig, Vec<Scenario>) {
        let mut cfg = TrainConfig::default();
        cfg.dqn.hidden = vec![8];
        cfg.dqn.dropout = vec![0.0];
        let spec: ScenarioSpec = "sudden_spike".parse().unwrap();
        let scenario = Scenario::build(&spec, &ScenarioOptions::default(), &cfg.env.sim).unwrap();
        (cfg, vec![scenario])
    }

    fn model(cfg: &TrainConfig, version: u64, seed: u64) -> Arc<GlobalModel> {
        Arc::new(GlobalModel {
            version,
            architecture: architecture(Algo::Dqn, cfg),
            weights: fresh_weights(Algo::Dqn, cfg, seed),
            tags: Vec::new(),
        })
    }

    #[test]
    fn without_a_model_the_hpa_scales_exactly_as_on_its_own() {
        let (cfg, scenarios) = setup();
        let mut cluster = SimulatedCluster::new(
            Algo::Dqn,
            cfg.clone(),
            scenarios.clone(),
            3,
            HpaConfig::default(),
        )
        .unwrap();
        let mut episodes = EpisodeCycle::new(cfg.env.clone(), scenarios, 3).unwrap();
        let (mut env, _) = episodes.next_env();
        let mut hpa = Hpa::new(HpaConfig::default());
        let mut changes = 0;
        let mut last = env.sim().spec_replicas();
        for _ in 0..200 {
            let d = cluster.step(None);
            let step = env.step_to(hpa.desired_replicas(&env.view()));
            assert_eq!(d.decided_by, DecidedBy::Hpa);
            assert_eq!(d.replicas, step.applied_replicas);
            changes += u32::from(step.applied_replicas != last);
            last = step.applied_replicas;
        }
        assert!(
            changes > 0,
            "the HPA never scaled; the comparison proves nothing"
        );
        assert_eq!(cluster.take_meter().intervals(), 200);
        assert_eq!(cluster.take_meter().intervals(), 0);
    }

    #[test]
    fn a_model_takes_over_and_a_new_version_replaces_it() {
        let (cfg, scenarios) = setup();
        let mut cluster =
            SimulatedCluster::new(Algo::Dqn, cfg.clone(), scenarios, 3, HpaConfig::default())
                .unwrap();
        assert_eq!(cluster.step(None).decided_by, DecidedBy::Hpa);
        let v1 = model(&cfg, 1, 1);
        let expected = global_model_policy(&v1, Algo::Dqn, &cfg).unwrap();
        for _ in 0..20 {
            let wanted = cfg.env.actions.apply(
                expected.action(cluster.env.observation()),
                cluster.env.sim().spec_replicas(),
            );
            let d = cluster.step(Some(&v1));
            assert_eq!(d.decided_by, DecidedBy::Model(1));
            let bounds = &cfg.env.sim.replicas;
            assert_eq!(d.replicas, wanted.clamp(bounds.min, bounds.max));
        }
        let v2 = model(&cfg, 2, 2);
        assert_eq!(cluster.step(Some(&v2)).decided_by, DecidedBy::Model(2));
    }

    #[test]
    fn episodes_follow_one_another_without_end() {
        let (mut cfg, scenarios) = setup();
        cfg.env.sim.decision_interval_s = 60;
        let mut cluster =
            SimulatedCluster::new(Algo::Dqn, cfg, scenarios, 0, HpaConfig::default()).unwrap();
        let mut restarts = 0;
        let mut last = 0;
        for _ in 0..500 {
            let d = cluster.step(None);
            restarts += u32::from(d.now_s < last);
            last = d.now_s;
        }
        assert!(restarts >= 1, "no second episode in 500 intervals");
    }
}
