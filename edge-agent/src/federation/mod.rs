//! Federated learning on the agent's side.
//!
//! [`backoff`] decides when to reconnect to the coordinator and [`trainer`] computes a
//! round's local update; both are pure and deterministic, so they are tested without
//! clocks or sockets.

pub mod backoff;
pub mod trainer;

pub use backoff::{Backoff, BackoffConfig, BackoffConfigError, Jitter};
pub use trainer::{LocalTrainer, LocalUpdate, PayloadForm, TrainError, TrainerSetupError};
