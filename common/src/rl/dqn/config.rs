//! DQN hyperparameters, with the seed's values as defaults.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Double DQN settings. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// Adam learning rate. Default 5e-4.
    pub learning_rate: f64,
    /// Transitions kept for replay. Default 100,000.
    pub buffer_size: usize,
    /// Transitions per gradient step. Default 64.
    pub batch_size: usize,
    /// Discount factor. Default 0.99.
    pub gamma: f64,
    /// Environment steps between hard copies of the online network into the target
    /// network. Default 2,000.
    pub target_update_interval: u64,
    /// ε at the start of training. Default 1.0.
    pub exploration_initial: f64,
    /// ε once the decay is over. Default 0.07.
    pub exploration_final: f64,
    /// Fraction of the training steps over which ε decays linearly. Default 0.3.
    pub exploration_fraction: f64,
    /// Environment steps collected before the first gradient step. Default 1,000.
    pub learning_starts: u64,
    /// Environment steps between gradient steps. Default 4.
    pub train_frequency: u64,
    /// Global gradient-norm clip. Default 10.
    pub max_grad_norm: f64,
    /// Hidden layer widths of the Q-network. Default [256, 256, 128].
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer during training (none at inference); one entry per
    /// hidden layer, 0 for none. Default [0.2, 0.1, 0.0].
    pub dropout: Vec<f64>,
    /// FedProx's μ: adds μ/2 · ‖θ − θ₀‖² to the loss, θ₀ being the weights the learner
    /// was built from or last loaded (in federation, the round's global model), so that
    /// local training cannot drift far from what the fleet agreed on. Default 0 (off,
    /// plain FedAvg local training).
    pub proximal_mu: f64,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self {
            learning_rate: 5e-4,
            buffer_size: 100_000,
            batch_size: 64,
            gamma: 0.99,
            target_update_interval: 2_000,
            exploration_initial: 1.0,
            exploration_final: 0.07,
            exploration_fraction: 0.3,
            learning_starts: 1_000,
            train_frequency: 4,
            max_grad_norm: 10.0,
            hidden: vec![256, 256, 128],
            dropout: vec![0.2, 0.1, 0.0],
            proximal_mu: 0.0,
        }
    }
}

impl DqnConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unit = |f: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    format!("dqn.{f}"),
                    format!("must be in [0, 1], got {v}"),
                ))
            }
        };
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(ConfigError::invalid(
                "dqn.learning_rate",
                "must be positive",
            ));
        }
        if self.buffer_size == 0 || self.batch_size == 0 {
            return Err(ConfigError::invalid(
                "dqn.batch_size",
                "buffer and batch must hold at least one transition",
            ));
        }
        unit("gamma", self.gamma)?;
        unit("exploration_initial", self.exploration_initial)?;
        unit("exploration_final", self.exploration_final)?;
        unit("exploration_fraction", self.exploration_fraction)?;
        if self.train_frequency == 0 || self.target_update_interval == 0 {
            return Err(ConfigError::invalid(
                "dqn.train_frequency",
                "intervals must be at least 1 step",
            ));
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(ConfigError::invalid(
                "dqn.hidden",
                "needs at least one layer, each at least 1 wide",
            ));
        }
        if self.dropout.len() != self.hidden.len() {
            return Err(ConfigError::invalid(
                "dqn.dropout",
                "needs one entry per hidden layer",
            ));
        }
        for &p in &self.dropout {
            if !(0.0..1.0).contains(&p) {
                return Err(ConfigError::invalid(
                    "dqn.dropout",
                    format!("probabilities must be in [0, 1), got {p}"),
                ));
            }
        }
        if !(self.proximal_mu.is_finite() && self.proximal_mu >= 0.0) {
            return Err(ConfigError::invalid(
                "dqn.proximal_mu",
                format!("must be a finite number ≥ 0, got {}", self.proximal_mu),
            ));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(ConfigError::invalid(
                "dqn.max_grad_norm",
                "must be positive",
            ));
        }
        Ok(())
    }
}
