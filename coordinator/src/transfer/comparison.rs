//! The fine-tuned model judged against its base and the HPA on the target workload.

use common::rl::artifact::{Algo, TrainConfig};
use common::rl::transfer::{Score, TransferError, Workload, evaluate_hpa, evaluate_weights};

/// Three policies on the same evaluation episodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Comparison {
    /// The Kubernetes HPA (70 % CPU).
    pub(crate) hpa: Score,
    /// The base version, unchanged.
    pub(crate) base: Score,
    /// The fine-tuned weights.
    pub(crate) tuned: Score,
}

impl Comparison {
    /// Plays all three greedily on `workload`.
    pub(crate) fn run(
        algo: Algo,
        cfg: &TrainConfig,
        base: &[f32],
        tuned: &[f32],
        workload: &Workload,
    ) -> Result<Self, TransferError> {
        Ok(Self {
            hpa: evaluate_hpa(&cfg.env, workload)?,
            base: evaluate_weights(algo, cfg, base, workload)?,
            tuned: evaluate_weights(algo, cfg, tuned, workload)?,
        })
    }
}
