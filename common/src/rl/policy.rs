//! Trained networks as [`Policy`]s the scorecard and the agent can run: greedy, one
//! forward pass per decision (plus one of the tuner per segment, for a hybrid).

use burn::tensor::{Tensor, TensorData};

use super::artifact::{TrainConfig, TrainedModel, TrainedNetwork};
use super::device::inference_device;
use super::dqn::argmax;
use super::hybrid::{TunerClock, mean_action};
use crate::env::{ActionSpace, OBSERVATION_LEN, Observation};
use crate::policy::{ClusterView, Policy};

/// A trained network choosing the action with the highest value (DQN, hybrid) or
/// probability (PPO). A hybrid's choice is then raised to the replica floor of its
/// tuner's mean action, the tuner acting on the same segment clock as in training.
#[derive(Debug, Clone)]
pub struct LearnedPolicy {
    name: String,
    network: TrainedNetwork,
    actions: ActionSpace,
    /// A hybrid's segment clock; `None` for the other learners.
    clock: Option<TunerClock>,
}

impl LearnedPolicy {
    /// Wraps a loaded model under a report name.
    pub fn new(name: impl Into<String>, model: TrainedModel) -> Self {
        let clock = matches!(model.network, TrainedNetwork::Hybrid(_))
            .then(|| TunerClock::new(&model.config.hybrid));
        Self {
            name: name.into(),
            network: model.network,
            actions: model.actions,
            clock,
        }
    }

    /// Wraps a network that is not (yet) a saved model, e.g. a federated or fine-tuned
    /// one being evaluated, under the training config it was trained with (its action
    /// set, and a hybrid's tuner settings).
    pub fn from_network(
        name: impl Into<String>,
        network: TrainedNetwork,
        config: &TrainConfig,
    ) -> Self {
        let clock =
            matches!(network, TrainedNetwork::Hybrid(_)).then(|| TunerClock::new(&config.hybrid));
        Self {
            name: name.into(),
            network,
            actions: config.env.actions.clone(),
            clock,
        }
    }

    /// The same policy under another report name (the scorecard reports by name).
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The network's raw outputs for one observation: Q-values (DQN, hybrid) or action
    /// logits (PPO).
    pub fn scores(&self, observation: &Observation) -> Vec<f32> {
        let x = Tensor::<2>::from_data(
            TensorData::new(observation.0.to_vec(), [1, OBSERVATION_LEN]),
            &inference_device(),
        );
        let out = match &self.network {
            TrainedNetwork::Dqn(n) => n.forward(x),
            TrainedNetwork::Ppo(n) => n.forward(x).0,
            TrainedNetwork::Hybrid(n) => n.dqn.forward(x),
        };
        out.into_data().iter::<f32>().collect()
    }

    /// The greedy action for one observation (a hybrid's before its floor).
    pub fn action(&self, observation: &Observation) -> usize {
        argmax(&self.scores(observation))
    }
}

/// One greedy decision with what the agent's safety layer needs to judge it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Act {
    /// The replica count asked for (a hybrid's raised to its tuner's floor).
    pub replicas: u32,
    /// The chosen action's index in the action space.
    pub action: usize,
    /// How sure the network is of that action, in [0, 1] (see [`LearnedPolicy::act`]).
    pub confidence: f64,
}

/// The Q-value temperature the agent reads DQN confidence at by default. The shipped DQN's
/// Q-values are in reward units of about 1; its best-vs-second margin on a daily wave has a
/// median near 0.2 (probability ≈ 0.88 at this temperature) and a lower quartile near 0.03
/// (≈ 0.5: all but indifferent), so the default 0.7 threshold hands the near-ties to the HPA.
pub const DEFAULT_DQN_CONFIDENCE_TEMPERATURE: f64 = 0.1;

/// Softmax probability of entry `best` of `scores / temperature`.
fn softmax_probability(scores: &[f32], best: usize, temperature: f64) -> f64 {
    let t = temperature.max(f64::MIN_POSITIVE);
    let top = f64::from(scores[best]);
    let sum: f64 = scores
        .iter()
        .map(|&s| ((f64::from(s) - top) / t).exp())
        .sum();
    1.0 / sum
}

impl LearnedPolicy {
    /// Decides for `view` and says how sure the network is: for PPO the chosen action's
    /// probability under its own policy; for DQN (a hybrid's too) the same softmax read
    /// over Q-values divided by `dqn_temperature`, so a Q-value margin of a few
    /// temperatures maps near 1 and a near-tie near 1/|A|. One forward pass.
    pub fn act(&mut self, view: &ClusterView<'_>, dqn_temperature: f64) -> Act {
        let scores = self.scores(view.observation);
        let action = argmax(&scores);
        let temperature = match self.network {
            TrainedNetwork::Ppo(_) => 1.0,
            TrainedNetwork::Dqn(_) | TrainedNetwork::Hybrid(_) => dqn_temperature,
        };
        let confidence = softmax_probability(&scores, action, temperature);
        let chosen = self.actions.apply(action, view.spec_replicas);
        let replicas = match (&self.network, &mut self.clock) {
            (TrainedNetwork::Hybrid(net), Some(clock)) => {
                if let Some(summary) = clock.decision(view.observation) {
                    clock.set(mean_action(&net.tuner, &summary));
                }
                chosen.max(clock.floor(view.observation, view.max_replicas))
            }
            _ => chosen,
        };
        Act {
            replicas,
            action,
            confidence,
        }
    }
}

impl Policy for LearnedPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32 {
        self.act(view, DEFAULT_DQN_CONFIDENCE_TEMPERATURE).replicas
    }

    fn reset(&mut self) {
        if let Some(clock) = &mut self.clock {
            clock.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_the_greedy_actions_softmax_probability() {
        // e^0 / (e^-2 + e^0 + e^-3) at temperature 0.1.
        let p = softmax_probability(&[1.0, 1.2, 0.9], 1, 0.1);
        assert!((p - 0.843_795).abs() < 1e-5, "{p}");
        // Temperature 1 is the plain softmax: logits ln 1, ln 3 → 3/4.
        let p = softmax_probability(&[0.0, 3f32.ln()], 1, 1.0);
        assert!((p - 0.75).abs() < 1e-6, "{p}");
        // A tie is 1/|A|; a huge margin does not overflow.
        assert!((softmax_probability(&[2.0, 2.0, 2.0], 0, 0.1) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(softmax_probability(&[1e4, -1e4], 0, 1e-3), 1.0);
    }
}
