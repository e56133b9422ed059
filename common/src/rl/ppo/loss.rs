//! The PPO objective on one minibatch for the discrete actor, kept apart from the learner
//! so it can be checked against hand-computed numbers.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::config::PpoConfig;
use super::surrogate::{SampleTargets, clipped_surrogate};

/// What the rollout recorded for a minibatch, each `[n, 1]`.
#[derive(Debug, Clone)]
pub struct LossInputs {
    /// Actions taken.
    pub actions: Tensor<2, Int>,
    /// Their log-probabilities under the policy that collected the rollout.
    pub old_log_probs: Tensor<2>,
    /// The critic's values at collection time; only value clipping reads them.
    pub old_values: Tensor<2>,
    /// Advantages, already normalised if the configuration asks for it.
    pub advantages: Tensor<2>,
    /// GAE return targets for the critic.
    pub returns: Tensor<2>,
}

/// The loss and its parts. `total` carries the graph; the rest are for logging and are
/// detached from it.
#[derive(Debug, Clone)]
pub struct PpoLoss {
    /// `policy + vf_coef·value − ent_coef·entropy`.
    pub total: Tensor<1>,
    /// Clipped surrogate loss, `−mean(min(r·A, clip(r, 1−ε, 1+ε)·A))`.
    pub policy: Tensor<1>,
    /// `mean((V − R)²)`, with `V` clipped around the old value when configured.
    pub value: Tensor<1>,
    /// Mean policy entropy.
    pub entropy: Tensor<1>,
    /// `mean((r − 1) − ln r)`: an estimate of KL(old ‖ new) that is never negative
    /// (Schulman's k3 estimator), watched to see whether updates move the policy too far.
    pub approx_kl: Tensor<1>,
    /// Share of samples whose ratio left `1 ± ε`.
    pub clip_fraction: Tensor<1>,
}

/// The clipped-surrogate PPO loss for the current network's `logits` `[n, actions]` and
/// `values` `[n, 1]`. Reads `clip_range`, `clip_range_vf`, `vf_coef` and `ent_coef`.
pub fn ppo_loss(
    logits: Tensor<2>,
    values: Tensor<2>,
    inputs: LossInputs,
    cfg: &PpoConfig,
) -> PpoLoss {
    let log_p = log_softmax(logits, 1);
    let entropy = -(log_p.clone().exp() * log_p.clone()).sum_dim(1).mean();
    let log_prob = log_p.gather(1, inputs.actions);
    let targets = SampleTargets {
        old_log_probs: inputs.old_log_probs,
        old_values: inputs.old_values,
        advantages: inputs.advantages,
        returns: inputs.returns,
    };
    clipped_surrogate(log_prob, entropy, values, targets, &cfg.into())
}

/// Rescales advantages to zero mean and unit (sample) standard deviation, so the policy
/// step size does not depend on the reward's scale. A single sample has no spread and is
/// left alone.
pub fn normalize_advantages(advantages: &mut [f32]) {
    let n = advantages.len();
    if n < 2 {
        return;
    }
    let mean = advantages.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64;
    let var = advantages
        .iter()
        .map(|&a| (f64::from(a) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let scale = 1.0 / (var.sqrt() + 1e-8);
    for a in advantages {
        *a = ((f64::from(*a) - mean) * scale) as f32;
    }
}
