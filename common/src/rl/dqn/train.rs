//! The DQN training loop over simulated episodes.

use std::ops::ControlFlow;

use super::config::DqnConfig;
use super::learner::DqnLearner;
use crate::rl::episodes::{EpisodeCycle, EpisodeRun, EpisodeStats};
use crate::rl::replay::Transition;

/// Trains a DQN for `timesteps` environment steps. `on_step` is called after every step
/// with the learner and the episodes finished so far (for progress display).
pub fn train_dqn(
    cfg: DqnConfig,
    episodes: &mut EpisodeCycle,
    actions: usize,
    timesteps: u64,
    seed: u64,
    on_step: impl FnMut(&DqnLearner, &[EpisodeStats]),
) -> (DqnLearner, Vec<EpisodeStats>) {
    let learner = DqnLearner::new(cfg, actions, timesteps, seed);
    continue_dqn(learner, episodes, timesteps, on_step)
}

/// Trains an existing learner (transferred weights, a frozen extractor) for `timesteps`
/// more environment steps; otherwise as [`train_dqn`]. The replay buffer and the ε
/// schedule carry on from where the learner is.
pub fn continue_dqn(
    learner: DqnLearner,
    episodes: &mut EpisodeCycle,
    timesteps: u64,
    mut on_step: impl FnMut(&DqnLearner, &[EpisodeStats]),
) -> (DqnLearner, Vec<EpisodeStats>) {
    run_dqn(learner, episodes, timesteps, |l, s| {
        on_step(l, s);
        ControlFlow::Continue(())
    })
}

/// [`continue_dqn`] that stops early, after the step on which `on_step` breaks.
pub(crate) fn run_dqn(
    mut learner: DqnLearner,
    episodes: &mut EpisodeCycle,
    timesteps: u64,
    mut on_step: impl FnMut(&DqnLearner, &[EpisodeStats]) -> ControlFlow<()>,
) -> (DqnLearner, Vec<EpisodeStats>) {
    let end = learner.steps() + timesteps;
    let mut run = EpisodeRun::start(episodes);
    while learner.steps() < end {
        let obs = run.observation();
        let action = learner.act(&obs.0, true);
        let step = run.env().step(action);
        learner.observe(Transition {
            observation: obs.0,
            action: action as u32,
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
