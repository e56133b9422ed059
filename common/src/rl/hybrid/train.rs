//! The hybrid's training loop over simulated episodes.

use super::config::HybridConfig;
use super::learner::HybridLearner;
use crate::rl::dqn::DqnConfig;
use crate::rl::episodes::{EpisodeCycle, EpisodeRun, EpisodeStats};

/// Trains a hybrid for `timesteps` environment steps. Episode returns in the statistics
/// are under the environment's own reward weights (not the tuner's), so the curve compares
/// with the DQN's and PPO's. `on_step` is called after every step.
pub fn train_hybrid(
    dqn: DqnConfig,
    cfg: HybridConfig,
    episodes: &mut EpisodeCycle,
    timesteps: u64,
    seed: u64,
    mut on_step: impl FnMut(&HybridLearner, &[EpisodeStats]),
) -> (HybridLearner, Vec<EpisodeStats>) {
    let mut run = EpisodeRun::start(episodes);
    let env_cfg = run.env().config().clone();
    let mut learner = HybridLearner::new(dqn, cfg, &env_cfg, timesteps, seed);
    let max_replicas = env_cfg.sim.replicas.max;
    while learner.steps() < timesteps {
        let obs = run.observation();
        let current = run.env().sim().spec_replicas();
        let (action, desired) = learner.decide(&obs, current, max_replicas, true);
        let step = run.env().step_to(desired);
        learner.observe(&obs, action, &step, max_replicas);
        run.record(&step, learner.steps(), episodes);
        on_step(&learner, run.finished());
    }
    learner.abandon_episode();
    (learner, run.into_finished())
}
