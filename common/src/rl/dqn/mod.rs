//! Double DQN.

mod config;
mod learner;
mod target;
mod train;

pub use config::DqnConfig;
pub use learner::{DqnLearner, q_values};
pub use target::{argmax, double_dqn_targets};
pub(crate) use train::run_dqn;
pub use train::{continue_dqn, train_dqn};

/// Kept here too for callers that imported it from this module before PPO shared it.
pub use crate::rl::episodes::EpisodeStats;
