//! Where training experience comes from: the training scenarios played round-robin, each
//! episode with a fresh seed from a range disjoint from evaluation seeds.

use crate::env::{Env, EnvConfig, Observation, Step};
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

/// The episode bookkeeping every training loop shares: the environment being played,
/// the observation the next decision is made on, the running return, and the finished
/// episodes' statistics. A loop decides and steps; [`Self::record`] does the rest.
#[derive(Debug)]
pub struct EpisodeRun {
    env: Env,
    id: EpisodeId,
    observation: Observation,
    episode_return: f64,
    length: u64,
    finished: Vec<EpisodeStats>,
}

impl EpisodeRun {
    /// Starts on the next episode of `episodes`.
    pub fn start(episodes: &mut EpisodeCycle) -> Self {
        let (env, id) = episodes.next_env();
        Self {
            observation: *env.observation(),
            env,
            id,
            episode_return: 0.0,
            length: 0,
            finished: Vec::new(),
        }
    }

    /// The environment being played, to step.
    pub fn env(&mut self) -> &mut Env {
        &mut self.env
    }

    /// What the next decision sees.
    pub fn observation(&self) -> Observation {
        self.observation
    }

    /// Accounts for `step`; when it ended the episode, records the episode (with the
    /// learner's `total_steps`) and moves on to the next one from `episodes`.
    pub fn record(&mut self, step: &Step, total_steps: u64, episodes: &mut EpisodeCycle) {
        self.episode_return += step.reward;
        self.length += 1;
        self.observation = step.observation;
        if step.done {
            self.finished.push(EpisodeStats {
                id: self.id.clone(),
                total_steps,
                episode_return: self.episode_return,
                length: self.length,
            });
            (self.env, self.id) = episodes.next_env();
            self.observation = *self.env.observation();
            self.episode_return = 0.0;
            self.length = 0;
        }
    }

    /// The episodes finished so far.
    pub fn finished(&self) -> &[EpisodeStats] {
        &self.finished
    }

    /// The episodes finished, once the run is over.
    pub fn into_finished(self) -> Vec<EpisodeStats> {
        self.finished
    }
}
