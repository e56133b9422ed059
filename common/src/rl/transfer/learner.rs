//! One handle over both learners, so a fine-tune and a race are written once.

use std::ops::ControlFlow;

use crate::rl::artifact::{Algo, TrainConfig, TrainedNetwork};
use crate::rl::dqn::{DqnConfig, DqnLearner, run_dqn};
use crate::rl::episodes::{EpisodeCycle, EpisodeStats};
use crate::rl::params::flatten;
use crate::rl::ppo::{PpoLearner, run_ppo};

use super::TransferError;
use super::fine_tune::Exploration;

/// A DQN or PPO learner in training (boxed: both are large and moved around whole). A
/// hybrid transfers its DQN, the part the fleet shares, so it trains as a DQN here.
#[derive(Debug)]
pub(super) enum Learner {
    Dqn(Box<DqnLearner>),
    Ppo(Box<PpoLearner>),
}

impl Learner {
    /// A freshly initialised learner that will train for `budget` steps, exploring as
    /// the configuration says (DQN: ε from 1.0 by default).
    pub(super) fn scratch(algo: Algo, cfg: &TrainConfig, budget: u64, seed: u64) -> Self {
        let actions = cfg.env.actions.len();
        match algo {
            Algo::Dqn | Algo::Hybrid => Self::Dqn(Box::new(DqnLearner::new(
                cfg.dqn.clone(),
                actions,
                budget,
                seed,
            ))),
            Algo::Ppo => Self::Ppo(Box::new(PpoLearner::new(cfg.ppo.clone(), actions, seed))),
        }
    }

    /// A learner starting from `base`, its extractor frozen if `freeze`, a DQN exploring
    /// with `exploration` over a run of `budget` steps.
    pub(super) fn from_base(
        algo: Algo,
        cfg: &TrainConfig,
        base: &[f32],
        freeze: bool,
        exploration: &Exploration,
        budget: u64,
        seed: u64,
    ) -> Result<Self, TransferError> {
        let actions = cfg.env.actions.len();
        let misfit = |source| TransferError::BaseWeights {
            algo: algo.name(),
            source,
        };
        Ok(match algo {
            Algo::Dqn | Algo::Hybrid => {
                let dqn = DqnConfig {
                    exploration_initial: exploration.start,
                    exploration_final: exploration.end,
                    exploration_fraction: exploration.fraction,
                    ..cfg.dqn.clone()
                };
                let mut l =
                    DqnLearner::from_weights(dqn, actions, budget, base, seed).map_err(misfit)?;
                if freeze {
                    l.freeze_extractor();
                }
                Self::Dqn(Box::new(l))
            }
            Algo::Ppo => {
                let mut l = PpoLearner::from_weights(cfg.ppo.clone(), actions, base, seed)
                    .map_err(misfit)?;
                if freeze {
                    l.freeze_extractor();
                }
                Self::Ppo(Box::new(l))
            }
        })
    }

    /// Environment steps trained so far.
    pub(super) fn steps(&self) -> u64 {
        match self {
            Self::Dqn(l) => l.steps(),
            Self::Ppo(l) => l.steps(),
        }
    }

    /// The current network, for greedy evaluation.
    pub(super) fn network(&self) -> TrainedNetwork {
        match self {
            Self::Dqn(l) => TrainedNetwork::Dqn(l.network()),
            Self::Ppo(l) => TrainedNetwork::Ppo(l.network()),
        }
    }

    /// The current weights, flat.
    pub(super) fn weights(&self) -> Vec<f32> {
        match self {
            Self::Dqn(l) => flatten(&l.network()),
            Self::Ppo(l) => flatten(&l.network()),
        }
    }

    /// Trains for up to `steps` more steps, calling `on_step` after each with the
    /// learner's step count and its current network (built only when asked for); stops
    /// early when it breaks.
    pub(super) fn train(
        self,
        episodes: &mut EpisodeCycle,
        steps: u64,
        mut on_step: impl FnMut(u64, &dyn Fn() -> TrainedNetwork) -> ControlFlow<()>,
    ) -> (Self, Vec<EpisodeStats>) {
        match self {
            Self::Dqn(l) => {
                let (l, stats) = run_dqn(*l, episodes, steps, |l, _| {
                    on_step(l.steps(), &|| TrainedNetwork::Dqn(l.network()))
                });
                (Self::Dqn(Box::new(l)), stats)
            }
            Self::Ppo(l) => {
                let (l, stats) = run_ppo(*l, episodes, steps, |l, _| {
                    on_step(l.steps(), &|| TrainedNetwork::Ppo(l.network()))
                });
                (Self::Ppo(Box::new(l)), stats)
            }
        }
    }
}
