//! A global model as a policy the control loop (or a scorecard) can run: the flat weights
//! written into a network of the fleet's architecture, acting greedily.

use common::proto::{ArchitectureMismatch, GlobalModel};
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::fleet_model::{architecture, network_from_weights};
use common::rl::params::ParamLengthError;
use common::rl::policy::LearnedPolicy;

/// A global model cannot be run as this agent's policy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// It was trained for another network.
    #[error("global model v{version} cannot run here: {source}")]
    Architecture {
        /// Its version.
        version: u64,
        /// How the architectures differ.
        source: ArchitectureMismatch,
    },
    /// Its weights do not fill the network.
    #[error("global model v{version} cannot run here: {source}")]
    Length {
        /// Its version.
        version: u64,
        /// How many weights were expected and given.
        source: ParamLengthError,
    },
}

/// `model` as a greedy policy of `algo` under `cfg` (which fixes the network shape and the
/// action set), named `global-v<version>` in reports.
pub fn global_model_policy(
    model: &GlobalModel,
    algo: Algo,
    cfg: &TrainConfig,
) -> Result<LearnedPolicy, PolicyError> {
    let version = model.version;
    let arch = architecture(algo, cfg);
    arch.check_compatible(&model.architecture)
        .map_err(|source| PolicyError::Architecture { version, source })?;
    let length = |source| PolicyError::Length { version, source };
    // A hybrid's global model is its DQN (the tuner is per cluster and never travels),
    // so it runs as that DQN here.
    let network = network_from_weights(algo, cfg, &model.weights).map_err(length)?;
    Ok(LearnedPolicy::from_network(
        format!("global-v{version}"),
        network,
        cfg,
    ))
}

#[cfg(test)]
mod tests {
    use common::env::{Env, EnvConfig, Observation};
    use common::proto::{ModelArchitecture, ModelKind};
    use common::rl::dqn::DqnLearner;
    use common::rl::fleet_model::fresh_weights;
    use common::rl::params::flatten;
    use common::traffic::ArrivalSeries;

    use super::*;

    fn small() -> TrainConfig {
        let mut cfg = TrainConfig::default();
        cfg.dqn.hidden = vec![8, 8];
        cfg.dqn.dropout = vec![0.0, 0.0];
        cfg
    }

    #[test]
    fn the_policy_computes_what_a_learner_with_those_weights_computes() {
        let cfg = small();
        let weights = fresh_weights(Algo::Dqn, &cfg, 3);
        let model = GlobalModel {
            version: 9,
            architecture: architecture(Algo::Dqn, &cfg),
            weights: weights.clone(),
            tags: Vec::new(),
        };
        let policy = global_model_policy(&model, Algo::Dqn, &cfg).unwrap();
        let learner = DqnLearner::from_weights(cfg.dqn.clone(), 3, 1, &weights, 0).unwrap();
        assert_eq!(flatten(&learner.network()), weights);
        let series = ArrivalSeries::new("flat", vec![120.0; 600]);
        let mut env = Env::new(EnvConfig::default(), series, 1).unwrap();
        for _ in 0..10 {
            let obs: Observation = *env.observation();
            assert_eq!(policy.scores(&obs), learner.q_values(&obs.0));
            env.step(policy.action(&obs));
        }
    }

    #[test]
    fn a_model_of_another_shape_is_refused_with_its_version() {
        let cfg = small();
        let model = GlobalModel {
            version: 4,
            architecture: ModelArchitecture::dense(ModelKind::Dqn, vec![12, 16, 3]),
            weights: vec![0.0; 12 * 16 + 16 + 16 * 3 + 3],
            tags: Vec::new(),
        };
        let err = global_model_policy(&model, Algo::Dqn, &cfg).unwrap_err();
        assert!(
            matches!(err, PolicyError::Architecture { version: 4, .. }),
            "{err:?}"
        );
        let mut short = GlobalModel {
            version: 5,
            architecture: architecture(Algo::Dqn, &cfg),
            weights: fresh_weights(Algo::Dqn, &cfg, 0),
            tags: Vec::new(),
        };
        short.weights.pop();
        let err = global_model_policy(&short, Algo::Dqn, &cfg).unwrap_err();
        assert!(
            matches!(err, PolicyError::Length { version: 5, .. }),
            "{err:?}"
        );
    }
}
