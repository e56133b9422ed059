//! What a policy may look at when it decides.

use crate::env::Observation;

/// One pod as the Kubernetes API would describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodView {
    /// Simulated second the pod was created (its `status.startTime`).
    pub created_at_s: u64,
    /// Simulated second its Ready condition turned true, if it has.
    pub ready_at_s: Option<u64>,
}

/// Metrics as a Prometheus query would return them at `timestamp_s`: counters turned into
/// rates over the last `window_s` seconds of completed scrapes, gauges as last scraped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservedMetrics {
    /// Simulated second of the newest scrape behind these values.
    pub timestamp_s: u64,
    /// Seconds the rates were taken over.
    pub window_s: u64,
    /// Arriving requests per second.
    pub request_rate_rps: f64,
    /// Mean CPU usage of ready pods as a fraction of their CPU request.
    pub cpu_utilization: f64,
    /// Mean memory of ready pods as a fraction of their limit.
    pub memory_utilization: f64,
    /// p95 latency of requests served in the window, seconds (`histogram_quantile`).
    pub p95_latency_s: f64,
    /// Failed requests as a fraction of arrivals in the window.
    pub error_rate: f64,
    /// Requests waiting, as last scraped.
    pub queue_length: f64,
    /// Ready pods, as last scraped.
    pub ready_pods: u32,
    /// Pods created but not ready, as last scraped.
    pub pending_pods: u32,
}

/// Everything a policy gets at a decision.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView<'a> {
    /// Simulated seconds since the start of the episode.
    pub now_s: u64,
    /// The Deployment's `spec.replicas` (pods asked for, starting or ready).
    pub spec_replicas: u32,
    /// Fewest replicas allowed.
    pub min_replicas: u32,
    /// Most replicas allowed.
    pub max_replicas: u32,
    /// Every pod that exists now.
    pub pods: &'a [PodView],
    /// The lagged metrics; `None` before the first scrape completes.
    pub metrics: Option<&'a ObservedMetrics>,
    /// The 12-entry normalised observation learned policies act on.
    pub observation: &'a Observation,
}
