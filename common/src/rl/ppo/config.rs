//! PPO hyperparameters, with the seed's values as defaults.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Clipped-surrogate PPO settings. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Adam learning rate. Default 3e-4.
    pub learning_rate: f64,
    /// Environment steps per rollout. Default 2,048.
    pub n_steps: usize,
    /// Transitions per minibatch. Default 64.
    pub batch_size: usize,
    /// Passes over each rollout. Default 10.
    pub n_epochs: usize,
    /// Discount factor. Default 0.99.
    pub gamma: f64,
    /// GAE λ. Default 0.95.
    pub gae_lambda: f64,
    /// Surrogate clip range. Default 0.2.
    pub clip_range: f64,
    /// When set, the value prediction may move at most this far from the rollout's value
    /// estimate per update before the value loss sees it. Off by default: returns here are
    /// on the reward's scale, not normalised, so a fixed clip would throttle the critic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_range_vf: Option<f64>,
    /// Entropy bonus coefficient. Default 0.01.
    pub ent_coef: f64,
    /// Value loss coefficient. Default 0.5.
    pub vf_coef: f64,
    /// Gradient-norm clip. Default 0.5.
    pub max_grad_norm: f64,
    /// Normalise advantages per minibatch. Default true.
    pub normalize_advantage: bool,
    /// Widths of the shared tanh feature extractor. Default [256, 256].
    pub hidden: Vec<usize>,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            learning_rate: 3e-4,
            n_steps: 2_048,
            batch_size: 64,
            n_epochs: 10,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: 0.2,
            clip_range_vf: None,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            normalize_advantage: true,
            hidden: vec![256, 256],
        }
    }
}

impl PpoConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(ConfigError::invalid(
                "ppo.learning_rate",
                "must be positive",
            ));
        }
        if self.n_steps < 2 || self.batch_size == 0 || self.batch_size > self.n_steps {
            return Err(ConfigError::invalid(
                "ppo.batch_size",
                "needs 0 < batch_size ≤ n_steps and n_steps ≥ 2",
            ));
        }
        if self.n_epochs == 0 {
            return Err(ConfigError::invalid("ppo.n_epochs", "must be at least 1"));
        }
        for (f, v) in [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::invalid(
                    format!("ppo.{f}"),
                    format!("must be in [0, 1], got {v}"),
                ));
            }
        }
        if self.clip_range.is_nan()
            || self.clip_range <= 0.0
            || self.max_grad_norm.is_nan()
            || self.max_grad_norm <= 0.0
        {
            return Err(ConfigError::invalid(
                "ppo.clip_range",
                "clip range and gradient clip must be positive",
            ));
        }
        if self.clip_range_vf.is_some_and(|c| c.is_nan() || c <= 0.0) {
            return Err(ConfigError::invalid(
                "ppo.clip_range_vf",
                "must be positive when set",
            ));
        }
        if self.ent_coef < 0.0 || self.vf_coef < 0.0 {
            return Err(ConfigError::invalid(
                "ppo.ent_coef",
                "coefficients must be zero or more",
            ));
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(ConfigError::invalid(
                "ppo.hidden",
                "needs at least one layer, each at least 1 wide",
            ));
        }
        Ok(())
    }
}
