//! Trained networks as [`Policy`]s the scorecard and the agent can run: greedy, one
//! forward pass per decision.

use burn::tensor::{Tensor, TensorData};

use super::artifact::{TrainedModel, TrainedNetwork};
use super::device::inference_device;
use super::dqn::argmax;
use crate::env::{ActionSpace, OBSERVATION_LEN, Observation};
use crate::policy::{ClusterView, Policy};

/// A trained network choosing the action with the highest value (DQN) or probability (PPO).
#[derive(Debug, Clone)]
pub struct LearnedPolicy {
    name: String,
    network: TrainedNetwork,
    actions: ActionSpace,
}

impl LearnedPolicy {
    /// Wraps a loaded model under a report name.
    pub fn new(name: impl Into<String>, model: TrainedModel) -> Self {
        Self {
            name: name.into(),
            network: model.network,
            actions: model.actions,
        }
    }

    /// Wraps a network that is not (yet) a saved model, e.g. a federated or fine-tuned
    /// one being evaluated; `actions` must be the action set it was trained with.
    pub fn from_network(
        name: impl Into<String>,
        network: TrainedNetwork,
        actions: ActionSpace,
    ) -> Self {
        Self {
            name: name.into(),
            network,
            actions,
        }
    }

    /// The network's raw outputs for one observation: Q-values or action logits.
    pub fn scores(&self, observation: &Observation) -> Vec<f32> {
        let x = Tensor::<2>::from_data(
            TensorData::new(observation.0.to_vec(), [1, OBSERVATION_LEN]),
            &inference_device(),
        );
        let out = match &self.network {
            TrainedNetwork::Dqn(n) => n.forward(x),
            TrainedNetwork::Ppo(n) => n.forward(x).0,
        };
        out.into_data().iter::<f32>().collect()
    }

    /// The greedy action for one observation.
    pub fn action(&self, observation: &Observation) -> usize {
        argmax(&self.scores(observation))
    }
}

impl Policy for LearnedPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32 {
        self.actions
            .apply(self.action(view.observation), view.spec_replicas)
    }

    fn reset(&mut self) {}
}
