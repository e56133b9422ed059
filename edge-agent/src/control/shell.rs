//! The async shell around [`ControlStep`]: every interval it reads the metrics and the
//! Deployment (concurrently), lets the step decide, writes what the safety layer allows
//! (if this agent leads, when leader election is on), records the transition on disk, and
//! reports all of it as metrics and logs. Nothing here decides anything; a failure of one
//! interval is logged and counted, and the next interval starts on time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::rl::policy::LearnedPolicy;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::envelope::{replay_envelope, replay_policy_envelope};
use super::global_models::{GlobalModels, Next, TwinUpdate};
use super::step::{ControlStep, Reading};
use super::store_models::StoreModels;
use crate::actuator::Actuator;
use crate::experience::Recorder;
use crate::leader::gate::LeaderGate;
use crate::metrics::MetricsSource;
use crate::observe::server::Observed;

/// Unix seconds now.
pub(crate) fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What one interval did, for tests and the exit summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Intervals that reached a decision.
    pub(crate) decisions: u64,
    /// Writes the API confirmed.
    pub(crate) writes: u64,
    /// Intervals without a decision because the Deployment could not be read.
    pub(crate) unread: u64,
    /// Writes not made because another agent led.
    pub(crate) withheld: u64,
}

/// The loop and everything it drives.
#[derive(Debug)]
pub(crate) struct ControlLoop<M, A> {
    step: ControlStep,
    metrics: M,
    actuator: A,
    experience: Recorder,
    observed: Observed,
    interval: Duration,
    tally: Tally,
    global: Option<GlobalModels>,
    /// Recalibrations of the twin the federation trains in.
    twin: Option<watch::Receiver<Option<Arc<TwinUpdate>>>>,
    /// The model store `retrain` promotes into, when configured.
    store: Option<StoreModels>,
    /// `None` when this agent is the only one and always writes.
    leader: Option<LeaderGate>,
}

impl<M: MetricsSource, A: Actuator> ControlLoop<M, A> {
    /// A loop deciding with `step` every `interval`.
    pub(crate) fn new(
        step: ControlStep,
        metrics: M,
        actuator: A,
        experience: Recorder,
        observed: Observed,
        interval: Duration,
    ) -> Self {
        observed.metrics.set_model_version(step.model_version());
        Self {
            step,
            metrics,
            actuator,
            experience,
            observed,
            interval,
            tally: Tally::default(),
            global: None,
            twin: None,
            store: None,
            leader: None,
        }
    }

    /// Writes only while `gate` says this agent leads; otherwise it decides and records as
    /// usual, so it can take over with a warm model and history.
    pub(crate) fn with_leader_gate(mut self, gate: LeaderGate) -> Self {
        self.leader = Some(gate);
        self
    }

    /// Normalises observations by `sim` (see [`ControlStep::normalise_by`]).
    pub(crate) fn normalised_by(mut self, sim: common::sim::SimConfig) -> Self {
        self.step.normalise_by(sim);
        self
    }

    /// Decides with the store's `current` model, looking before every interval.
    pub(crate) fn with_model_store(mut self, store: StoreModels) -> Self {
        self.store = Some(store);
        self
    }

    /// Switches to the store's `current` model when it moved (a promotion or a rollback).
    fn adopt_store_model(&mut self) {
        let Some(store) = &mut self.store else {
            return;
        };
        match store.new_verdicts() {
            Ok((verdicts, skipped)) => {
                if skipped > 0 {
                    warn!(
                        lines = skipped,
                        "skipped damaged lines of the model store's decision log"
                    );
                }
                for v in verdicts {
                    self.observed.metrics.twin_verdict(
                        v.promoted,
                        v.candidate.cost / v.current.cost,
                        v.at_s,
                    );
                    info!(
                        promoted = v.promoted,
                        version = v.version.as_deref().unwrap_or(""),
                        at_s = v.at_s,
                        reason = %v.reason,
                        "promotion gate verdict"
                    );
                }
            }
            Err(e) => warn!(error = %e, "cannot read the model store's decision log"),
        }
        match store.poll() {
            None => {}
            Some(Ok(switch)) => {
                let envelope = replay_envelope(&switch.model)
                    .map_err(|why| warn!("no training envelope for the store's model: {why}"))
                    .ok();
                self.step.normalise_by(switch.model.config.env.sim.clone());
                let policy = LearnedPolicy::new(switch.label.clone(), switch.model);
                self.step.adopt(policy, switch.version, envelope);
                self.observed.metrics.set_model_version(switch.version);
                info!(
                    model = %switch.label,
                    version = switch.version,
                    "now deciding with the model store's current model"
                );
            }
            Some(Err(why)) => {
                warn!(error = %why, "cannot run the model store's current model; keeping the policy in service");
            }
        }
    }

    /// Adopts every newer global model `global` delivers before the interval that follows.
    pub(crate) fn with_global_models(mut self, global: GlobalModels) -> Self {
        self.global = Some(global);
        self
    }

    /// Follows `twin`'s recalibrations: observations normalised, and global models judged,
    /// in the newest twin from the next interval on.
    pub(crate) fn with_twin_updates(
        mut self,
        twin: watch::Receiver<Option<Arc<TwinUpdate>>>,
    ) -> Self {
        self.twin = Some(twin);
        self
    }

    fn follow_twin(&mut self) {
        let Some(twin) = &mut self.twin else {
            return;
        };
        if !twin.has_changed().unwrap_or(false) {
            return;
        }
        let Some(update) = twin.borrow_and_update().clone() else {
            return;
        };
        self.step.normalise_by(update.sim.clone());
        if let Some(g) = &mut self.global {
            g.retwin(&update);
        }
        info!(
            capacity_rps = update.sim.pod.capacity_rps,
            gated = update.gate.is_some(),
            "observations now normalised by the recalibrated twin"
        );
    }

    /// Switches to the newest global model if it is newer than the one deciding and (with
    /// a gate) the gate found it better.
    fn adopt_newer_model(&mut self, now_s: u64) {
        let Some(g) = &mut self.global else {
            return;
        };
        let step = &self.step;
        let Some(next) = g.poll(step.model_version(), || step.learned_policy().cloned()) else {
            return;
        };
        let m = &self.observed.metrics;
        match next {
            Next::Adopt {
                policy,
                version,
                verdict,
            } => {
                let envelope = replay_policy_envelope(&policy, g.config())
                    .map_err(|why| warn!("no training envelope for the global model: {why}"))
                    .ok();
                self.step.adopt(*policy, version, envelope);
                m.set_model_version(version);
                match verdict {
                    Some(v) => {
                        m.twin_verdict(true, v.candidate.cost / v.current.cost, now_s);
                        info!(version, reason = %v.reason, "now deciding with the global model, which the gate found better");
                    }
                    None => info!(version, "now deciding with the global model"),
                }
            }
            Next::Kept { version, verdict } => {
                m.twin_verdict(false, verdict.candidate.cost / verdict.current.cost, now_s);
                info!(version, reason = %verdict.reason, "the gate kept the global model out of service");
            }
            Next::Refused { version, why } => {
                warn!(version, error = %why, "cannot run the global model; keeping the current policy");
            }
        }
    }

    /// Runs intervals until `shutdown` resolves. A step under way when it does is finished
    /// (its write made or not, its transition on disk) before the loop returns.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) -> Tally {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            self.interval_once(unix_now_s()).await;
        }
        info!(
            decisions = self.tally.decisions,
            writes = self.tally.writes,
            withheld = self.tally.withheld,
            transitions = self.experience.len(),
            "control loop stopped"
        );
        self.tally
    }

    /// One interval at `now_s`.
    pub(crate) async fn interval_once(&mut self, now_s: u64) {
        self.follow_twin();
        self.adopt_newer_model(now_s);
        self.adopt_store_model();
        let (read, state) = tokio::join!(self.metrics.read(now_s), self.actuator.state());
        let m = &self.observed.metrics;
        let state = match state {
            Ok(s) => s,
            Err(e) => {
                // Without spec.replicas there is nothing to decide from. It counts towards
                // the actuator breaker like a failed write: the API is what is failing.
                error!(error = %e, "cannot read the Deployment; no decision this interval");
                m.actuator_failed();
                self.step.actuated(now_s, Err(e.to_string()));
                self.tally.unread += 1;
                let (actuator_open, metrics_open) = self.step.breakers_open(now_s);
                m.set_breakers(actuator_open, metrics_open);
                self.observed.health.step_finished(now_s);
                return;
            }
        };
        let read_error = read.as_ref().err().map(ToString::to_string);
        if let Some(e) = &read_error {
            warn!(error = %e, "metrics unavailable; the HPA rule decides this interval");
            m.metrics_failed();
        }
        let metrics = match (&read, &read_error) {
            (Ok(metrics), _) => Ok(metrics),
            (Err(_), Some(text)) => Err(text.as_str()),
            (Err(_), None) => Err("metrics unavailable"),
        };
        if let Ok(metrics) = metrics {
            m.set_latency_p95(metrics.p95_latency_s);
        }
        m.set_replicas(state.spec_replicas);

        let started = Instant::now();
        let mut outcome = self.step.decide(Reading {
            now_s,
            metrics,
            spec_replicas: state.spec_replicas,
            pods: &state.pods,
        });
        let decision = &outcome.decision;
        m.decided(
            decision.current,
            decision.replicas,
            started.elapsed().as_secs_f64(),
        );
        for o in &decision.overrides {
            m.overridden(o.kind);
            info!(reason = o.kind.as_str(), "{}", o.detail);
        }
        self.tally.decisions += 1;

        // Checked here, after the decision and right before the write, with nothing
        // awaited in between: the term it checks must still cover the whole write.
        let standing_by = decision.apply && self.leader.as_ref().is_some_and(|g| !g.may_write());
        if standing_by {
            self.step.withheld();
            m.standby_withheld();
            self.tally.withheld += 1;
            debug!(
                from = decision.current,
                to = decision.replicas,
                "standing by: another agent leads, nothing written"
            );
        } else if decision.apply {
            let (from, to) = (decision.current, decision.replicas);
            match self.actuator.scale(to).await {
                Ok(()) => {
                    self.step.actuated(now_s, Ok(()));
                    m.scaled(to);
                    outcome.transition.applied = true;
                    self.tally.writes += 1;
                    info!(from, to, "scaled");
                }
                Err(e) => {
                    self.step.actuated(now_s, Err(e.to_string()));
                    m.actuator_failed();
                    error!(from, to, error = %e, "scaling failed");
                }
            }
        }
        if let Err(e) = self.experience.append(&outcome.transition) {
            // Losing a transition is bad; stopping to autoscale over it would be worse.
            // The error names the file and says "disk full" when that is the cause.
            m.experience_failed();
            error!(
                dir = %self.experience.dir().display(),
                error = %e,
                "cannot record the transition; autoscaling goes on"
            );
        }
        let (actuator_open, metrics_open) = self.step.breakers_open(now_s);
        m.set_breakers(actuator_open, metrics_open);
        self.observed.health.step_finished(now_s);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::env::EnvConfig;
    use common::policy::Hpa;
    use common::proto::GlobalModel;
    use common::rl::artifact::{Algo, TrainConfig, TrainedNetwork};
    use common::rl::fleet_model::{architecture, fresh_weights};
    use common::rl::params::flatten;
    use common::rl::policy::LearnedPolicy;
    use common::sim::Simulator;
    use common::traffic::ArrivalSeries;
    use tokio::sync::watch;

    use super::*;
    use crate::actuator::SimulatedActuator;
    use crate::control::global_models::TwinUpdate;
    use crate::control::step::Decider;
    use crate::experience::Retention;
    use crate::metrics::SimulatedSource;
    use crate::observe::health::Health;
    use crate::observe::metrics::AgentMetrics;
    use crate::safety::config::SafetyConfig;
    use crate::safety::layer::SafetyLayer;
    use crate::twin::global_gate::GlobalGate;
    use crate::twin::test_support::{constant_model, small_config};

    fn simulator() -> Simulator {
        let series = ArrivalSeries::new("flat", vec![300.0; 3_600]);
        let mut sim = Simulator::new(EnvConfig::default().sim, series, 1).unwrap();
        sim.step_interval();
        sim.step_interval();
        sim
    }

    #[tokio::test]
    async fn newer_global_models_take_over_and_a_broken_one_is_refused() {
        let mut cfg = TrainConfig::default();
        cfg.dqn.hidden = vec![8, 8];
        cfg.dqn.dropout = vec![0.0, 0.0];
        let model = |version: u64| GlobalModel {
            version,
            architecture: architecture(Algo::Dqn, &cfg),
            weights: fresh_weights(Algo::Dqn, &cfg, version),
            tags: Vec::new(),
        };
        let (publish, models) = watch::channel(None);
        let dir = tempfile::tempdir().unwrap();
        let log = Recorder::open(dir.path(), Retention::default()).unwrap();
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(0, 60)),
        };
        let step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        let mut control = ControlLoop::new(
            step,
            SimulatedSource::new(simulator()),
            SimulatedActuator::new(simulator()),
            log,
            observed.clone(),
            Duration::from_secs(15),
        )
        .with_global_models(GlobalModels::new(models, Algo::Dqn, cfg.clone()));

        control.interval_once(1_000).await;
        assert_eq!(control.step.model_version(), 0);

        publish.send_replace(Some(Arc::new(model(3))));
        control.interval_once(1_015).await;
        assert_eq!(control.step.model_version(), 3);
        assert!(
            observed
                .metrics
                .encode()
                .contains("\nrl_agent_model_version 3\n")
        );

        let mut broken = model(4);
        broken.weights.pop();
        publish.send_replace(Some(Arc::new(broken)));
        control.interval_once(1_030).await;
        assert_eq!(control.step.model_version(), 3, "kept the last good model");
        assert_eq!(control.experience.len(), 3);
        assert_eq!(control.tally.decisions, 3);
    }

    #[tokio::test]
    async fn a_gated_global_model_serves_only_once_the_gate_finds_it_better() {
        const HOLD: usize = 1;
        const MORE: usize = 2;
        let cfg = small_config();
        let global = |version: u64, action: usize| {
            let TrainedNetwork::Dqn(net) = constant_model(action).network else {
                unreachable!("constant models are DQNs")
            };
            GlobalModel {
                version,
                architecture: architecture(Algo::Dqn, &cfg),
                weights: flatten(&net),
                tags: Vec::new(),
            }
        };
        // Two pods serve the held-back 140 req/s; a policy that keeps adding pods is dearer.
        let gate = GlobalGate::new(
            EnvConfig::default(),
            ArrivalSeries::new("recorded-held-back", vec![140.0; 1800]),
            vec![1, 2],
        );
        let (publish, models) = watch::channel(None);
        let dir = tempfile::tempdir().unwrap();
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(0, 60)),
        };
        let mut step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        step.adopt(
            LearnedPolicy::new("in-service", constant_model(MORE)),
            1,
            None,
        );
        let mut control = ControlLoop::new(
            step,
            SimulatedSource::new(simulator()),
            SimulatedActuator::new(simulator()),
            Recorder::open(dir.path(), Retention::default()).unwrap(),
            observed.clone(),
            Duration::from_secs(15),
        )
        .with_global_models(GlobalModels::new(models, Algo::Dqn, cfg.clone()).gated_by(gate));
        let verdicts = |outcome: &str| {
            let text = observed.metrics.encode();
            let key = format!("rl_agent_twin_verdicts_total{{outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(key.as_str()))
                .map_or(0.0, |v| v.parse::<f64>().unwrap())
        };
        let mut now_s = 1_000;
        // Intervals until the condition holds, a little apart so the gate's thread runs.
        macro_rules! run_until {
            ($done:expr) => {{
                let mut ok = false;
                for _ in 0..400 {
                    control.interval_once(now_s).await;
                    now_s += 15;
                    if $done {
                        ok = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                assert!(ok, "no verdict within 400 intervals");
            }};
        }

        // Better (as cheap as two pods, as good for the users): served once judged, not before.
        publish.send_replace(Some(Arc::new(global(2, HOLD))));
        control.interval_once(now_s).await;
        now_s += 15;
        assert_eq!(
            control.step.model_version(),
            1,
            "not served before the verdict"
        );
        run_until!(control.step.model_version() == 2);
        assert_eq!(verdicts("promoted"), 1.0);
        assert!(
            observed
                .metrics
                .encode()
                .contains("\nrl_agent_model_version 2\n")
        );

        // Worse: kept out, the model in service keeps deciding, and it is judged once.
        publish.send_replace(Some(Arc::new(global(3, MORE))));
        run_until!(verdicts("kept") == 1.0);
        assert_eq!(control.step.model_version(), 2);
        for _ in 0..3 {
            control.interval_once(now_s).await;
            now_s += 15;
        }
        assert_eq!(control.step.model_version(), 2);
        assert_eq!((verdicts("promoted"), verdicts("kept")), (1.0, 1.0));
    }

    #[tokio::test]
    async fn a_recalibrated_twin_brings_its_gate_to_the_next_global_model() {
        const HOLD: usize = 1;
        const MORE: usize = 2;
        let cfg = small_config();
        let global = |version: u64, action: usize| {
            let TrainedNetwork::Dqn(net) = constant_model(action).network else {
                unreachable!("constant models are DQNs")
            };
            GlobalModel {
                version,
                architecture: architecture(Algo::Dqn, &cfg),
                weights: flatten(&net),
                tags: Vec::new(),
            }
        };
        let (publish, models) = watch::channel(None);
        let (recalibrate, twin) = watch::channel(None);
        let dir = tempfile::tempdir().unwrap();
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(0, 60)),
        };
        let step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        let mut control = ControlLoop::new(
            step,
            SimulatedSource::new(simulator()),
            SimulatedActuator::new(simulator()),
            Recorder::open(dir.path(), Retention::default()).unwrap(),
            observed.clone(),
            Duration::from_secs(15),
        )
        .with_global_models(GlobalModels::new(models, Algo::Dqn, cfg.clone()))
        .with_twin_updates(twin);

        // No twin yet: served as it comes.
        publish.send_replace(Some(Arc::new(global(2, HOLD))));
        control.interval_once(1_000).await;
        assert_eq!(control.step.model_version(), 2);

        // The twin is built: from now on global models pass its gate first.
        recalibrate.send_replace(Some(Arc::new(TwinUpdate {
            sim: EnvConfig::default().sim,
            gate: Some(GlobalGate::new(
                EnvConfig::default(),
                ArrivalSeries::new("recorded-held-back", vec![140.0; 1800]),
                vec![1],
            )),
        })));
        publish.send_replace(Some(Arc::new(global(3, MORE))));
        let mut now_s = 1_015;
        let kept = "rl_agent_twin_verdicts_total{outcome=\"kept\"} 1";
        for _ in 0..400 {
            control.interval_once(now_s).await;
            now_s += 15;
            if observed.metrics.encode().contains(kept) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(observed.metrics.encode().contains(kept));
        assert_eq!(
            control.step.model_version(),
            2,
            "the worse model was kept out"
        );
    }

    #[tokio::test]
    async fn a_standby_agent_decides_but_writes_only_once_it_leads() {
        let dir = tempfile::tempdir().unwrap();
        let log = Recorder::open(dir.path(), Retention::default()).unwrap();
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(0, 60)),
        };
        // Bounds far above the simulator's count: every decision asks for a write.
        let safety = SafetyConfig {
            min_replicas: 15,
            max_replicas: 15,
            ..SafetyConfig::default()
        };
        let step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(safety).unwrap(),
        );
        let (publish, deadline) = watch::channel(None);
        let mut control = ControlLoop::new(
            step,
            SimulatedSource::new(simulator()),
            SimulatedActuator::new(simulator()),
            log,
            observed.clone(),
            Duration::from_secs(15),
        )
        .with_leader_gate(LeaderGate::new(deadline, Duration::from_secs(5)));

        control.interval_once(1_000).await;
        assert_eq!((control.tally.decisions, control.tally.writes), (1, 0));
        assert_eq!(control.tally.withheld, 1);
        assert!(observed.health.readiness().ok, "standing by is ready");

        // A term with less than the write timeout left is not enough.
        publish.send_replace(Some(Instant::now() + Duration::from_secs(4)));
        control.interval_once(1_015).await;
        assert_eq!((control.tally.writes, control.tally.withheld), (0, 2));

        publish.send_replace(Some(Instant::now() + Duration::from_secs(10)));
        control.interval_once(1_030).await;
        assert_eq!((control.tally.writes, control.tally.withheld), (1, 2));
        let text = observed.metrics.encode();
        assert!(
            text.contains("\nrl_agent_standby_withheld_writes_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("\nrl_agent_scaling_actions_total 1\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_transition_the_disk_cannot_take_is_counted_and_autoscaling_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        // Full from the start: the log cannot even be created.
        let log = Recorder::open_with_room(dir.path(), Retention::default(), 0).unwrap();
        assert!(!log.is_open());
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(0, 60)),
        };
        let step = ControlStep::new(
            EnvConfig::default().sim,
            Decider::Baseline(Box::new(Hpa::default())),
            SafetyLayer::new(SafetyConfig::default()).unwrap(),
        );
        let mut control = ControlLoop::new(
            step,
            SimulatedSource::new(simulator()),
            SimulatedActuator::new(simulator()),
            log,
            observed.clone(),
            Duration::from_secs(15),
        );
        control.interval_once(1_000).await;
        control.interval_once(1_015).await;
        assert_eq!(control.tally.decisions, 2, "decided despite the full disk");
        assert_eq!(control.experience.len(), 0);
        let text = observed.metrics.encode();
        assert!(
            text.contains("\nrl_agent_experience_errors_total 2\n"),
            "{text}"
        );

        // Space again: the log opens and the next transition is recorded.
        control.experience.limit_disk_room(None);
        control.interval_once(1_030).await;
        assert_eq!(control.experience.len(), 1);
        assert_eq!(control.tally.decisions, 3);

        // Full again mid-run: counted, and deciding goes on.
        control.experience.limit_disk_room(Some(0));
        control.interval_once(1_045).await;
        assert_eq!(control.experience.len(), 1);
        assert_eq!(control.tally.decisions, 4);
        assert!(
            observed
                .metrics
                .encode()
                .contains("\nrl_agent_experience_errors_total 3\n")
        );
    }
}
