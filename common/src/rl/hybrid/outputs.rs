//! What the tuner sets, squashed from its raw Gaussian sample into the configured ranges,
//! and the replica floor its utilisation target implies.

use super::config::HybridConfig;

/// Number of tuner outputs: the latency-weight multiplier and the utilisation target.
pub const TUNER_OUTPUTS: usize = 2;

/// The tuner's settings for one segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerOutputs {
    /// Multiplies the DQN's latency reward weight while it learns from this segment.
    pub latency_weight_multiplier: f64,
    /// `u*`: the replica floor keeps the observed request rate within this share of the
    /// pods' capacity.
    pub utilization_target: f64,
}

/// Where each raw output lands in its range, in [0, 1]: `(tanh(z₀) + 1)/2` for the
/// multiplier and `sigmoid(z₁)` for `u*`. Also what the tuner observes of its own
/// current settings. A raw 0 is the middle of both ranges.
pub fn positions(raw: &[f32; TUNER_OUTPUTS]) -> [f32; TUNER_OUTPUTS] {
    let z0 = f64::from(raw[0]);
    let z1 = f64::from(raw[1]);
    [
        ((z0.tanh() + 1.0) / 2.0) as f32,
        (1.0 / (1.0 + (-z1).exp())) as f32,
    ]
}

impl TunerOutputs {
    /// Squashes a raw sample: the multiplier log-linearly between its bounds, `u*`
    /// linearly.
    pub fn from_raw(raw: &[f32; TUNER_OUTPUTS], cfg: &HybridConfig) -> Self {
        let [p0, p1] = positions(raw).map(f64::from);
        let [m_lo, m_hi] = cfg.latency_weight_range;
        let [u_lo, u_hi] = cfg.utilization_range;
        Self {
            latency_weight_multiplier: (m_lo.ln() + (m_hi.ln() - m_lo.ln()) * p0).exp(),
            utilization_target: u_lo + (u_hi - u_lo) * p1,
        }
    }
}

/// The fewest pods that serve the observed rate at no more than `utilization_target` of
/// their capacity: `⌈rate_norm · max_replicas / u*⌉`.
///
/// `rate_norm` is observation entry 6, the request rate divided by the capacity of
/// `max_replicas` pods, so `rate_norm · max_replicas` is the rate in pods' worth of
/// capacity. Observation entries are `f32`, whose rounding could lift an exact pod count
/// just past an integer; a ten-thousandth of a pod is forgiven so it does not cost a pod.
pub fn replica_floor(rate_norm: f32, max_replicas: u32, utilization_target: f64) -> u32 {
    let pods = f64::from(rate_norm) * f64::from(max_replicas) / utilization_target;
    (pods - 1e-4).ceil().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Env, EnvConfig};
    use crate::traffic::ArrivalSeries;

    #[test]
    fn floor_matches_hand_computed_examples() {
        // 350 req/s on 10 pods of 100 req/s: rate_norm = 350 / 1,000 = 0.35.
        // u* = 0.7: 0.35·10/0.7 = 5 exactly → 5 (not 6, despite 0.35 not being exact in f32).
        assert_eq!(replica_floor(0.35, 10, 0.7), 5);
        // u* = 0.6: 5.83 → 6; u* = 0.9: 3.89 → 4; u* = 0.75: 4.67 → 5.
        assert_eq!(replica_floor(0.35, 10, 0.6), 6);
        assert_eq!(replica_floor(0.35, 10, 0.9), 4);
        assert_eq!(replica_floor(0.35, 10, 0.75), 5);
        // 1,120 req/s with the default 20 pods: 0.56·20/0.8 = 14.
        assert_eq!(replica_floor(0.56, 20, 0.8), 14);
        assert_eq!(replica_floor(0.0, 20, 0.55), 0);
    }

    #[test]
    fn floor_reads_the_observation_the_environment_builds() {
        // 700 req/s on the default 20 pods of 100 req/s: entry 6 = 700/2,000 = 0.35, and at
        // u* = 0.8 the floor is ⌈700/80⌉ = 9 pods.
        let mut cfg = EnvConfig::default();
        cfg.sim.replicas.initial = Some(10);
        let mut env = Env::new(cfg, ArrivalSeries::new("flat", vec![700.0; 900]), 1).unwrap();
        for _ in 0..8 {
            env.step(1);
        }
        let o = env.observation().0[6];
        assert!((o - 0.35).abs() < 1e-3, "entry 6 = {o}");
        assert_eq!(replica_floor(o, 20, 0.8), 9);
    }

    #[test]
    fn raw_zero_is_the_middle_of_both_ranges_and_extremes_reach_the_bounds() {
        let cfg = HybridConfig::default();
        let mid = TunerOutputs::from_raw(&[0.0, 0.0], &cfg);
        assert!((mid.latency_weight_multiplier - 1.0).abs() < 1e-9);
        assert!((mid.utilization_target - 0.75).abs() < 1e-9);
        let hi = TunerOutputs::from_raw(&[20.0, 40.0], &cfg);
        assert!((hi.latency_weight_multiplier - 2.0).abs() < 1e-6);
        assert!((hi.utilization_target - 0.95).abs() < 1e-6);
        let lo = TunerOutputs::from_raw(&[-20.0, -40.0], &cfg);
        assert!((lo.latency_weight_multiplier - 0.5).abs() < 1e-6);
        assert!((lo.utilization_target - 0.55).abs() < 1e-6);
    }
}
