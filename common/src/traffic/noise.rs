//! Seeded multiplicative noise laid over a synthetic pattern.
//!
//! Real request rates wander around their trend for tens of seconds at a time (users
//! arrive in sessions) and also jitter from second to second. A policy trained on a clean
//! curve learns to trust every wiggle, so patterns get both: an AR(1) term for the slow
//! wander and a white term for the jitter. The factor multiplies the rate, so quiet
//! stretches stay quiet and noise never dominates a trough.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::TrafficError;

/// How far a pattern's rate strays from its formula.
///
/// Each second's rate is `rate · max(0, 1 + x(t) + w(t))`, where `x` is an AR(1) process
/// with stationary standard deviation `relative_sigma` and correlation time
/// `correlation_s`, and `w` is independent Gaussian noise with standard deviation
/// `white_sigma`. Both are drawn from a ChaCha8 generator seeded with the scenario seed,
/// so a seed always reproduces the same series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Standard deviation of the slow, correlated part, relative to the rate. Default 0.05:
    /// enough that a policy cannot treat the curve as exact, small enough that the
    /// pattern's shape stays recognisable.
    pub relative_sigma: f64,
    /// Seconds over which the slow part stays correlated (its autocorrelation falls to
    /// 1/e). Default 30, about two decision intervals, so the wander is visible to a
    /// policy but cannot be predicted from one observation. Zero or less makes it white.
    pub correlation_s: f64,
    /// Standard deviation of the second-to-second jitter, relative to the rate. Default
    /// 0.02; it averages out over a decision interval but keeps queues from being exactly
    /// deterministic.
    pub white_sigma: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            relative_sigma: 0.05,
            correlation_s: 30.0,
            white_sigma: 0.02,
        }
    }
}

impl NoiseConfig {
    /// No noise at all: the pattern's formula exactly, for tests and for seeing the shape.
    pub const NONE: NoiseConfig = NoiseConfig {
        relative_sigma: 0.0,
        correlation_s: 0.0,
        white_sigma: 0.0,
    };

    /// Rejects negative or non-finite values, which would otherwise be silently clamped
    /// when a series is generated.
    pub fn validate(&self) -> Result<(), TrafficError> {
        for (field, value) in [
            ("relative_sigma", self.relative_sigma),
            ("white_sigma", self.white_sigma),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(TrafficError::Invalid(format!(
                    "noise.{field} must be zero or more, got {value}"
                )));
            }
        }
        if self.correlation_s.is_nan() {
            return Err(TrafficError::Invalid(
                "noise.correlation_s must be a number".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether applying this noise leaves every rate unchanged.
    pub fn is_silent(&self) -> bool {
        sane(self.relative_sigma) == 0.0 && sane(self.white_sigma) == 0.0
    }

    /// Multiplies every rate by its noise factor. Invalid sigmas count as zero, so a bad
    /// configuration that skipped [`NoiseConfig::validate`] degrades to less noise rather
    /// than to garbage.
    pub(crate) fn apply(&self, rates: &mut [f64], seed: u64) {
        if self.is_silent() {
            return;
        }
        let sigma = sane(self.relative_sigma);
        let white = sane(self.white_sigma);
        // Per-second AR(1) coefficient for the requested correlation time; the innovation is
        // scaled so the process stays at `sigma` instead of drifting up or decaying.
        let phi = if self.correlation_s > 0.0 {
            (-1.0 / self.correlation_s).exp()
        } else {
            0.0
        };
        let innovation = sigma * (1.0 - phi * phi).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Start in the stationary distribution so the first minutes are not calmer than the rest.
        let mut x = sigma * rng.sample::<f64, _>(StandardNormal);
        for (i, rate) in rates.iter_mut().enumerate() {
            if i > 0 {
                x = phi * x + innovation * rng.sample::<f64, _>(StandardNormal);
            }
            let w = white * rng.sample::<f64, _>(StandardNormal);
            *rate *= (1.0 + x + w).max(0.0);
        }
    }
}

fn sane(sigma: f64) -> f64 {
    if sigma.is_finite() && sigma > 0.0 {
        sigma
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors(noise: &NoiseConfig, n: usize, seed: u64) -> Vec<f64> {
        let mut v = vec![1.0; n];
        noise.apply(&mut v, seed);
        v
    }

    #[test]
    fn silent_noise_changes_nothing() {
        assert!(NoiseConfig::NONE.is_silent());
        assert!(!NoiseConfig::default().is_silent());
        assert_eq!(factors(&NoiseConfig::NONE, 100, 7), vec![1.0; 100]);
    }

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        let n = NoiseConfig::default();
        let a = factors(&n, 1000, 42);
        assert_eq!(a, factors(&n, 1000, 42));
        assert_ne!(a, factors(&n, 1000, 43));
    }

    #[test]
    fn factors_have_the_configured_spread_and_correlation() {
        let n = NoiseConfig {
            relative_sigma: 0.1,
            correlation_s: 30.0,
            white_sigma: 0.0,
        };
        let f = factors(&n, 200_000, 1);
        let len = f.len() as f64;
        let mean = f.iter().sum::<f64>() / len;
        let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert!((var.sqrt() - 0.1).abs() < 0.01, "std {}", var.sqrt());
        // Lag-30 autocorrelation of an AR(1) with a 30 s correlation time is 1/e ≈ 0.37.
        let lag = 30;
        let cov = f
            .windows(lag + 1)
            .map(|w| (w[0] - mean) * (w[lag] - mean))
            .sum::<f64>()
            / (len - lag as f64);
        let rho = cov / var;
        assert!((rho - (-1.0f64).exp()).abs() < 0.05, "rho {rho}");
    }

    #[test]
    fn white_noise_is_uncorrelated() {
        let n = NoiseConfig {
            relative_sigma: 0.0,
            correlation_s: 30.0,
            white_sigma: 0.05,
        };
        let f = factors(&n, 100_000, 3);
        let len = f.len() as f64;
        let mean = f.iter().sum::<f64>() / len;
        let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len;
        let cov = f
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum::<f64>()
            / (len - 1.0);
        assert!((var.sqrt() - 0.05).abs() < 0.003, "std {}", var.sqrt());
        assert!((cov / var).abs() < 0.02, "lag-1 correlation {}", cov / var);
    }

    #[test]
    fn factor_never_goes_negative() {
        let n = NoiseConfig {
            relative_sigma: 1.0,
            correlation_s: 5.0,
            white_sigma: 1.0,
        };
        let f = factors(&n, 10_000, 9);
        assert!(f.iter().all(|&v| v >= 0.0));
        assert!(
            f.contains(&0.0),
            "huge sigmas should clip some seconds to zero"
        );
    }

    #[test]
    fn validate_rejects_negative_sigmas() {
        NoiseConfig::default().validate().unwrap();
        let bad = NoiseConfig {
            white_sigma: -0.1,
            ..NoiseConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("white_sigma"), "{e}");
    }

    #[test]
    fn toml_fills_defaults_and_rejects_unknown_keys() {
        let n: NoiseConfig = toml::from_str("relative_sigma = 0.1\n").unwrap();
        assert_eq!(n.relative_sigma, 0.1);
        assert_eq!(n.correlation_s, 30.0);
        assert_eq!(n.white_sigma, 0.02);
        assert!(toml::from_str::<NoiseConfig>("sigma = 0.1\n").is_err());
    }
}
