//! Proximal policy optimisation (clipped surrogate) with GAE.

mod config;
mod gae;

pub use config::PpoConfig;
pub use gae::gae;
