//! What happened over a stretch of simulated time, in counters that add up.
//!
//! Prometheus sees cumulative counters and takes rates over windows of scrapes; the
//! scorecard sees whole decision intervals; a report sees the whole run. All three are
//! sums of the same per-scrape counters, so they can never disagree.

use super::latency::LatencyHistogram;

/// Counters over some stretch of time.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Simulated seconds covered.
    pub seconds: u64,
    /// Requests that arrived.
    pub arrivals: f64,
    /// Requests served.
    pub served: f64,
    /// Requests refused because the backlog was full (or no pod was ready).
    pub failed: f64,
    /// Served requests whose latency was within the SLO.
    pub served_within_slo: f64,
    /// Ready-pod-seconds weighted by CPU utilisation (CPU-seconds in units of the request).
    pub cpu_pod_s: f64,
    /// Seconds of ready pods.
    pub ready_pod_s: f64,
    /// Seconds of every pod that existed, starting or ready: what is paid for.
    pub pod_s: f64,
    /// Ready-pod-seconds weighted by each pod's memory, MiB·s.
    pub memory_mib_pod_s: f64,
    /// Latencies of served requests.
    pub latency: LatencyHistogram,
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.seconds += other.seconds;
        self.arrivals += other.arrivals;
        self.served += other.served;
        self.failed += other.failed;
        self.served_within_slo += other.served_within_slo;
        self.cpu_pod_s += other.cpu_pod_s;
        self.ready_pod_s += other.ready_pod_s;
        self.pod_s += other.pod_s;
        self.memory_mib_pod_s += other.memory_mib_pod_s;
        self.latency.merge(&other.latency);
    }

    /// Mean CPU utilisation of ready pods (fraction of the request); 0 with no ready pods.
    pub fn cpu_utilization(&self) -> f64 {
        ratio(self.cpu_pod_s, self.ready_pod_s)
    }

    /// Failed requests as a fraction of arrivals; 0 with no arrivals.
    pub fn error_rate(&self) -> f64 {
        ratio(self.failed, self.arrivals)
    }

    /// p95 latency of served requests, seconds.
    pub fn p95_s(&self) -> f64 {
        self.latency.quantile(0.95)
    }

    /// Whether the p95 of all requests, failures counted as too slow, is within the SLO:
    /// at least 95 % of arrivals were served within it. A stretch with no arrivals meets it.
    pub fn slo_met(&self) -> bool {
        let demand = self.served + self.failed;
        demand <= 1e-9 || self.served_within_slo >= 0.95 * demand
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

/// Gauges as scraped at the end of a stretch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Requests waiting.
    pub backlog: f64,
    /// Ready pods.
    pub ready: u32,
    /// Starting pods.
    pub starting: u32,
}
