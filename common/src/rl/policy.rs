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

impl Policy for LearnedPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32 {
        let chosen = self
            .actions
            .apply(self.action(view.observation), view.spec_replicas);
        match (&self.network, &mut self.clock) {
            (TrainedNetwork::Hybrid(net), Some(clock)) => {
                if let Some(summary) = clock.decision(view.observation) {
                    clock.set(mean_action(&net.tuner, &summary));
                }
                chosen.max(clock.floor(view.observation, view.max_replicas))
            }
            _ => chosen,
        }
    }

    fn reset(&mut self) {
        if let Some(clock) = &mut self.clock {
            clock.reset();
        }
    }
}
