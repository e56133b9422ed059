//! Trained networks as [`Policy`]s the scorecard and the agent can run: greedy, one
//! forward pass per decision.

use burn::tensor::{Tensor, TensorData};

use super::artifact::{TrainedModel, TrainedNetwork};
use super::dense::{Activation, DenseNet};
use super::device::inference_device;
use super::dqn::argmax;
use super::params::flatten;
use crate::env::{ActionSpace, OBSERVATION_LEN, Observation};
use crate::policy::{ClusterView, Policy};

/// A trained network choosing the action with the highest value (DQN) or probability (PPO).
#[derive(Debug, Clone)]
pub struct LearnedPolicy {
    name: String,
    network: TrainedNetwork,
    /// The same weights for the batch-1 hot path (see [`super::dense`]).
    dense: DenseNet,
    actions: ActionSpace,
}

/// The decision path of `model` as plain dense layers: the Q-network whole, or the
/// actor-critic's extractor and actor head (the critic is not needed to act).
fn dense_of(model: &TrainedModel) -> DenseNet {
    let actions = model.actions.len();
    let (hidden, hidden_act, params) = match &model.network {
        TrainedNetwork::Dqn(n) => (&model.config.dqn.hidden, Activation::Relu, flatten(n)),
        TrainedNetwork::Ppo(n) => (&model.config.ppo.hidden, Activation::Tanh, flatten(n)),
    };
    let mut widths = vec![OBSERVATION_LEN];
    widths.extend(hidden);
    widths.push(actions);
    let mut activations = vec![hidden_act; hidden.len()];
    activations.push(Activation::Identity);
    // The actor-critic's critic head comes last in its layout and is left out.
    let used: usize = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    DenseNet::from_flat(&widths, &activations, &params[..used.min(params.len())])
        .expect("the network was built from this configuration")
}

impl LearnedPolicy {
    /// Wraps a loaded model under a report name.
    pub fn new(name: impl Into<String>, model: TrainedModel) -> Self {
        Self {
            name: name.into(),
            dense: dense_of(&model),
            network: model.network,
            actions: model.actions,
        }
    }

    /// The network's raw outputs for one observation (Q-values or action logits), on the
    /// batch-1 hot path.
    pub fn scores(&self, observation: &Observation) -> Vec<f32> {
        self.dense.forward(&observation.0)
    }

    /// The same outputs computed by burn, for checking the hot path.
    pub fn scores_burn(&self, observation: &Observation) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::artifact::{Algo, Manifest, TrainConfig, build_network};

    fn model(algo: Algo) -> TrainedModel {
        let config = TrainConfig::default();
        TrainedModel {
            network: build_network(algo, &config, &inference_device()),
            actions: config.env.actions.clone(),
            manifest: Manifest {
                algo,
                layers: vec![],
                parameter_count: 0,
                timesteps: 0,
                seed: 0,
                backend: "flex".into(),
                trained_by: "test".into(),
            },
            config,
        }
    }

    #[test]
    fn the_hot_path_matches_burn() {
        for algo in [Algo::Dqn, Algo::Ppo] {
            let p = LearnedPolicy::new("x", model(algo));
            for k in 0..5 {
                let obs = Observation(std::array::from_fn(|i| {
                    ((i * 7 + k * 3) % 11) as f32 / 10.0
                }));
                let (fast, slow) = (p.scores(&obs), p.scores_burn(&obs));
                assert_eq!(fast.len(), 3);
                for (a, b) in fast.iter().zip(&slow) {
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{algo:?}: {fast:?} vs {slow:?}"
                    );
                }
            }
        }
    }
}
