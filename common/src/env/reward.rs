//! The seed's four-term reward, plus one term of ours that is off by default:
//! `r = −w_lat·latency − w_res·resource − w_thr·thrashing + w_stab·stability − w_miss·slo_miss`,
//! with the seed's weights 0.4, 0.3, 0.2, 0.1 and `w_miss` 0 as defaults. Every term is in
//! [0, 1].
//!
//! Why `slo_miss`: the seed's latency term grows with how far the p95 is over the SLO, so an
//! interval just over it costs almost nothing, while the scorecard counts it as a miss like
//! any other. With the resource term lowest at 85 % CPU, past the ≈ 83 % knee where the p95
//! crosses the SLO, the seed's reward is best served by running at the knee. A flat penalty
//! per missed interval prices what SLO compliance counts.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Weights and thresholds of the reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    /// Weight of the latency penalty. Default 0.4.
    pub latency_weight: f64,
    /// Weight of the resource penalty. Default 0.3.
    pub resource_weight: f64,
    /// Weight of the thrashing penalty. Default 0.2.
    pub thrashing_weight: f64,
    /// Weight of the stability bonus. Default 0.1.
    pub stability_weight: f64,
    /// Utilisation above which pods count as overloaded (the seed's 85 % target). Default 0.85.
    pub high_utilization: f64,
    /// How much an error rate weighs against latency: an error rate of `1 / error_weight`
    /// saturates the latency penalty. Default 10.
    pub error_weight: f64,
    /// A scaling action that reverses the previous one within this many seconds is
    /// thrashing (the scale-down cooldown of the safety layer). Default 180.
    pub thrash_window_s: u64,
    /// Weight of the flat penalty for an interval that misses the SLO (p95 over it, or any
    /// failed request: stricter than the scorecard, which counts failures among the slow
    /// 5 %, so the penalty errs towards headroom). Default 0: the seed's reward.
    pub slo_miss_weight: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            latency_weight: 0.4,
            resource_weight: 0.3,
            thrashing_weight: 0.2,
            stability_weight: 0.1,
            high_utilization: 0.85,
            error_weight: 10.0,
            thrash_window_s: 180,
            slo_miss_weight: 0.0,
        }
    }
}

impl RewardConfig {
    /// Weights must be finite and non-negative; the utilisation threshold in (0, 1).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, w) in [
            ("reward.latency_weight", self.latency_weight),
            ("reward.resource_weight", self.resource_weight),
            ("reward.thrashing_weight", self.thrashing_weight),
            ("reward.stability_weight", self.stability_weight),
            ("reward.error_weight", self.error_weight),
            ("reward.slo_miss_weight", self.slo_miss_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(ConfigError::invalid(
                    field,
                    format!("must be zero or more, got {w}"),
                ));
            }
        }
        if !(self.high_utilization > 0.0 && self.high_utilization < 1.0) {
            return Err(ConfigError::invalid(
                "reward.high_utilization",
                "must be in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// What the reward is computed from: one decision interval's outcome and the action taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardInputs {
    /// p95 latency over the interval, seconds.
    pub p95_s: f64,
    /// The SLO, seconds.
    pub slo_s: f64,
    /// Failed / arrived requests over the interval.
    pub error_rate: f64,
    /// Mean CPU utilisation of ready pods over the interval.
    pub cpu_utilization: f64,
    /// Sign of the replica change the action asked for: −1, 0 or +1.
    pub direction: i32,
    /// Whether this action reverses the previous scaling action within the thrash window.
    pub reversal: bool,
}

/// The terms, before weighting.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RewardTerms {
    /// `min(1, max(0, p95/SLO − 1) + error_weight · error_rate)`: zero while the SLO holds,
    /// saturating at twice the SLO or a 10 % error rate.
    pub latency: f64,
    /// `min(1, (1 − u) + max(0, u − high) / (1 − high))` for utilisation `u`: idle capacity
    /// costs linearly, and running hotter than `high` costs steeply. Lowest at `u = high`.
    pub resource: f64,
    /// 1 when the action reverses the previous scaling action within the thrash window.
    pub thrashing: f64,
    /// 1 when the action holds while the SLO is met (p95 within it, no errors).
    pub stability: f64,
    /// 1 when the SLO is missed (p95 over it, or any failed request), whatever the action.
    pub slo_miss: f64,
}

impl RewardTerms {
    /// Computes the terms.
    pub fn new(cfg: &RewardConfig, i: &RewardInputs) -> Self {
        let over_slo = (i.p95_s / i.slo_s - 1.0).max(0.0);
        let u = i.cpu_utilization.clamp(0.0, 1.0);
        let hot = (u - cfg.high_utilization).max(0.0) / (1.0 - cfg.high_utilization);
        let slo_met = i.p95_s <= i.slo_s && i.error_rate <= 0.0;
        Self {
            latency: (over_slo + cfg.error_weight * i.error_rate).min(1.0),
            resource: ((1.0 - u) + hot).min(1.0),
            thrashing: if i.reversal { 1.0 } else { 0.0 },
            stability: if i.direction == 0 && slo_met {
                1.0
            } else {
                0.0
            },
            slo_miss: if slo_met { 0.0 } else { 1.0 },
        }
    }

    /// The weighted sum.
    pub fn total(&self, cfg: &RewardConfig) -> f64 {
        -cfg.latency_weight * self.latency
            - cfg.resource_weight * self.resource
            - cfg.thrashing_weight * self.thrashing
            + cfg.stability_weight * self.stability
            - cfg.slo_miss_weight * self.slo_miss
    }
}

/// Remembers the last scaling action to recognise reversals.
#[derive(Debug, Clone, Default)]
pub struct ThrashTracker {
    last: Option<(i32, u64)>,
}

impl ThrashTracker {
    /// Records an action of `direction` at `now_s`; true if it reverses the previous
    /// scaling action taken less than `window_s` ago.
    pub fn record(&mut self, direction: i32, now_s: u64, window_s: u64) -> bool {
        if direction == 0 {
            return false;
        }
        let reversal = matches!(self.last, Some((d, t)) if d == -direction && now_s - t < window_s);
        self.last = Some((direction, now_s));
        reversal
    }

    /// Forgets the last action.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(p95_s: f64, error_rate: f64, u: f64, direction: i32, reversal: bool) -> RewardInputs {
        RewardInputs {
            p95_s,
            slo_s: 0.2,
            error_rate,
            cpu_utilization: u,
            direction,
            reversal,
        }
    }

    #[test]
    fn hand_computed_terms() {
        let c = RewardConfig::default();
        // Hold at 70 % CPU with p95 120 ms: resource 0.3, stability 1.
        let t = RewardTerms::new(&c, &inputs(0.12, 0.0, 0.7, 0, false));
        assert_eq!(t.latency, 0.0);
        assert!((t.resource - 0.3).abs() < 1e-12);
        assert_eq!(t.stability, 1.0);
        assert!((t.total(&c) - (-0.3 * 0.3 + 0.1)).abs() < 1e-12);
        // p95 300 ms, 2 % errors at 95 % CPU, scaling up: latency 0.5 + 0.2, resource
        // 0.05 + 0.10/0.15.
        let t = RewardTerms::new(&c, &inputs(0.3, 0.02, 0.95, 1, false));
        assert!((t.latency - 0.7).abs() < 1e-12);
        assert!((t.resource - (0.05 + 0.1 / 0.15)).abs() < 1e-12);
        assert_eq!(t.stability, 0.0);
        // Reversal: −0.2 extra.
        let r = RewardTerms::new(&c, &inputs(0.1, 0.0, 0.85, -1, true));
        assert_eq!(r.thrashing, 1.0);
        assert!((r.total(&c) - (-0.3 * 0.15 - 0.2)).abs() < 1e-12);
    }

    #[test]
    fn a_missed_slo_costs_its_flat_weight_whatever_the_margin() {
        let c = RewardConfig {
            slo_miss_weight: 1.5,
            ..RewardConfig::default()
        };
        // 201 ms and 400 ms both miss; the flat term is the same, only the seed's latency
        // term tells them apart.
        let just = RewardTerms::new(&c, &inputs(0.201, 0.0, 0.8, 0, false));
        let far = RewardTerms::new(&c, &inputs(0.4, 0.0, 0.8, 0, false));
        assert_eq!((just.slo_miss, far.slo_miss), (1.0, 1.0));
        assert!((just.total(&c) - (-0.4 * 0.005 - 0.3 * 0.2 - 1.5)).abs() < 1e-9);
        // A failed request misses it too; a clean interval does not.
        assert_eq!(
            RewardTerms::new(&c, &inputs(0.1, 0.001, 0.8, 0, false)).slo_miss,
            1.0
        );
        let ok = RewardTerms::new(&c, &inputs(0.2, 0.0, 0.8, 1, false));
        assert_eq!(ok.slo_miss, 0.0);
        // Off by default: the seed's reward is unchanged.
        let seed = RewardConfig::default();
        let t = RewardTerms::new(&seed, &inputs(0.4, 0.0, 0.8, 0, false));
        assert!((t.total(&seed) - (-0.4 * 1.0 - 0.3 * 0.2)).abs() < 1e-12);
    }

    #[test]
    fn penalties_saturate_at_one() {
        let t = RewardTerms::new(&RewardConfig::default(), &inputs(5.0, 0.5, 1.0, 0, false));
        assert_eq!((t.latency, t.resource), (1.0, 1.0));
    }

    #[test]
    fn reversals_only_count_within_the_window() {
        let mut t = ThrashTracker::default();
        assert!(!t.record(1, 0, 180));
        assert!(!t.record(0, 15, 180));
        assert!(t.record(-1, 30, 180));
        assert!(!t.record(1, 300, 180));
        assert!(!t.record(1, 315, 180));
    }
}
