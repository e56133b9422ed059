//! How long requests take, and how their latencies are summarised.
//!
//! Each pod is an M/M/1 queue (round-robin balancing gives every pod its own queue), so a
//! request served in a tick spends `base + drain + Exp(μ(1 − ρ))` seconds: a fixed
//! overhead, the time to drain the backlog that was already waiting, and the M/M/1
//! sojourn time at the tick's utilisation ρ. Latencies are collected the way Prometheus
//! collects them, in a histogram with exponential buckets (growth 2^(1/8), like a native
//! histogram of schema 3), and quantiles are read with `histogram_quantile`'s linear
//! interpolation inside a bucket.

use std::sync::LazyLock;

/// `ln(20)`: the p95 of an exponential distribution is `ln(20)` times its mean.
pub const P95_EXP_FACTOR: f64 = 2.995_732_273_553_991;

/// Latencies of requests served together: `shift_s + Exp(mean = mean_s)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftedExp {
    /// Time every request spends before queueing at its pod.
    pub shift_s: f64,
    /// Mean of the exponential M/M/1 sojourn time.
    pub mean_s: f64,
}

impl ShiftedExp {
    /// Fraction of requests done within `x` seconds.
    #[inline]
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= self.shift_s {
            0.0
        } else {
            1.0 - (-(x - self.shift_s) / self.mean_s).exp()
        }
    }

    /// The 95th percentile.
    pub fn p95(&self) -> f64 {
        self.shift_s + P95_EXP_FACTOR * self.mean_s
    }
}

/// Smallest bucket upper bound, seconds.
const FIRST_BOUND_S: f64 = 0.001;
/// Bucket bounds grow by 2^(1/8) (≈ 9 %), so an interpolated quantile is off by < 9 %.
const BUCKETS_PER_DOUBLING: f64 = 8.0;
/// Finite buckets: 1 ms · 2^(136/8) ≈ 131 s is the largest finite bound.
const FINITE_BUCKETS: usize = 137;
/// Probability mass below which the tail of a tick's distribution is folded into the
/// current bucket instead of being spread further (it cannot move a p95).
const TAIL_CUTOFF: f64 = 1e-6;

static BOUNDS: LazyLock<[f64; FINITE_BUCKETS]> = LazyLock::new(|| {
    let mut b = [0.0; FINITE_BUCKETS];
    for (i, v) in b.iter_mut().enumerate() {
        *v = FIRST_BOUND_S * (i as f64 / BUCKETS_PER_DOUBLING).exp2();
    }
    b
});

/// Request counts by latency; one extra bucket past the last bound counts the slowest.
#[derive(Clone, PartialEq)]
pub struct LatencyHistogram {
    counts: [f64; FINITE_BUCKETS + 1],
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("total", &self.total())
            .field("p95_s", &self.quantile(0.95))
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0.0; FINITE_BUCKETS + 1],
        }
    }
}

impl LatencyHistogram {
    /// Index of the first bucket whose upper bound is at least `x`.
    #[inline]
    fn bucket_of(x: f64) -> usize {
        if x <= FIRST_BOUND_S {
            return 0;
        }
        let i = ((x / FIRST_BOUND_S).log2() * BUCKETS_PER_DOUBLING).ceil() as usize;
        // Floating error can put `x` a hair past a bound; step forward if so.
        let mut i = i.min(FINITE_BUCKETS);
        while i < FINITE_BUCKETS && BOUNDS[i] < x {
            i += 1;
        }
        i
    }

    /// Adds `count` requests whose latencies follow `dist`.
    pub fn add(&mut self, count: f64, dist: ShiftedExp) {
        if count <= 0.0 {
            return;
        }
        let mut i = Self::bucket_of(dist.shift_s);
        let mut below = 0.0;
        while i < FINITE_BUCKETS {
            let f = dist.cdf(BOUNDS[i]);
            if 1.0 - f < TAIL_CUTOFF {
                self.counts[i] += count * (1.0 - below);
                return;
            }
            self.counts[i] += count * (f - below);
            below = f;
            i += 1;
        }
        self.counts[FINITE_BUCKETS] += count * (1.0 - below);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// Requests counted.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in seconds, interpolated linearly inside its bucket as
    /// `histogram_quantile` does. Zero for an empty histogram; the largest finite bound
    /// (≈ 131 s) if the quantile falls past it.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        if total <= 0.0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (i, &c) in self.counts[..FINITE_BUCKETS].iter().enumerate() {
            if c > 0.0 && seen + c >= rank {
                let lower = if i == 0 { 0.0 } else { BOUNDS[i - 1] };
                return lower + (BOUNDS[i] - lower) * ((rank - seen) / c).clamp(0.0, 1.0);
            }
            seen += c;
        }
        BOUNDS[FINITE_BUCKETS - 1]
    }
}

/// Latency of requests served in one tick.
///
/// `arrivals` arrive during the tick to `ready` pods that each serve `capacity_rps`,
/// behind `backlog` requests already waiting. Utilisation is capped at
/// `max_utilization`: past it the pods are saturated and the backlog term carries the delay.
#[inline]
pub fn tick_latency(
    base_s: f64,
    capacity_rps: f64,
    max_utilization: f64,
    ready: u32,
    arrivals_per_s: f64,
    backlog: f64,
) -> ShiftedExp {
    let total_capacity = f64::from(ready) * capacity_rps;
    let rho = (arrivals_per_s / total_capacity).min(max_utilization);
    ShiftedExp {
        shift_s: base_s + backlog / total_capacity,
        mean_s: 1.0 / (capacity_rps * (1.0 - rho)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grow_by_an_eighth_of_a_doubling() {
        assert_eq!(BOUNDS[0], 0.001);
        assert!((BOUNDS[8] - 0.002).abs() < 1e-12);
        assert!((BOUNDS[FINITE_BUCKETS - 1] - 0.001 * 2f64.powi(17)).abs() < 1e-9);
    }

    #[test]
    fn bucket_of_finds_the_first_bound_at_or_above() {
        for x in [0.0005, 0.001, 0.0011, 0.2, 0.999, 5.0, 1e6] {
            let i = LatencyHistogram::bucket_of(x);
            if i < FINITE_BUCKETS {
                assert!(BOUNDS[i] >= x, "{x}");
            }
            if i > 0 {
                assert!(BOUNDS[i - 1] < x, "{x}");
            }
        }
    }

    #[test]
    fn histogram_p95_matches_the_distribution_within_a_bucket() {
        let dist = ShiftedExp {
            shift_s: 0.02,
            mean_s: 0.01,
        };
        let mut h = LatencyHistogram::default();
        h.add(1000.0, dist);
        assert!((h.total() - 1000.0).abs() < 1e-9);
        let exact = dist.p95(); // 0.02 + 3.0 × 0.01 ≈ 0.050
        let got = h.quantile(0.95);
        assert!((got - exact).abs() / exact < 0.09, "{got} vs {exact}");
    }

    #[test]
    fn mixture_quantile_is_dominated_by_the_slow_part() {
        // 90 % fast (p95 ≈ 50 ms), 10 % at ≥ 1 s: the overall p95 is ≥ 1 s, less at most
        // one bucket width (9 %) of interpolation.
        let mut h = LatencyHistogram::default();
        h.add(
            900.0,
            ShiftedExp {
                shift_s: 0.02,
                mean_s: 0.01,
            },
        );
        h.add(
            100.0,
            ShiftedExp {
                shift_s: 1.0,
                mean_s: 0.01,
            },
        );
        assert!(h.quantile(0.95) >= 1.0 / 1.0905);
        assert!(h.quantile(0.5) < 0.06);
    }

    #[test]
    fn slo_knee_at_default_constants() {
        // 20 ms + 3.0 / (100 · (1 − ρ)) = 200 ms ⇔ ρ = 1 − 3.0/18 ≈ 0.834.
        let at = |rho: f64| tick_latency(0.02, 100.0, 0.98, 10, rho * 1000.0, 0.0).p95();
        assert!(at(0.80) < 0.2);
        assert!(at(0.85) > 0.2);
        assert!((at(0.70) - 0.1199).abs() < 1e-3);
    }

    #[test]
    fn more_pods_or_less_backlog_never_slow_requests() {
        let mut last = f64::INFINITY;
        for ready in 1..40 {
            let p = tick_latency(0.02, 100.0, 0.98, ready, 1500.0, 300.0).p95();
            assert!(p <= last);
            last = p;
        }
    }
}
