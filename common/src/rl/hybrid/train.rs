//! The hybrid's training loop over simulated episodes.

use super::config::HybridConfig;
use super::learner::HybridLearner;
use crate::env::Observation;
use crate::rl::dqn::DqnConfig;
use crate::rl::episodes::{EpisodeCycle, EpisodeStats};

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
    let (mut env, mut id) = episodes.next_env();
    let mut learner = HybridLearner::new(dqn, cfg, env.config(), timesteps, seed);
    let max_replicas = env.config().sim.replicas.max;
    let mut stats = Vec::new();
    let mut obs: Observation = *env.observation();
    let (mut ret, mut len) = (0.0, 0u64);
    while learner.steps() < timesteps {
        let (action, desired) = learner.decide(&obs, env.sim().spec_replicas(), max_replicas, true);
        let step = env.step_to(desired);
        ret += step.reward;
        len += 1;
        learner.observe(&obs, action, &step, max_replicas);
        obs = step.observation;
        if step.done {
            stats.push(EpisodeStats {
                id: id.clone(),
                total_steps: learner.steps(),
                episode_return: ret,
                length: len,
            });
            (env, id) = episodes.next_env();
            obs = *env.observation();
            ret = 0.0;
            len = 0;
        }
        on_step(&learner, &stats);
    }
    learner.abandon_episode();
    (learner, stats)
}
