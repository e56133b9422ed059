//! On-policy experience: one rollout, discarded after the update that uses it.

use crate::env::OBSERVATION_LEN;

/// One environment step with what the policy knew when it acted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RolloutStep {
    /// The observation acted on.
    pub observation: [f32; OBSERVATION_LEN],
    /// The action taken.
    pub action: usize,
    /// Its log-probability under the acting policy, as [`super::PpoLearner::act`] returned.
    pub log_prob: f32,
    /// The critic's value of `observation`, as [`super::PpoLearner::act`] returned.
    pub value: f32,
    /// The reward received.
    pub reward: f32,
    /// The observation after the step; only the rollout's last one is kept, to bootstrap.
    pub next_observation: [f32; OBSERVATION_LEN],
    /// The episode ended with this step.
    pub done: bool,
}

/// Columns rather than rows, so minibatches gather straight into tensor data.
#[derive(Debug, Clone, Default)]
pub(super) struct Rollout {
    pub(super) observations: Vec<f32>,
    pub(super) actions: Vec<i64>,
    pub(super) log_probs: Vec<f32>,
    pub(super) values: Vec<f32>,
    pub(super) rewards: Vec<f32>,
    pub(super) dones: Vec<bool>,
    pub(super) last_next_observation: [f32; OBSERVATION_LEN],
}

impl Rollout {
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            observations: Vec::with_capacity(n * OBSERVATION_LEN),
            actions: Vec::with_capacity(n),
            log_probs: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            rewards: Vec::with_capacity(n),
            dones: Vec::with_capacity(n),
            last_next_observation: [0.0; OBSERVATION_LEN],
        }
    }

    pub(super) fn len(&self) -> usize {
        self.actions.len()
    }

    pub(super) fn push(&mut self, s: &RolloutStep) {
        self.observations.extend_from_slice(&s.observation);
        self.actions.push(s.action as i64);
        self.log_probs.push(s.log_prob);
        self.values.push(s.value);
        self.rewards.push(s.reward);
        self.dones.push(s.done);
        self.last_next_observation = s.next_observation;
    }

    pub(super) fn clear(&mut self) {
        self.observations.clear();
        self.actions.clear();
        self.log_probs.clear();
        self.values.clear();
        self.rewards.clear();
        self.dones.clear();
    }

    /// Whether the rollout's last step ended an episode, so nothing follows to bootstrap.
    pub(super) fn ends_episode(&self) -> bool {
        self.dones.last().copied().unwrap_or(true)
    }
}
