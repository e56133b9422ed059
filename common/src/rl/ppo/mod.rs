//! Proximal policy optimisation (clipped surrogate) with GAE.

mod config;
mod epochs;
mod gae;
mod learner;
mod loss;
mod rollout;
mod surrogate;
mod train;

pub use config::PpoConfig;
pub(crate) use epochs::{minibatches, optimise};
pub use gae::gae;
pub(crate) use learner::explained_variance;
pub use learner::{PpoLearner, PpoStats, action_probabilities};
pub use loss::{LossInputs, PpoLoss, normalize_advantages, ppo_loss};
pub use rollout::RolloutStep;
pub use surrogate::{SampleTargets, SurrogateSettings, clipped_surrogate};
pub(crate) use train::run_ppo;
pub use train::{continue_ppo, train_ppo};

#[cfg(test)]
mod tests;
