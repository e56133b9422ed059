//! Where training experience comes from: the training scenarios played round-robin, each
//! episode with a fresh seed from a range disjoint from evaluation seeds.

use crate::env::{Env, EnvConfig};
use crate::error::ConfigError;
use crate::scenario::Scenario;

/// Training episodes use seeds from here up; evaluation seeds stay below it, so no policy
/// is scored on the exact traffic it trained on.
pub const TRAINING_SEED_BASE: u64 = 10_000;

/// An endless supply of training episodes.
#[derive(Debug, Clone)]
pub struct EpisodeCycle {
    cfg: EnvConfig,
    scenarios: Vec<Scenario>,
    seed: u64,
    next: u64,
}

/// Which episode an environment plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeId {
    /// Zero-based episode number.
    pub index: u64,
    /// Scenario name.
    pub scenario: String,
    /// Traffic seed.
    pub seed: u64,
}

impl EpisodeCycle {
    /// Episodes over `scenarios` (at least one), seeds derived from `seed`.
    pub fn new(cfg: EnvConfig, scenarios: Vec<Scenario>, seed: u64) -> Result<Self, ConfigError> {
        if scenarios.is_empty() {
            return Err(ConfigError::invalid(
                "scenarios",
                "training needs at least one scenario",
            ));
        }
        cfg.validate()?;
        Ok(Self {
            cfg,
            scenarios,
            seed,
            next: 0,
        })
    }

    /// The next episode's environment.
    pub fn next_env(&mut self) -> (Env, EpisodeId) {
        let index = self.next;
        self.next += 1;
        let scenario = &self.scenarios[(index % self.scenarios.len() as u64) as usize];
        let seed = TRAINING_SEED_BASE
            + self.seed.wrapping_mul(1_000_003).wrapping_add(index) % 1_000_000_000;
        let env = Env::new(
            self.cfg.clone(),
            scenario.arrivals(seed),
            Scenario::sim_seed(seed),
        )
        .expect("configuration validated at construction");
        (
            env,
            EpisodeId {
                index,
                scenario: scenario.name().to_owned(),
                seed,
            },
        )
    }
}

/// One finished training episode, as the training loops report it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeStats {
    /// Which episode.
    pub id: EpisodeId,
    /// Environment steps taken when it ended (over all episodes).
    pub total_steps: u64,
    /// Sum of rewards.
    pub episode_return: f64,
    /// Steps in the episode.
    pub length: u64,
}
