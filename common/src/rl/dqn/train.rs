//! The DQN training loop over simulated episodes.

use super::config::DqnConfig;
use super::learner::DqnLearner;
use crate::env::Observation;
use crate::rl::episodes::{EpisodeCycle, EpisodeStats};
use crate::rl::replay::Transition;

/// Trains a DQN for `timesteps` environment steps. `on_step` is called after every step
/// with the learner and the episodes finished so far (for progress display).
pub fn train_dqn(
    cfg: DqnConfig,
    episodes: &mut EpisodeCycle,
    actions: usize,
    timesteps: u64,
    seed: u64,
    mut on_step: impl FnMut(&DqnLearner, &[EpisodeStats]),
) -> (DqnLearner, Vec<EpisodeStats>) {
    let mut learner = DqnLearner::new(cfg, actions, timesteps, seed);
    let mut stats = Vec::new();
    let (mut env, mut id) = episodes.next_env();
    let mut obs: Observation = *env.observation();
    let (mut ret, mut len) = (0.0, 0u64);
    while learner.steps() < timesteps {
        let action = learner.act(&obs.0, true);
        let step = env.step(action);
        ret += step.reward;
        len += 1;
        learner.observe(Transition {
            observation: obs.0,
            action: action as u32,
            reward: step.reward as f32,
            next_observation: step.observation.0,
            done: step.done,
        });
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
    (learner, stats)
}
