//! Small models for the twin's tests: a network of a few dozen units trains in well under
//! a second, and one whose every output is its bias acts the same whatever it sees.

use common::rl::artifact::{
    Algo, Manifest, TrainConfig, TrainedModel, TrainedNetwork, build_network,
};
use common::rl::device::inference_device;
use common::rl::dqn::DqnConfig;
use common::rl::fleet_model::{architecture, fresh_weights, network_from_weights};
use common::rl::network::HybridNetwork;
use common::rl::params::{flatten, unflatten};
use common::rl::ppo::PpoConfig;

/// A training configuration with small networks and short warm-ups.
pub(crate) fn small_config() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.training.timesteps = 2_000;
    cfg.dqn = DqnConfig {
        hidden: vec![16, 16],
        dropout: vec![0.0, 0.0],
        learning_starts: 32,
        batch_size: 16,
        ..DqnConfig::default()
    };
    cfg.ppo = PpoConfig {
        hidden: vec![16],
        n_steps: 64,
        batch_size: 16,
        n_epochs: 2,
        ..PpoConfig::default()
    };
    cfg
}

fn model(algo: Algo, cfg: TrainConfig, network: TrainedNetwork) -> TrainedModel {
    let arch = architecture(algo, &cfg);
    TrainedModel {
        network,
        actions: cfg.env.actions.clone(),
        manifest: Manifest {
            algo,
            layers: arch.layers.iter().map(|&l| l as usize).collect(),
            parameter_count: arch.parameter_count as usize,
            timesteps: 1_000,
            seed: 0,
            backend: "flex".into(),
            trained_by: "test".into(),
        },
        config: cfg,
    }
}

/// A small, freshly initialised model of `algo` (weights from `seed`).
pub(crate) fn small_model(algo: Algo, seed: u64) -> TrainedModel {
    let cfg = small_config();
    let weights = fresh_weights(algo, &cfg, seed);
    let network = match network_from_weights(algo, &cfg, &weights).unwrap() {
        TrainedNetwork::Dqn(dqn) if algo == Algo::Hybrid => {
            let TrainedNetwork::Hybrid(h) = build_network(algo, &cfg, &inference_device()) else {
                unreachable!("a hybrid config builds a hybrid")
            };
            TrainedNetwork::Hybrid(Box::new(HybridNetwork {
                dqn,
                tuner: h.tuner,
            }))
        }
        n => n,
    };
    model(algo, cfg, network)
}

/// A DQN that always takes action `action` (0: one replica less, 1: hold, 2: one more):
/// every weight zero, the output layer's bias one-hot, so every Q-value is its bias.
pub(crate) fn constant_model(action: usize) -> TrainedModel {
    let cfg = small_config();
    let TrainedNetwork::Dqn(net) = build_network(Algo::Dqn, &cfg, &inference_device()) else {
        unreachable!("a DQN config builds a DQN")
    };
    let mut weights = vec![0.0; flatten(&net).len()];
    let actions = cfg.env.actions.len();
    let head_bias = weights.len() - actions;
    weights[head_bias + action] = 1.0;
    let net = unflatten(net, &weights).unwrap();
    model(Algo::Dqn, cfg, TrainedNetwork::Dqn(net))
}

#[test]
fn a_constant_model_takes_its_action_whatever_it_sees() {
    use common::env::Observation;
    use common::rl::policy::LearnedPolicy;
    for action in 0..3 {
        let policy = LearnedPolicy::new("c", constant_model(action));
        for v in [0.0, 0.5, 1.0] {
            assert_eq!(policy.action(&Observation([v; 12])), action);
        }
    }
}
