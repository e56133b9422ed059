//! One control interval's decision, pure.

use common::env::{Observation, ObservationBuilder};
use common::policy::{ClusterView, ObservedMetrics, PodView, Policy};
use common::rl::policy::LearnedPolicy;
use common::sim::SimConfig;

use super::startups::StartupTracker;
use crate::experience::{MetricsRecord, Transition};
use crate::safety::breaker::BreakerState;
use crate::safety::decision::SafetyDecision;
use crate::safety::envelope::TrainingEnvelope;
use crate::safety::layer::{Proposal, SafetyLayer};

/// Who proposes replica counts.
pub(crate) enum Decider {
    /// A learned model, with the version it came as (0 when local or built in) and the
    /// temperature its DQN confidence is read at.
    Learned {
        policy: Box<LearnedPolicy>,
        version: u64,
        dqn_temperature: f64,
    },
    /// A baseline rule (the HPA), trusted without a confidence.
    Baseline(Box<dyn Policy + Send>),
}

impl std::fmt::Debug for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Learned {
                policy, version, ..
            } => write!(f, "Learned({} v{version})", policy.name()),
            Self::Baseline(p) => write!(f, "Baseline({})", p.name()),
        }
    }
}

/// What the cluster looked like at a decision, as the shell read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading<'a> {
    /// Unix second of the decision.
    pub(crate) now_s: u64,
    /// The metrics read, or why there are none.
    pub(crate) metrics: Result<&'a ObservedMetrics, &'a str>,
    /// `spec.replicas`.
    pub(crate) spec_replicas: u32,
    /// The Deployment's pods.
    pub(crate) pods: &'a [PodView],
}

/// The decision and the transition that records it; the shell fills in `applied` once the
/// write's outcome is known.
#[derive(Debug, Clone)]
pub(crate) struct StepOutcome {
    pub(crate) decision: SafetyDecision,
    pub(crate) transition: Transition,
}

/// The decision half of the loop: observation builder, decider and safety layer.
#[derive(Debug)]
pub(crate) struct ControlStep {
    /// The workload model observations are normalised by: the one the policy trained with.
    sim: SimConfig,
    builder: ObservationBuilder,
    decider: Decider,
    safety: SafetyLayer,
    /// Whether a metrics read has ever succeeded.
    metrics_seen: bool,
    /// The ready pods of the previous decision, to tell which became ready since.
    startups: StartupTracker,
}

impl ControlStep {
    /// A step normalising observations by `sim`, proposing with `decider`, checked by
    /// `safety`.
    pub(crate) fn new(sim: SimConfig, decider: Decider, safety: SafetyLayer) -> Self {
        Self {
            builder: ObservationBuilder::new(&sim),
            sim,
            decider,
            safety,
            metrics_seen: false,
            startups: StartupTracker::default(),
        }
    }

    /// Whether the actuator's and the metrics' breakers hold writes back at `now_s`.
    pub(crate) fn breakers_open(&self, now_s: u64) -> (bool, bool) {
        let open = |s: BreakerState| !matches!(s, BreakerState::Closed);
        (
            open(self.safety.actuator_breaker(now_s)),
            open(self.safety.metrics_breaker(now_s)),
        )
    }

    /// The version of the model deciding; 0 for a local model or a baseline.
    pub(crate) fn model_version(&self) -> u64 {
        match &self.decider {
            Decider::Learned { version, .. } => *version,
            Decider::Baseline(_) => 0,
        }
    }

    /// The learned policy deciding; `None` while the HPA rule does.
    pub(crate) fn learned_policy(&self) -> Option<&LearnedPolicy> {
        match &self.decider {
            Decider::Learned { policy, .. } => Some(policy),
            Decider::Baseline(_) => None,
        }
    }

    /// Normalises observations by `sim` from the next decision on: a model trained in a
    /// calibrated twin reads request rates against the twin's pod capacity, as it learned
    /// to. The metrics history behind the mean and max entries is kept.
    pub(crate) fn normalise_by(&mut self, sim: SimConfig) {
        self.sim = sim;
    }

    /// Hands decisions to `policy`, the global model of `version`, with its training
    /// envelope (`None` switches the out-of-distribution check off).
    pub(crate) fn adopt(
        &mut self,
        policy: LearnedPolicy,
        version: u64,
        envelope: Option<TrainingEnvelope>,
    ) {
        let dqn_temperature = match &self.decider {
            Decider::Learned {
                dqn_temperature, ..
            } => *dqn_temperature,
            Decider::Baseline(_) => common::rl::policy::DEFAULT_DQN_CONFIDENCE_TEMPERATURE,
        };
        self.decider = Decider::Learned {
            policy: Box::new(policy),
            version,
            dqn_temperature,
        };
        self.safety.set_envelope(envelope);
    }

    /// Decides for `reading`. A failed metrics read leaves the observation without
    /// metrics, which the layer answers with the HPA rule, and counts towards the metrics
    /// breaker once a read has ever succeeded. Before that, failures are what a fresh
    /// deployment sees while Prometheus gathers its first `rate()` window; counting them
    /// would open the breaker and hold every write for its open duration just as the
    /// metrics arrive, while without metrics the HPA rule holds anyway.
    pub(crate) fn decide(&mut self, reading: Reading<'_>) -> StepOutcome {
        let metrics = match reading.metrics {
            Ok(m) => {
                self.metrics_seen = true;
                self.safety.record_metrics(reading.now_s, Ok(()));
                Some(m)
            }
            Err(e) => {
                if self.metrics_seen {
                    self.safety.record_metrics(reading.now_s, Err(e.to_owned()));
                }
                None
            }
        };
        let observation: Observation = self.builder.push(&self.sim, metrics, reading.spec_replicas);
        let config = self.safety.config();
        let view = ClusterView {
            now_s: reading.now_s,
            spec_replicas: reading.spec_replicas,
            min_replicas: config.min_replicas,
            max_replicas: config.max_replicas,
            pods: reading.pods,
            metrics,
            observation: &observation,
        };
        let (proposal, action) = match &mut self.decider {
            Decider::Learned {
                policy,
                dqn_temperature,
                ..
            } => {
                let act = policy.act(&view, *dqn_temperature);
                (
                    Proposal::new(act.replicas).with_confidence(act.confidence),
                    u32::try_from(act.action).ok(),
                )
            }
            Decider::Baseline(policy) => (Proposal::new(policy.desired_replicas(&view)), None),
        };
        let decision = self.safety.decide(&view, proposal);
        let pod_startups_s = self.startups.observe(reading.pods);
        let transition = Transition {
            at_s: reading.now_s,
            observation: observation.0,
            metrics: metrics.map(MetricsRecord::from),
            replicas_before: reading.spec_replicas,
            action,
            proposed: decision.proposed,
            decided: decision.replicas,
            applied: false,
            fallback: decision.fallback().map(|k| k.as_str().to_owned()),
            pod_startups_s,
        };
        StepOutcome {
            decision,
            transition,
        }
    }

    /// Reports that the write the last decision asked for was withheld (this agent stands
    /// by while another leads).
    pub(crate) fn withheld(&mut self) {
        self.safety.record_withheld();
    }

    /// Reports the outcome of the write the last decision asked for.
    pub(crate) fn actuated(&mut self, now_s: u64, outcome: Result<(), String>) {
        self.safety.record_actuation(now_s, outcome);
    }
}

#[cfg(test)]
mod tests {
    use common::env::{EnvConfig, OBSERVATION_LEN};
    use common::policy::Hpa;
    use common::rl::artifact::Algo;
    use common::rl::defaults;
    use common::sim::Simulator;
    use common::traffic::ArrivalSeries;

    use super::*;
    use crate::safety::config::SafetyConfig;
    use crate::safety::decision::OverrideKind;

    fn shipped(algo: Algo) -> Decider {
        Decider::Learned {
            policy: Box::new(LearnedPolicy::new(
                algo.name(),
                defaults::load(algo).unwrap(),
            )),
            version: 0,
            dqn_temperature: common::rl::policy::DEFAULT_DQN_CONFIDENCE_TEMPERATURE,
        }
    }

    /// Runs `step` over a simulated cluster whose load ramps from `from_rps` to `to_rps`
    /// over `intervals`, applying every write; `metrics_ok(i)` decides whether interval
    /// i's read succeeds.
    fn drive(
        step: &mut ControlStep,
        (from_rps, to_rps): (f32, f32),
        intervals: usize,
        metrics_ok: impl Fn(usize) -> bool,
    ) -> Vec<StepOutcome> {
        let cfg = EnvConfig::default();
        let seconds = intervals * 15 + 60;
        let ramp = (0..seconds)
            .map(|t| from_rps + (to_rps - from_rps) * t as f32 / seconds as f32)
            .collect();
        let mut cluster =
            Simulator::new(cfg.sim.clone(), ArrivalSeries::new("ramp", ramp), 7).unwrap();
        let mut out = Vec::new();
        for i in 0..intervals {
            let now_s = 1_000_000 + cluster.now_s();
            let observed = cluster.observed().copied().map(|mut m| {
                m.timestamp_s += 1_000_000;
                m
            });
            let metrics = match (&observed, metrics_ok(i)) {
                (Some(m), true) => Ok(m),
                (None, true) => Err("no scrape yet"),
                (_, false) => Err("query `request_rate` failed: connection refused"),
            };
            let pods = cluster.pods().to_vec();
            let outcome = step.decide(Reading {
                now_s,
                metrics,
                spec_replicas: cluster.spec_replicas(),
                pods: &pods,
            });
            if outcome.decision.apply {
                cluster.scale_to(outcome.decision.replicas);
                step.actuated(now_s, Ok(()));
            }
            cluster.step_interval();
            out.push(outcome);
        }
        out
    }

    #[test]
    fn a_learned_policy_decides_with_a_confidence_and_its_action_is_recorded() {
        let mut step = ControlStep::new(
            EnvConfig::default().sim,
            shipped(Algo::Dqn),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        // Steady load settles where holding and stepping down are near ties (the HPA rule
        // then decides: low confidence); a ramp keeps the DQN sure of scaling up.
        let run = drive(&mut step, (100.0, 1_500.0), 80, |_| true);
        let learned: Vec<_> = run
            .iter()
            .filter(|o| o.decision.fallback().is_none())
            .collect();
        let reasons: Vec<_> = run
            .iter()
            .map(|o| o.decision.overrides.first().map(|x| x.to_string()))
            .collect();
        assert!(
            learned.len() > 20,
            "the policy decided only {} of 80: {reasons:?}",
            learned.len()
        );
        assert!(learned.iter().all(|o| o.transition.action.is_some()));
        assert!(
            run.iter().any(|o| o.decision.replicas > 2),
            "900 req/s never scaled up"
        );
        for o in &run {
            assert_eq!(o.transition.decided, o.decision.replicas);
            assert_eq!(o.transition.observation.len(), OBSERVATION_LEN);
        }
    }

    #[test]
    fn an_adopted_global_model_decides_and_reports_its_version() {
        let mut step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        let before = drive(&mut step, (100.0, 1_500.0), 10, |_| true);
        assert!(before.iter().all(|o| o.transition.action.is_none()));
        let model = defaults::load(Algo::Dqn).unwrap();
        step.adopt(LearnedPolicy::new("global-v7", model), 7, None);
        assert_eq!(step.model_version(), 7);
        let after = drive(&mut step, (100.0, 1_500.0), 40, |_| true);
        assert!(
            after.iter().any(|o| o.transition.action.is_some()),
            "the adopted model never proposed"
        );
    }

    #[test]
    fn reads_failing_before_the_first_success_do_not_open_the_breaker() {
        let mut config = SafetyConfig::default();
        // Longer than the run: a breaker opened at start-up would still be open at its end.
        config.breaker.open_duration_s = 1_000;
        let mut step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(config).unwrap(),
        );
        // Ten failed reads at start-up, then metrics under a ramp: the first write goes
        // through instead of waiting out an open breaker.
        let run = drive(&mut step, (300.0, 1_500.0), 40, |i| i >= 10);
        assert!(run[..10].iter().all(|o| !o.decision.apply));
        assert_eq!(step.breakers_open(2_000_000), (false, false));
        assert!(
            run[10..]
                .iter()
                .all(|o| !o.decision.has(OverrideKind::CircuitOpen)),
            "a start-up failure opened the breaker"
        );
        assert!(run[10..].iter().any(|o| o.decision.apply), "never scaled");
    }

    #[test]
    fn failed_reads_hand_over_to_the_hpa_and_open_the_metrics_breaker() {
        let mut step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        let run = drive(&mut step, (300.0, 300.0), 40, |i| !(20..30).contains(&i));
        for o in &run[21..30] {
            assert_eq!(o.decision.fallback(), Some(OverrideKind::MetricsMissing));
            assert_eq!(o.transition.fallback.as_deref(), Some("metrics_missing"));
            assert!(o.transition.metrics.is_none());
        }
        // Three failures open the breaker: from then on nothing is written.
        assert!(run[23..30].iter().all(|o| !o.decision.apply));
        assert!(
            run[23..30]
                .iter()
                .all(|o| o.decision.replicas == o.transition.replicas_before)
        );
        assert_eq!(step.model_version(), 0);
    }
}
