//! A tuner segment seen two ways: through the agent's observations (what the tuner acts
//! on, available in a real cluster too) and through the simulator's true counters (what
//! the operator's objective scores it by, needed only in training).

use super::config::HybridConfig;
use crate::env::{LATENCY_CEILING_SLOS, Observation};
use crate::sim::Counters;

/// Entries of the tuner's observation.
pub const TUNER_OBSERVATION_LEN: usize = 7;

/// Running sums of a segment's observations. The tuner observes their means:
///
/// | index | entry |
/// |---|---|
/// | 0 | share of observations whose p95 met the SLO with under 5 % of requests failing |
/// | 1 | mean CPU utilisation (entry 0) |
/// | 2 | mean pods / max replicas (entry 9) |
/// | 3 | mean error rate (entry 11) |
/// | 4 | mean request rate / max capacity (entry 6) |
/// | 5, 6 | the tuner's current settings, as positions in their ranges |
///
/// An empty summary (the first segment of an episode) reads as zeros.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentSummary {
    count: u32,
    slo_met: f64,
    cpu: f64,
    pods: f64,
    errors: f64,
    rate: f64,
}

/// Whether an observation shows the SLO held: entry 7 is p95 / (5 × SLO), so the p95 is
/// within the SLO at or below a fifth; a p95 over served requests misses failed ones,
/// which count as too slow, so 5 % failing breaches it too.
fn observed_slo_met(o: &Observation) -> bool {
    o.0[7] <= (1.0 / LATENCY_CEILING_SLOS) as f32 + 1e-6 && o.0[11] < 0.05
}

impl SegmentSummary {
    /// Adds one observation.
    pub fn push(&mut self, o: &Observation) {
        self.count += 1;
        self.slo_met += f64::from(u8::from(observed_slo_met(o)));
        self.cpu += f64::from(o.0[0]);
        self.pods += f64::from(o.0[9]);
        self.errors += f64::from(o.0[11]);
        self.rate += f64::from(o.0[6]);
    }

    /// Observations added.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// True before the first [`Self::push`].
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The tuner's observation, with `positions` its current settings in their ranges.
    pub fn observation(&self, positions: [f32; 2]) -> [f32; TUNER_OBSERVATION_LEN] {
        let n = f64::from(self.count.max(1));
        let mean = |s: f64| (s / n) as f32;
        [
            mean(self.slo_met),
            mean(self.cpu),
            mean(self.pods),
            mean(self.errors),
            mean(self.rate),
            positions[0],
            positions[1],
        ]
    }
}

/// A segment's true outcome, summed from the simulator's per-interval counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentOutcome {
    intervals: u32,
    slo_met: u32,
    pod_s: f64,
    seconds: u64,
    arrivals: f64,
    failed: f64,
}

impl SegmentOutcome {
    /// Adds one decision interval.
    pub fn record(&mut self, c: &Counters) {
        self.intervals += 1;
        self.slo_met += u32::from(c.slo_met());
        self.pod_s += c.pod_s;
        self.seconds += c.seconds;
        self.arrivals += c.arrivals;
        self.failed += c.failed;
    }

    /// Intervals recorded.
    pub fn intervals(&self) -> u32 {
        self.intervals
    }

    /// The operator's objective for the segment, which the tuner maximises:
    /// `−(mean pods / max_replicas) − λ·(1 − SLO compliance) − μ·error rate`, with SLO
    /// compliance the share of intervals that met the SLO (as the scorecard counts it).
    /// Fixed by the configuration, never by the tuner, so the tuner cannot make its own
    /// job easier.
    pub fn objective(&self, max_replicas: u32, cfg: &HybridConfig) -> f64 {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let pods = ratio(self.pod_s, self.seconds as f64 * f64::from(max_replicas));
        let compliance = if self.intervals == 0 {
            1.0
        } else {
            f64::from(self.slo_met) / f64::from(self.intervals)
        };
        let errors = ratio(self.failed, self.arrivals);
        -pods - cfg.slo_penalty * (1.0 - compliance) - cfg.error_penalty * errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pods: f64, arrivals: f64, failed: f64, within: f64) -> Counters {
        Counters {
            seconds: 15,
            arrivals,
            served: arrivals - failed,
            failed,
            served_within_slo: within,
            pod_s: pods * 15.0,
            ..Counters::default()
        }
    }

    #[test]
    fn objective_matches_a_hand_computed_segment() {
        // Two intervals on max 10 pods: 4 pods meeting the SLO, then 6 pods missing it
        // (half the demand slow) with 100 of 1,000 requests failing overall.
        // pods = (4·15 + 6·15)/(30·10) = 0.5; compliance = ½; errors = 100/2,000 = 0.05.
        // objective = −0.5 − 2·0.5 − 10·0.05 = −2.0.
        let mut s = SegmentOutcome::default();
        s.record(&counters(4.0, 1_000.0, 0.0, 1_000.0));
        s.record(&counters(6.0, 1_000.0, 100.0, 450.0));
        assert_eq!(s.intervals(), 2);
        let got = s.objective(10, &HybridConfig::default());
        assert!((got + 2.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn summary_means_the_observations() {
        let mut s = SegmentSummary::default();
        assert_eq!(
            s.observation([0.5, 0.25]),
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.25]
        );
        let mut o = Observation::default();
        o.0[0] = 0.6;
        o.0[6] = 0.3;
        o.0[7] = 0.1; // p95 half the SLO
        o.0[9] = 0.4;
        s.push(&o);
        o.0[7] = 0.3; // p95 1.5× the SLO
        o.0[11] = 0.02;
        s.push(&o);
        let got = s.observation([1.0, 0.0]);
        let want = [0.5, 0.6, 0.4, 0.01, 0.3, 1.0, 0.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }
}
