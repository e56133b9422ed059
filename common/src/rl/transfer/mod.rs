//! Transfer learning: a model trained elsewhere (the fleet's global model, a shipped
//! default) adapted to a new workload, and the measurement that says whether that beats
//! starting over.
//!
//! [`fine_tune`] continues training from a flat weight vector, optionally with the
//! feature extractor frozen so only the head adapts, and with the gentle exploration a
//! model that already acts sensibly needs. [`steps_to_reach`] races a learner, from a
//! base or from scratch, against the Kubernetes HPA on held-out episodes of the target
//! workload and reports how many training steps it took to match the HPA's cost without
//! giving up its SLO compliance.
//!
//! Everything here is pure computation on the simulator: no files, no clock. Callers
//! (the coordinator's `fine-tune` and `simulate`) read weights and traces and print.

mod error;
mod fine_tune;
mod learner;
mod race;
mod workload;

pub use error::TransferError;
pub use fine_tune::{Exploration, FineTuneSpec, FineTuned, fine_tune, fine_tune_with_progress};
pub use race::{CurvePoint, Race, RaceSpec, Start, steps_to_reach};
pub use workload::{Score, Workload, evaluate_hpa, evaluate_oracle, evaluate_weights};

#[cfg(test)]
mod tests;
