//! The hybrid learner: a DQN that learns every step and a tuner that learns every
//! segment, stepped together through one episode.

use super::clock::TunerClock;
use super::config::HybridConfig;
use super::outputs::TunerOutputs;
use super::segment::{SegmentOutcome, TUNER_OBSERVATION_LEN};
use super::tuner::{TunerAction, TunerLearner, TunerStep};
use crate::env::{ActionSpace, EnvConfig, Observation, RewardConfig, Step};
use crate::rl::dqn::{DqnConfig, DqnLearner};
use crate::rl::network::HybridNetwork;
use crate::rl::replay::Transition;

/// Mixed into the seed so the tuner's draws are not the DQN's.
const TUNER_SEED_SALT: u64 = 0x7475_6e65_7200_0001;

/// A hybrid being trained. Deterministic for a seed and sequence of steps.
#[derive(Debug)]
pub struct HybridLearner {
    cfg: HybridConfig,
    reward: RewardConfig,
    actions: ActionSpace,
    dqn: DqnLearner,
    tuner: TunerLearner,
    clock: TunerClock,
    /// The segment under way: what the tuner saw and did at its start.
    pending: Option<([f32; TUNER_OBSERVATION_LEN], TunerAction)>,
    outcome: SegmentOutcome,
}

impl HybridLearner {
    /// A fresh learner for the environment `env` that will train for `total_steps` steps.
    pub fn new(
        dqn: DqnConfig,
        cfg: HybridConfig,
        env: &EnvConfig,
        total_steps: u64,
        seed: u64,
    ) -> Self {
        Self {
            dqn: DqnLearner::new(dqn, env.actions.len(), total_steps, seed),
            tuner: TunerLearner::new(cfg.clone(), seed ^ TUNER_SEED_SALT),
            clock: TunerClock::new(&cfg),
            cfg,
            reward: env.reward.clone(),
            actions: env.actions.clone(),
            pending: None,
            outcome: SegmentOutcome::default(),
        }
    }

    /// Environment steps observed so far.
    pub fn steps(&self) -> u64 {
        self.dqn.steps()
    }

    /// The DQN part.
    pub fn dqn(&self) -> &DqnLearner {
        &self.dqn
    }

    /// The tuner part.
    pub fn tuner(&self) -> &TunerLearner {
        &self.tuner
    }

    /// The tuner's settings for the segment under way.
    pub fn outputs(&self) -> TunerOutputs {
        self.clock.outputs()
    }

    /// The reward weights the DQN learns under in the segment under way: the
    /// environment's, with the latency weight scaled by the tuner.
    pub fn dqn_reward(&self) -> RewardConfig {
        RewardConfig {
            latency_weight: self.reward.latency_weight
                * self.clock.outputs().latency_weight_multiplier,
            ..self.reward.clone()
        }
    }

    /// Decides at observation `o` with `spec_replicas` asked for now: on a segment's first
    /// decision the tuner closes the previous segment and acts (sampling when `explore`);
    /// then the DQN picks its action (ε-greedy when `explore`) and the tuner's floor may
    /// raise the replica count it implies. Returns the DQN's action (what it learns
    /// about) and the replicas to ask for.
    pub fn decide(
        &mut self,
        o: &Observation,
        spec_replicas: u32,
        max_replicas: u32,
        explore: bool,
    ) -> (usize, u32) {
        if let Some(summary) = self.clock.decision(o) {
            if let Some((before, action)) = self.pending.take() {
                self.finish_segment(before, action, summary, false, max_replicas);
            }
            let action = self.tuner.act(&summary, explore);
            self.clock.set(action.raw);
            self.pending = Some((summary, action));
        }
        let action = self.dqn.act(&o.0, explore);
        let desired = self
            .actions
            .apply(action, spec_replicas)
            .max(self.clock.floor(o, max_replicas));
        (action, desired)
    }

    /// Learns from the step that followed [`Self::decide`] at observation `o`. The DQN
    /// is rewarded under [`Self::dqn_reward`]; the step counts towards the segment's
    /// objective, and an episode's end closes its last segment.
    pub fn observe(&mut self, o: &Observation, action: usize, step: &Step, max_replicas: u32) {
        self.outcome.record(&step.outcome.counters);
        let reward = step.terms.total(&self.dqn_reward());
        self.dqn.observe(Transition {
            observation: o.0,
            action: action as u32,
            reward: reward as f32,
            next_observation: step.observation.0,
            done: step.done,
        });
        if step.done {
            if let Some((before, action)) = self.pending.take() {
                let after = self.clock.observation();
                self.finish_segment(before, action, after, true, max_replicas);
            }
            self.clock.reset();
        }
    }

    /// Forgets the episode under way (its unfinished segment is not learned from).
    pub fn abandon_episode(&mut self) {
        self.pending = None;
        self.outcome = SegmentOutcome::default();
        self.clock.reset();
    }

    fn finish_segment(
        &mut self,
        observation: [f32; TUNER_OBSERVATION_LEN],
        action: TunerAction,
        next_observation: [f32; TUNER_OBSERVATION_LEN],
        done: bool,
        max_replicas: u32,
    ) {
        let reward = self.outcome.objective(max_replicas, &self.cfg);
        self.outcome = SegmentOutcome::default();
        self.tuner.observe(TunerStep {
            observation,
            action: action.raw,
            log_prob: action.log_prob,
            value: action.value,
            reward: reward as f32,
            next_observation,
            done,
        });
    }

    /// Both networks, for inference and saving.
    pub fn network(&self) -> HybridNetwork {
        HybridNetwork {
            dqn: self.dqn.network(),
            tuner: self.tuner.network(),
        }
    }
}
