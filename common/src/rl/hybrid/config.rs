//! The hybrid's settings: the tuner's segment length, output ranges and operator
//! objective, and its PPO hyperparameters. The DQN inside a hybrid reads `[dqn]`.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::rl::ppo::SurrogateSettings;

/// `[hybrid]` in a training configuration. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HybridConfig {
    /// Decision intervals per tuner segment: the tuner acts once at the start of each.
    /// Default 240 (one simulated hour of 15 s decisions).
    pub segment_steps: u64,
    /// Range of the multiplier on the DQN's latency reward weight, `[low, high]`; the
    /// tuner's output is squashed onto it on a log scale, so the middle of its range is
    /// the geometric mean (1 for the default). Default [0.5, 2.0].
    pub latency_weight_range: [f64; 2],
    /// Range of the utilisation target `u*`, `[low, high]`: the replica floor keeps the
    /// observed request rate at or below `u*` of the pods' capacity. Default [0.55, 0.95].
    pub utilization_range: [f64; 2],
    /// λ of the tuner's objective `−pods/max − λ·(1 − SLO compliance) − μ·error rate`:
    /// how many "whole fleets" of pods one segment of missed SLO is worth. Default 2.0.
    pub slo_penalty: f64,
    /// μ of the tuner's objective: a 1 % error rate costs `μ/100`. Default 10.0.
    pub error_penalty: f64,
    /// Segments collected per tuner PPO update. Default 32.
    pub tuner_n_steps: usize,
    /// Segments per tuner minibatch. Default 16.
    pub tuner_batch_size: usize,
    /// Passes over each tuner rollout. Default 10.
    pub tuner_n_epochs: usize,
    /// Tuner Adam learning rate. Default 1e-3: it gets only a few dozen updates in a
    /// training run, far fewer than the per-step learners.
    pub tuner_learning_rate: f64,
    /// Tuner discount per segment. Default 0.9: a segment's floor mostly decides that
    /// segment's outcome.
    pub tuner_gamma: f64,
    /// Tuner GAE λ. Default 0.95.
    pub tuner_gae_lambda: f64,
    /// Tuner surrogate clip range. Default 0.2.
    pub tuner_clip_range: f64,
    /// Tuner entropy bonus. Default 0 (the Gaussian's spread is learned; a bonus would
    /// only hold it open).
    pub tuner_ent_coef: f64,
    /// Tuner value-loss weight. Default 0.5.
    pub tuner_vf_coef: f64,
    /// Tuner global gradient-norm clip. Default 0.5.
    pub tuner_max_grad_norm: f64,
    /// Initial log standard deviation of the tuner's Gaussian, before squashing.
    /// Default −0.5 (σ ≈ 0.61: `u*` explores about ±0.06 around the middle of its range).
    pub tuner_log_std_init: f64,
    /// Widths of the tuner's tanh trunk. Default [64, 64].
    pub tuner_hidden: Vec<usize>,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            segment_steps: 240,
            latency_weight_range: [0.5, 2.0],
            utilization_range: [0.55, 0.95],
            slo_penalty: 2.0,
            error_penalty: 10.0,
            tuner_n_steps: 32,
            tuner_batch_size: 16,
            tuner_n_epochs: 10,
            tuner_learning_rate: 1e-3,
            tuner_gamma: 0.9,
            tuner_gae_lambda: 0.95,
            tuner_clip_range: 0.2,
            tuner_ent_coef: 0.0,
            tuner_vf_coef: 0.5,
            tuner_max_grad_norm: 0.5,
            tuner_log_std_init: -0.5,
            tuner_hidden: vec![64, 64],
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(format!("hybrid.{field}"), reason.into())
}

impl HybridConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.segment_steps == 0 {
            return Err(invalid("segment_steps", "must be at least 1"));
        }
        let [lo, hi] = self.latency_weight_range;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(invalid(
                "latency_weight_range",
                format!("needs 0 < low ≤ high, got [{lo}, {hi}]"),
            ));
        }
        let [lo, hi] = self.utilization_range;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(invalid(
                "utilization_range",
                format!("needs 0 < low ≤ high ≤ 1, got [{lo}, {hi}]"),
            ));
        }
        for (f, v) in [
            ("slo_penalty", self.slo_penalty),
            ("error_penalty", self.error_penalty),
            ("tuner_ent_coef", self.tuner_ent_coef),
            ("tuner_vf_coef", self.tuner_vf_coef),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(f, format!("must be zero or more, got {v}")));
            }
        }
        if self.tuner_n_steps < 2
            || self.tuner_batch_size == 0
            || self.tuner_batch_size > self.tuner_n_steps
        {
            return Err(invalid(
                "tuner_batch_size",
                "needs 0 < tuner_batch_size ≤ tuner_n_steps and tuner_n_steps ≥ 2",
            ));
        }
        if self.tuner_n_epochs == 0 {
            return Err(invalid("tuner_n_epochs", "must be at least 1"));
        }
        for (f, v) in [
            ("tuner_learning_rate", self.tuner_learning_rate),
            ("tuner_clip_range", self.tuner_clip_range),
            ("tuner_max_grad_norm", self.tuner_max_grad_norm),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(invalid(f, format!("must be positive, got {v}")));
            }
        }
        for (f, v) in [
            ("tuner_gamma", self.tuner_gamma),
            ("tuner_gae_lambda", self.tuner_gae_lambda),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(f, format!("must be in [0, 1], got {v}")));
            }
        }
        if !self.tuner_log_std_init.is_finite() {
            return Err(invalid("tuner_log_std_init", "must be finite"));
        }
        if self.tuner_hidden.is_empty() || self.tuner_hidden.contains(&0) {
            return Err(invalid(
                "tuner_hidden",
                "needs at least one layer, each at least 1 wide",
            ));
        }
        Ok(())
    }

    /// The tuner's clipped-surrogate settings (no value clipping).
    pub fn surrogate(&self) -> SurrogateSettings {
        SurrogateSettings {
            clip_range: self.tuner_clip_range,
            clip_range_vf: None,
            vf_coef: self.tuner_vf_coef,
            ent_coef: self.tuner_ent_coef,
        }
    }
}
