//! The clipped-surrogate objective itself, independent of how the policy's
//! log-probabilities and entropy are computed, so the discrete actor (softmax) and the
//! hybrid's Gaussian tuner are trained by the same code.

use burn::tensor::Tensor;

use super::config::PpoConfig;
use super::loss::PpoLoss;

/// The knobs the objective reads: clip range, optional value clip, and the weights of the
/// value loss and the entropy bonus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurrogateSettings {
    /// ε of `clip(r, 1 − ε, 1 + ε)`.
    pub clip_range: f64,
    /// How far a value prediction may move from its rollout estimate, if limited.
    pub clip_range_vf: Option<f64>,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
}

impl From<&PpoConfig> for SurrogateSettings {
    fn from(cfg: &PpoConfig) -> Self {
        Self {
            clip_range: cfg.clip_range,
            clip_range_vf: cfg.clip_range_vf,
            vf_coef: cfg.vf_coef,
            ent_coef: cfg.ent_coef,
        }
    }
}

/// What the rollout recorded for a minibatch besides the actions, each `[n, 1]`.
#[derive(Debug, Clone)]
pub struct SampleTargets {
    /// Log-probabilities of the taken actions under the policy that collected the rollout.
    pub old_log_probs: Tensor<2>,
    /// The critic's values at collection time; only value clipping reads them.
    pub old_values: Tensor<2>,
    /// Advantages, already normalised if the configuration asks for it.
    pub advantages: Tensor<2>,
    /// GAE return targets for the critic.
    pub returns: Tensor<2>,
}

/// The PPO loss from the current policy's `log_prob` of the taken actions `[n, 1]`, its
/// mean `entropy` `[1]`, and the critic's `values` `[n, 1]`.
pub fn clipped_surrogate(
    log_prob: Tensor<2>,
    entropy: Tensor<1>,
    values: Tensor<2>,
    targets: SampleTargets,
    s: &SurrogateSettings,
) -> PpoLoss {
    let eps = s.clip_range;
    let log_ratio = log_prob - targets.old_log_probs;
    let ratio = log_ratio.clone().exp();
    let unclipped = ratio.clone() * targets.advantages.clone();
    let clipped = ratio.clone().clamp(1.0 - eps, 1.0 + eps) * targets.advantages;
    let policy = -unclipped.min_pair(clipped).mean();

    let predicted = match s.clip_range_vf {
        Some(c) => {
            let old = targets.old_values;
            old.clone() + (values - old).clamp(-c, c)
        }
        None => values,
    };
    let value = (predicted - targets.returns).square().mean();

    let total = policy.clone() + value.clone().mul_scalar(s.vf_coef)
        - entropy.clone().mul_scalar(s.ent_coef);

    let ratio = ratio.inner();
    let approx_kl = ((ratio.clone() - 1.0) - log_ratio.inner()).mean();
    let clip_fraction = (ratio - 1.0).abs().greater_elem(eps).float().mean();
    PpoLoss {
        total,
        policy: policy.inner(),
        value: value.inner(),
        entropy: entropy.inner(),
        approx_kl,
        clip_fraction,
    }
}
