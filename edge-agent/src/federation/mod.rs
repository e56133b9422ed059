//! Federated learning on the agent's side: the client that keeps a connection to the
//! coordinator, adopts the global models it publishes, and answers its round offers with
//! updates trained on the agent's own environment.
//!
//! The parts are kept apart by what they need: [`backoff`] (when to reconnect) and
//! [`trainer`] (what a round computes) are pure and deterministic; `models` decides which
//! global models are acceptable and [`policy`] runs one as an autoscaling policy;
//! `session` and [`client`] are the tokio shell around them that talks QUIC.
//! [`FederationClient`] is the entry point, for the `federate` command and for programs
//! that run many agents in one process.

pub mod backoff;
pub mod client;
mod models;
pub mod policy;
mod session;
pub mod trainer;

pub use backoff::{Backoff, BackoffConfig, BackoffConfigError, Jitter};
pub use client::{ClientError, ClientSetupError, ClientStats, FederationClient, FederationConfig};
pub use models::ModelRefusal;
pub use policy::{PolicyError, global_model_policy};
pub use trainer::{LocalTrainer, LocalUpdate, PayloadForm, TrainError, TrainerSetupError};
