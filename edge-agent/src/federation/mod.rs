//! Federated learning on the agent's side.
//!
//! [`backoff`] decides when to reconnect to the coordinator; it is pure and
//! deterministic, so it is tested without clocks.

pub mod backoff;

pub use backoff::{Backoff, BackoffConfig, BackoffConfigError, Jitter};
