//! Fine-tuning a base model on a workload's own traffic.

use crate::error::ConfigError;
use crate::rl::artifact::{Algo, TrainConfig};
use crate::rl::episodes::{EpisodeCycle, EpisodeStats};
use crate::scenario::Scenario;

use super::TransferError;
use super::learner::Learner;

/// A DQN's ε-greedy schedule while fine-tuning: linear from `start` to `end` over the
/// first `fraction` of the run, then flat. PPO ignores it: it explores by sampling its
/// own policy, which a trained base already makes fairly sure of itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exploration {
    /// ε at the first step.
    pub start: f64,
    /// ε from the end of the decay on.
    pub end: f64,
    /// Share of the run the decay takes.
    pub fraction: f64,
}

impl Exploration {
    /// For a base that already acts sensibly: 0.2 → 0.02 over the first 30 %. Training
    /// from scratch starts at 1.0, but a transferred model mostly needs to try the
    /// alternatives near what it already does, and wholly random play at the start
    /// would fill the replay buffer with traffic jams the base never causes.
    pub const FINE_TUNE: Self = Self {
        start: 0.2,
        end: 0.02,
        fraction: 0.3,
    };

    fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("exploration.start", self.start),
            ("exploration.end", self.end),
            ("exploration.fraction", self.fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::invalid(
                    field,
                    format!("must be in [0, 1], got {v}"),
                ));
            }
        }
        Ok(())
    }
}

impl Default for Exploration {
    fn default() -> Self {
        Self::FINE_TUNE
    }
}

/// What to fine-tune on and how.
#[derive(Debug, Clone)]
pub struct FineTuneSpec {
    /// The target workload's training scenarios, played round-robin with training seeds
    /// (see [`EpisodeCycle`]).
    pub scenarios: Vec<Scenario>,
    /// Environment steps to train for.
    pub steps: u64,
    /// Train only the head, keeping the base's feature extractor bit for bit.
    pub freeze: bool,
    /// Seed of the learner and of the training traffic.
    pub seed: u64,
    /// A DQN's exploration schedule.
    pub exploration: Exploration,
}

/// The result of a fine-tune.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuned {
    /// The tuned weights, in the base's layout.
    pub weights: Vec<f32>,
    /// The training episodes finished on the way.
    pub episodes: Vec<EpisodeStats>,
}

/// Trains `algo`'s network, starting from `base` (laid out as
/// [`crate::rl::params::flatten`] reads the architecture `cfg` describes), on the
/// spec's scenarios. Deterministic for a seed.
pub fn fine_tune(
    algo: Algo,
    cfg: &TrainConfig,
    base: &[f32],
    spec: &FineTuneSpec,
) -> Result<FineTuned, TransferError> {
    fine_tune_with_progress(algo, cfg, base, spec, |_| {})
}

/// [`fine_tune`], calling `on_step` with the steps trained so far after every step (for
/// a progress display; it must be cheap).
pub fn fine_tune_with_progress(
    algo: Algo,
    cfg: &TrainConfig,
    base: &[f32],
    spec: &FineTuneSpec,
    mut on_step: impl FnMut(u64),
) -> Result<FineTuned, TransferError> {
    cfg.validate()?;
    spec.exploration.validate()?;
    let mut episodes = EpisodeCycle::new(cfg.env.clone(), spec.scenarios.clone(), spec.seed)?;
    let learner = Learner::from_base(
        algo,
        cfg,
        base,
        spec.freeze,
        &spec.exploration,
        spec.steps,
        spec.seed,
    )?;
    let (learner, episodes) = learner.train(&mut episodes, spec.steps, |steps, _| {
        on_step(steps);
        std::ops::ControlFlow::Continue(())
    });
    Ok(FineTuned {
        weights: learner.weights(),
        episodes,
    })
}
