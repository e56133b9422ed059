//! The candidate: the current model trained further in the twin on the recorded traffic
//! (and its variations), starting from its own weights, so retraining refines what already
//! works instead of starting over.
//!
//! The training itself is a federation round's local training: the same
//! [`LocalTrainer`] a `federate` agent answers round offers with, given the recorded
//! series as its scenarios and the current weights as the round's base. One code path
//! learns from the cluster's own workload whether a coordinator asks or `retrain` runs.
//! What differs is configuration only:
//! - the environment is the twin's cluster (`SimConfig`) with the model's own action set
//!   and reward, so the network's outputs keep their meaning;
//! - a DQN explores gently ([`Exploration::FINE_TUNE`]: ε 0.2 → 0.02), as a fine-tune
//!   does, because ε = 1 at the start would fill the replay buffer with traffic jams a
//!   trained model never causes;
//! - long series are cut into episodes of at most `episode_s`, played newest window first
//!   and interleaved across the variations, so a short budget still sees every variation
//!   of the most recent traffic.
//!
//! A hybrid trains its DQN (the part a fleet federates, as in a round) and keeps its tuner
//! bit for bit. Pure and deterministic for a seed.

use std::sync::atomic::AtomicBool;

use common::env::EnvConfig;
use common::rl::artifact::{Manifest, TrainedModel, TrainedNetwork, TrainingConfig};
use common::rl::device::backend_name;
use common::rl::fleet_model::network_weights;
use common::rl::network::HybridNetwork;
use common::rl::params::{ParamLengthError, unflatten};
use common::rl::transfer::Exploration;
use common::scenario::Scenario;
use common::sim::SimConfig;
use common::traffic::ArrivalSeries;

use crate::federation::trainer::{LocalTrainer, PayloadForm, TrainError, TrainerSetupError};

/// How long and how to train.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetrainSpec {
    /// Environment steps (decisions) to train for.
    pub(crate) timesteps: u64,
    /// Seed of the learner and of the twin's pod start-up jitter.
    pub(crate) seed: u64,
    /// Longest training episode, seconds. Default 6 h (1,440 decisions).
    pub(crate) episode_s: u64,
}

/// The default longest episode.
pub(crate) const DEFAULT_EPISODE_S: u64 = 6 * 3600;

/// Why no candidate was trained.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetrainError {
    /// Nothing to train on, or no budget.
    #[error("{0}")]
    Input(String),
    /// The learner or the twin cannot be set up (an invalid `SimConfig`, say).
    #[error("cannot set up training in the twin: {0}")]
    Setup(#[from] TrainerSetupError),
    /// Training failed (diverged).
    #[error("training in the twin failed: {0}")]
    Train(#[from] TrainError),
    /// The trained weights do not fit the model (a bug, not an input error).
    #[error("the trained weights do not fit the current model: {0}")]
    Weights(#[from] ParamLengthError),
}

/// The environment the twin trains and judges in: the twin's cluster, with `model`'s own
/// action set (its outputs index it) and reward weights.
pub(crate) fn twin_env(model: &TrainedModel, twin: &SimConfig) -> EnvConfig {
    EnvConfig {
        sim: twin.clone(),
        actions: model.config.env.actions.clone(),
        reward: model.config.env.reward.clone(),
    }
}

/// Each series cut into windows of at most `episode_s` seconds (equal lengths per
/// series), ordered newest window first and, within a window, in the given order.
pub(crate) fn episode_windows(series: &[ArrivalSeries], episode_s: u64) -> Vec<ArrivalSeries> {
    let episode_s = episode_s.max(1) as usize;
    let cut: Vec<Vec<ArrivalSeries>> = series
        .iter()
        .map(|s| {
            let rates = s.as_slice();
            let n = rates.len().div_ceil(episode_s).max(1);
            let len = rates.len().div_ceil(n).max(1);
            let chunks: Vec<&[f32]> = rates.chunks(len).collect();
            let total = chunks.len();
            chunks
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = if total > 1 {
                        format!("{}#{}/{total}", s.name(), i + 1)
                    } else {
                        s.name().to_owned()
                    };
                    ArrivalSeries::new(name, c.to_vec())
                })
                .collect()
        })
        .collect();
    let most = cut.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for back in 1..=most {
        for windows in &cut {
            if let Some(w) = windows.len().checked_sub(back).and_then(|i| windows.get(i)) {
                out.push(w.clone());
            }
        }
    }
    out
}

/// Trains a candidate from `current` in the twin `twin` on `series` (the training slice
/// first, then its variations).
pub(crate) fn train_candidate(
    current: &TrainedModel,
    twin: &SimConfig,
    series: &[ArrivalSeries],
    spec: &RetrainSpec,
) -> Result<TrainedModel, RetrainError> {
    if spec.timesteps == 0 {
        return Err(RetrainError::Input(
            "the training budget must be at least one step".into(),
        ));
    }
    let windows = episode_windows(series, spec.episode_s);
    if windows.is_empty() || windows.iter().all(|w| w.len_s() == 0) {
        return Err(RetrainError::Input("no traffic to train on".into()));
    }
    let algo = current.manifest.algo;
    let mut cfg = current.config.clone();
    cfg.env = twin_env(current, twin);
    cfg.training = TrainingConfig {
        timesteps: spec.timesteps,
        scenarios: windows
            .iter()
            .map(|w| format!("twin:{}", w.name()))
            .collect(),
        seed: spec.seed,
    };
    let explore = Exploration::FINE_TUNE;
    cfg.dqn.exploration_initial = explore.start;
    cfg.dqn.exploration_final = explore.end;
    cfg.dqn.exploration_fraction = explore.fraction;
    let scenarios = windows.into_iter().map(Scenario::fixed).collect();
    let mut trainer =
        LocalTrainer::with_scenarios(algo, cfg.clone(), scenarios, PayloadForm::Weights)?;
    let base = network_weights(&current.network);
    let update = trainer.train_round(&base, spec.timesteps, &AtomicBool::new(false))?;
    let weights = update.payload.values();
    let network = match &current.network {
        TrainedNetwork::Dqn(n) => TrainedNetwork::Dqn(unflatten(n.clone(), weights)?),
        TrainedNetwork::Ppo(n) => TrainedNetwork::Ppo(unflatten(n.clone(), weights)?),
        TrainedNetwork::Hybrid(n) => TrainedNetwork::Hybrid(Box::new(HybridNetwork {
            dqn: unflatten(n.dqn.clone(), weights)?,
            tuner: n.tuner.clone(),
        })),
    };
    Ok(TrainedModel {
        network,
        actions: cfg.env.actions.clone(),
        manifest: Manifest {
            // Steps behind the weights, the current model's included.
            timesteps: current.manifest.timesteps.saturating_add(spec.timesteps),
            seed: spec.seed,
            backend: backend_name().to_owned(),
            trained_by: format!("edge-agent {} retrain", env!("CARGO_PKG_VERSION")),
            ..current.manifest.clone()
        },
        config: cfg,
    })
}

#[cfg(test)]
mod tests {
    use common::rl::artifact::Algo;
    use common::rl::params::flatten;

    use super::*;
    use crate::twin::test_support::small_model;

    fn traffic() -> Vec<ArrivalSeries> {
        let mut rates = vec![150.0f32; 1800];
        rates.extend(vec![600.0; 900]);
        vec![ArrivalSeries::new("recorded", rates)]
    }

    fn spec(seed: u64) -> RetrainSpec {
        RetrainSpec {
            timesteps: 300,
            seed,
            episode_s: DEFAULT_EPISODE_S,
        }
    }

    #[test]
    fn windows_are_at_most_an_episode_long_newest_first_and_interleaved() {
        let a = ArrivalSeries::new("a", (0..100).map(|i| i as f32).collect());
        let b = ArrivalSeries::new("b", (0..100).map(|i| -(i as f32)).collect());
        let w = episode_windows(&[a.clone(), b], 40);
        let names: Vec<&str> = w.iter().map(ArrivalSeries::name).collect();
        assert_eq!(
            names,
            ["a#3/3", "b#3/3", "a#2/3", "b#2/3", "a#1/3", "b#1/3"]
        );
        assert!(w.iter().all(|s| s.len_s() <= 40));
        assert_eq!(w[0].rate_at(0), 68.0, "three windows of 34, 34, 32 s");
        assert_eq!(w.iter().map(ArrivalSeries::len_s).sum::<u64>(), 200);
        let whole = episode_windows(std::slice::from_ref(&a), 1000);
        assert_eq!(whole, vec![a]);
    }

    #[test]
    fn the_candidate_starts_from_the_current_weights_and_is_reproducible() {
        for algo in [Algo::Dqn, Algo::Ppo] {
            let current = small_model(algo, 3);
            let twin = SimConfig {
                decision_interval_s: 15,
                ..SimConfig::default()
            };
            let a = train_candidate(&current, &twin, &traffic(), &spec(1)).unwrap();
            let b = train_candidate(&current, &twin, &traffic(), &spec(1)).unwrap();
            let c = train_candidate(&current, &twin, &traffic(), &spec(2)).unwrap();
            let (wa, wb, wc) = (
                network_weights(&a.network),
                network_weights(&b.network),
                network_weights(&c.network),
            );
            let base = network_weights(&current.network);
            assert_eq!(wa, wb, "{algo:?}: same seed, same candidate");
            assert_ne!(wa, wc, "{algo:?}: the seed matters");
            assert_ne!(wa, base, "{algo:?}: training moved the weights");
            assert_eq!(wa.len(), base.len());
            // Fine-tuning, not starting over: the weights stay near the base.
            let moved: f32 = wa.iter().zip(&base).map(|(x, y)| (x - y).abs()).sum();
            let fresh = common::rl::fleet_model::fresh_weights(algo, &current.config, 99);
            let apart: f32 = fresh.iter().zip(&base).map(|(x, y)| (x - y).abs()).sum();
            assert!(
                moved < apart / 4.0,
                "{algo:?}: moved {moved}, fresh is {apart} away"
            );
            assert_eq!(a.manifest.algo, algo);
            assert_eq!(a.manifest.timesteps, current.manifest.timesteps + 300);
            assert_eq!(a.config.env.sim, twin);
            assert_eq!(a.actions, current.actions);
            assert!(a.config.training.scenarios[0].starts_with("twin:recorded"));
            a.config.validate().unwrap();
        }
    }

    #[test]
    fn a_hybrid_trains_its_dqn_and_keeps_its_tuner() {
        let current = small_model(Algo::Hybrid, 4);
        let cand = train_candidate(&current, &SimConfig::default(), &traffic(), &spec(1)).unwrap();
        let (TrainedNetwork::Hybrid(before), TrainedNetwork::Hybrid(after)) =
            (&current.network, &cand.network)
        else {
            panic!("hybrids in, hybrid out");
        };
        assert_eq!(flatten(&before.tuner), flatten(&after.tuner));
        assert_ne!(flatten(&before.dqn), flatten(&after.dqn));
    }

    #[test]
    fn no_budget_or_no_traffic_is_refused() {
        let current = small_model(Algo::Dqn, 1);
        let zero = RetrainSpec {
            timesteps: 0,
            ..spec(1)
        };
        assert!(matches!(
            train_candidate(&current, &SimConfig::default(), &traffic(), &zero),
            Err(RetrainError::Input(_))
        ));
        assert!(matches!(
            train_candidate(&current, &SimConfig::default(), &[], &spec(1)),
            Err(RetrainError::Input(_))
        ));
        let mut bad = SimConfig::default();
        bad.replicas.max = 0;
        let err = train_candidate(&current, &bad, &traffic(), &spec(1)).unwrap_err();
        assert!(matches!(err, RetrainError::Setup(_)), "{err}");
    }
}
