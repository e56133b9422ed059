//! The bridge between a learner's burn network and the federation's flat weight vectors:
//! which [`ModelArchitecture`] a training configuration implies, and the starting weights
//! of a fleet that has no model yet. The coordinator and the agents both derive the
//! architecture from the same configuration through here, so they cannot disagree on it.

use super::artifact::{Algo, TrainConfig, TrainedNetwork, build_network};
use super::device::inference_device;
use super::network::{ActorCritic, QNetwork};
use super::params::{ParamLengthError, flatten, unflatten};
use crate::env::OBSERVATION_LEN;
use crate::proto::{ModelArchitecture, ModelKind};

/// The wire kind of a learner.
pub fn model_kind(algo: Algo) -> ModelKind {
    match algo {
        Algo::Dqn => ModelKind::Dqn,
        Algo::Ppo => ModelKind::Ppo,
        Algo::Hybrid => ModelKind::Hybrid,
    }
}

/// The architecture `algo` trains under `cfg`: input, hidden widths, actions, and the
/// length of the flat vector [`flatten`] reads from it. A hybrid federates its DQN only
/// (the tuner stays local: it adapts the DQN to each cluster's own traffic), so its
/// architecture is the DQN's layers and parameter count under [`ModelKind::Hybrid`].
pub fn architecture(algo: Algo, cfg: &TrainConfig) -> ModelArchitecture {
    let hidden = match algo {
        Algo::Dqn | Algo::Hybrid => &cfg.dqn.hidden,
        Algo::Ppo => &cfg.ppo.hidden,
    };
    let mut layers = vec![OBSERVATION_LEN as u32];
    layers.extend(hidden.iter().map(|&h| h as u32));
    layers.push(cfg.env.actions.len() as u32);
    ModelArchitecture {
        kind: model_kind(algo),
        layers,
        parameter_count: fresh_weights(algo, cfg, 0).len() as u64,
    }
}

/// Freshly initialised weights for `algo` under `cfg`, reproducible from `seed`: the
/// first global model of a fleet that starts from scratch (a hybrid's DQN, for a hybrid).
pub fn fresh_weights(algo: Algo, cfg: &TrainConfig, seed: u64) -> Vec<f32> {
    use rand::SeedableRng;
    let device = inference_device();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let actions = cfg.env.actions.len();
    match algo {
        Algo::Dqn | Algo::Hybrid => flatten(&QNetwork::new(
            OBSERVATION_LEN,
            &cfg.dqn.hidden,
            actions,
            &mut rng,
            &device,
        )),
        Algo::Ppo => flatten(&ActorCritic::new(
            OBSERVATION_LEN,
            &cfg.ppo.hidden,
            actions,
            &mut rng,
            &device,
        )),
    }
}

/// The flat weights of a trained network, e.g. a shipped default model used as a fleet's
/// first global version; a hybrid's DQN only.
pub fn network_weights(network: &TrainedNetwork) -> Vec<f32> {
    match network {
        TrainedNetwork::Dqn(net) => flatten(net),
        TrainedNetwork::Ppo(net) => flatten(net),
        TrainedNetwork::Hybrid(net) => flatten(&net.dqn),
    }
}

/// The network `weights` (laid out as [`flatten`] reads them) stand for, ready for
/// inference: a global model or a fine-tune turned back into something that can act.
/// A hybrid's weights are its DQN's, so they come back as that DQN: the tuner that
/// would sit on top is each cluster's own and never travels.
pub fn network_from_weights(
    algo: Algo,
    cfg: &TrainConfig,
    weights: &[f32],
) -> Result<TrainedNetwork, ParamLengthError> {
    Ok(match build_network(algo, cfg, &inference_device()) {
        TrainedNetwork::Dqn(n) => TrainedNetwork::Dqn(unflatten(n, weights)?),
        TrainedNetwork::Ppo(n) => TrainedNetwork::Ppo(unflatten(n, weights)?),
        TrainedNetwork::Hybrid(n) => TrainedNetwork::Dqn(unflatten(n.dqn, weights)?),
    })
}

/// How many of the first flat weights belong to the feature extractor that fine-tuning
/// can freeze: the extractor is visited first in both networks, so it is a prefix of the
/// layout and the head is the rest.
pub fn extractor_len(algo: Algo, cfg: &TrainConfig) -> usize {
    match build_network(algo, cfg, &inference_device()) {
        TrainedNetwork::Dqn(n) => n.extractor_params().len(),
        TrainedNetwork::Ppo(n) => n.extractor_params().len(),
        TrainedNetwork::Hybrid(n) => n.dqn.extractor_params().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::defaults;

    #[test]
    fn shipped_models_match_the_architecture_their_config_implies() {
        for algo in [Algo::Dqn, Algo::Ppo, Algo::Hybrid] {
            let model = defaults::load(algo).unwrap();
            let arch = architecture(algo, &model.config);
            let weights = network_weights(&model.network);
            assert_eq!(arch.parameter_count, weights.len() as u64);
            assert_eq!(arch.kind, model_kind(algo));
            assert_eq!(arch.layers.first(), Some(&12));
        }
        let cfg = TrainConfig::default();
        let dqn = architecture(Algo::Dqn, &cfg);
        assert_eq!(
            dqn,
            ModelArchitecture::dense(ModelKind::Dqn, dqn.layers.clone())
        );
        // A hybrid federates its DQN: the same layers and parameters under its own kind.
        let hybrid = architecture(Algo::Hybrid, &cfg);
        assert_eq!(hybrid.kind, ModelKind::Hybrid);
        assert_eq!(
            (hybrid.layers.clone(), hybrid.parameter_count),
            (dqn.layers.clone(), dqn.parameter_count)
        );
        assert_eq!(
            fresh_weights(Algo::Hybrid, &cfg, 7),
            fresh_weights(Algo::Dqn, &cfg, 7)
        );
    }

    #[test]
    fn weights_come_back_as_the_same_network_and_the_extractor_leads_the_layout() {
        let cfg = TrainConfig::default();
        let model = defaults::load(Algo::Dqn).unwrap();
        let weights = network_weights(&model.network);
        let net = network_from_weights(Algo::Dqn, &cfg, &weights).unwrap();
        assert_eq!(network_weights(&net), weights);
        assert!(network_from_weights(Algo::Dqn, &cfg, &weights[1..]).is_err());
        // 12·256+256 + 256·256+256 for both learners' default extractors.
        assert_eq!(extractor_len(Algo::Dqn, &cfg), 69_120);
        assert_eq!(extractor_len(Algo::Ppo, &cfg), 69_120);
        let TrainedNetwork::Dqn(q) = net else {
            panic!("a DQN network")
        };
        assert_eq!(q.extractor_params(), weights[..69_120].to_vec());
    }

    #[test]
    fn fresh_weights_depend_on_the_seed_only() {
        let cfg = TrainConfig::default();
        let a = fresh_weights(Algo::Dqn, &cfg, 7);
        assert_eq!(a, fresh_weights(Algo::Dqn, &cfg, 7));
        assert_ne!(a, fresh_weights(Algo::Dqn, &cfg, 8));
    }
}
