//! Transfer fine-tunes in the registry: picking the base version and checking it fits
//! the training configuration, judging the tuned model against its base and the HPA on
//! the target workload, and describing the new version so that agents announcing the
//! workload's tag receive it (the server answers their hello with
//! `Registry::latest_for_workload`). The learning itself is `common::rl::transfer`.

mod base;
mod comparison;
mod error;
mod tag;
mod version;

pub(crate) use base::{BaseModel, BaseRef};
pub(crate) use comparison::Comparison;
pub(crate) use error::TransferError;
pub(crate) use tag::WorkloadTag;
pub(crate) use version::fine_tune_version;

#[cfg(test)]
mod tests;
