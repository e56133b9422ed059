//! A cluster snapshot the tests can own and borrow views from.

use common::env::{OBSERVATION_LEN, Observation};
use common::policy::{ClusterView, ObservedMetrics, PodView};

/// Everything a [`ClusterView`] borrows, owned.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub(crate) now_s: u64,
    pub(crate) spec_replicas: u32,
    pub(crate) pods: Vec<PodView>,
    pub(crate) metrics: Option<ObservedMetrics>,
    pub(crate) observation: Observation,
}

impl Scene {
    /// `spec` pods, all created at 0 and Ready at 30 (past the HPA's 300 s CPU
    /// initialisation period from t = 1000 on), with metrics scraped 15 s before `now_s`
    /// showing `cpu` utilisation, and a mid-range observation.
    pub(crate) fn new(now_s: u64, spec: u32, cpu: f64) -> Self {
        Self {
            now_s,
            spec_replicas: spec,
            pods: vec![
                PodView {
                    created_at_s: 0,
                    ready_at_s: Some(30),
                };
                spec as usize
            ],
            metrics: Some(ObservedMetrics {
                timestamp_s: now_s.saturating_sub(15),
                window_s: 60,
                request_rate_rps: 0.0,
                cpu_utilization: cpu,
                memory_utilization: 0.3,
                p95_latency_s: 0.05,
                error_rate: 0.0,
                queue_length: 0.0,
                ready_pods: spec,
                pending_pods: 0,
            }),
            observation: Observation([0.5; OBSERVATION_LEN]),
        }
    }

    /// The same scene without metrics.
    pub(crate) fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// The same scene with the newest scrape at `timestamp_s`.
    pub(crate) fn scraped_at(mut self, timestamp_s: u64) -> Self {
        if let Some(m) = &mut self.metrics {
            m.timestamp_s = timestamp_s;
        }
        self
    }

    /// The same scene with observation entry `index` set to `value`.
    pub(crate) fn with_entry(mut self, index: usize, value: f32) -> Self {
        self.observation.0[index] = value;
        self
    }

    /// A view with replica bounds `[min, max]`.
    pub(crate) fn view(&self, min: u32, max: u32) -> ClusterView<'_> {
        ClusterView {
            now_s: self.now_s,
            spec_replicas: self.spec_replicas,
            min_replicas: min,
            max_replicas: max,
            pods: &self.pods,
            metrics: self.metrics.as_ref(),
            observation: &self.observation,
        }
    }
}
