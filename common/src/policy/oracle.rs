//! The clairvoyant floor: a policy that reads the future arrivals.
//!
//! At each decision it asks for the most pods any second in the coming
//! `decision interval + slowest start-up + decision interval` needs: pods created now are
//! ready by then, and no sooner decision could have started them later. A second with
//! rate λ needs `⌈λ / (capacity · ρ*)⌉` pods, where ρ* is the utilisation at which the
//! latency model's steady-state p95 is `margin × SLO`. It never waits on stabilisation
//! windows and sees no metric lag, so its cost is the least any policy can pay while
//! keeping the SLO; everything else is reported as "% above oracle".

use super::{ClusterView, Policy};
use crate::sim::SimConfig;
use crate::sim::latency::P95_EXP_FACTOR;
use crate::traffic::ArrivalSeries;

/// Fraction of the SLO the oracle provisions for, leaving room for bucketed latencies
/// and within-interval variation. Default 0.9.
pub const DEFAULT_ORACLE_MARGIN: f64 = 0.9;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Oracle {
    arrivals: ArrivalSeries,
    per_pod_rps: f64,
    lookahead_s: u64,
}

impl Oracle {
    /// An oracle for `arrivals` on a cluster configured as `cfg`.
    pub fn new(arrivals: ArrivalSeries, cfg: &SimConfig) -> Self {
        Self::with_margin(arrivals, cfg, DEFAULT_ORACLE_MARGIN)
    }

    /// An oracle that provisions for `margin × SLO`.
    pub fn with_margin(arrivals: ArrivalSeries, cfg: &SimConfig, margin: f64) -> Self {
        let headroom_s = (margin * cfg.latency.slo_ms - cfg.latency.base_ms).max(1.0) / 1000.0;
        let rho = (1.0 - P95_EXP_FACTOR / (cfg.pod.capacity_rps * headroom_s)).clamp(0.05, 1.0);
        let slowest_start = (cfg.pod.startup_delay_s + cfg.pod.startup_jitter_s).ceil() as u64;
        let interval = u64::from(cfg.decision_interval_s);
        Self {
            arrivals,
            per_pod_rps: cfg.pod.capacity_rps * rho,
            lookahead_s: 2 * interval + slowest_start,
        }
    }

    /// Pods needed to serve `rate` within the SLO.
    fn pods_for(&self, rate: f64) -> u32 {
        (rate / self.per_pod_rps).ceil() as u32
    }
}

impl Policy for Oracle {
    fn name(&self) -> String {
        "oracle".to_owned()
    }

    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32 {
        let peak = (view.now_s..view.now_s + self.lookahead_s)
            .map(|s| self.arrivals.rate_at(s))
            .fold(0.0, f64::max);
        self.pods_for(peak)
            .clamp(view.min_replicas, view.max_replicas)
    }

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Observation;

    #[test]
    fn provisions_ahead_of_a_step_and_drops_after_it() {
        let cfg = SimConfig::default();
        let mut rates = vec![100.0f32; 600];
        rates.extend(vec![1000.0; 600]);
        let mut o = Oracle::new(ArrivalSeries::new("step", rates), &cfg);
        // ρ* = 1 − 3.0/(100 · 0.16) ≈ 0.813 → 81.3 req/s per pod.
        let obs = Observation::default();
        let view = |now_s| ClusterView {
            now_s,
            spec_replicas: 2,
            min_replicas: 1,
            max_replicas: 20,
            pods: &[],
            metrics: None,
            observation: &obs,
        };
        assert_eq!(o.desired_replicas(&view(0)), 2); // ⌈100 / 81.3⌉
        // Lookahead 15 + 40 + 15 = 70 s: at 540 s the step at 600 s is in sight.
        assert_eq!(o.desired_replicas(&view(525)), 2);
        assert_eq!(o.desired_replicas(&view(540)), 13); // ⌈1000 / 81.3⌉
        assert_eq!(o.desired_replicas(&view(1200)), 1, "nothing after the end");
    }
}
