//! The PPO training loop over simulated episodes.

use std::ops::ControlFlow;

use super::config::PpoConfig;
use super::learner::PpoLearner;
use super::rollout::RolloutStep;
use crate::rl::episodes::{EpisodeCycle, EpisodeRun, EpisodeStats};

/// Trains PPO for `timesteps` environment steps. `on_step` is called after every step
/// with the learner and the episodes finished so far (for progress display; the latest
/// update's statistics are in [`PpoLearner::last_update`]).
///
/// Updates run every `n_steps` steps, so steps after the last full rollout are collected
/// but not learned from.
pub fn train_ppo(
    cfg: PpoConfig,
    episodes: &mut EpisodeCycle,
    actions: usize,
    timesteps: u64,
    seed: u64,
    on_step: impl FnMut(&PpoLearner, &[EpisodeStats]),
) -> (PpoLearner, Vec<EpisodeStats>) {
    let learner = PpoLearner::new(cfg, actions, seed);
    continue_ppo(learner, episodes, timesteps, on_step)
}

/// Trains an existing learner (transferred weights, a frozen extractor) for `timesteps`
/// more environment steps; otherwise as [`train_ppo`]. Steps the learner holds from an
/// unfinished rollout are dropped: their episode cannot be resumed, and GAE would
/// otherwise run on from them into the first new episode.
pub fn continue_ppo(
    learner: PpoLearner,
    episodes: &mut EpisodeCycle,
    timesteps: u64,
    mut on_step: impl FnMut(&PpoLearner, &[EpisodeStats]),
) -> (PpoLearner, Vec<EpisodeStats>) {
    run_ppo(learner, episodes, timesteps, |l, s| {
        on_step(l, s);
        ControlFlow::Continue(())
    })
}

/// [`continue_ppo`] that stops early, after the step on which `on_step` breaks.
pub(crate) fn run_ppo(
    mut learner: PpoLearner,
    episodes: &mut EpisodeCycle,
    timesteps: u64,
    mut on_step: impl FnMut(&PpoLearner, &[EpisodeStats]) -> ControlFlow<()>,
) -> (PpoLearner, Vec<EpisodeStats>) {
    learner.drop_partial_rollout();
    let end = learner.steps() + timesteps;
    let mut run = EpisodeRun::start(episodes);
    while learner.steps() < end {
        let obs = run.observation();
        let (action, log_prob, value) = learner.act(&obs.0, true);
        let step = run.env().step(action);
        learner.observe(RolloutStep {
            observation: obs.0,
            action,
            log_prob,
            value,
            reward: step.reward as f32,
            next_observation: step.observation.0,
            done: step.done,
        });
        run.record(&step, learner.steps(), episodes);
        if on_step(&learner, run.finished()).is_break() {
            break;
        }
    }
    (learner, run.into_finished())
}
