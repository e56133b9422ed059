//! Proximal policy optimisation (clipped surrogate) with GAE.

mod config;
mod gae;
mod loss;

pub use config::PpoConfig;
pub use gae::gae;
pub use loss::{LossInputs, PpoLoss, normalize_advantages, ppo_loss};

#[cfg(test)]
mod tests;
