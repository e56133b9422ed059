//! The simulated workload behind the exporter: a [`Simulator`] stepped one simulated
//! second at a time, and the per-pod series a kubelet, kube-state-metrics and an
//! ingress-nginx controller would derive from it.
//!
//! The simulator keeps aggregates (CPU-seconds of all ready pods, one latency histogram);
//! exporters publish per-pod and per-bucket series. The split is done here so that every
//! published counter only ever grows, which `rate()` relies on: a decrease would read as
//! a counter reset and a huge spurious rate.

use std::collections::HashMap;

use common::policy::ObservedMetrics;
use common::sim::{ConfigError, SimConfig, Simulator};
use common::traffic::ArrivalSeries;

/// Part of every simulated pod name, standing in for the ReplicaSet's pod-template hash.
const TEMPLATE_HASH: &str = "6c5f8d9b7";

/// One pod as the exporters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSeries {
    /// Its name, `{deployment}-{hash}-{suffix}` like a Deployment's pods.
    pub name: String,
    /// Simulated second it was created; how pods are told apart between steps.
    pub created_at_s: u64,
    /// Whether its Ready condition is true.
    pub ready: bool,
    /// CPU-seconds used since it started (cAdvisor's `container_cpu_usage_seconds_total`).
    pub cpu_seconds: f64,
    /// Working-set memory now, bytes.
    pub memory_bytes: f64,
}

/// What a harness may read about the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadState {
    /// Simulated seconds since the start.
    pub now_s: u64,
    /// Pods asked for.
    pub spec_replicas: u32,
    /// Ready pods.
    pub ready_pods: u32,
    /// Starting pods.
    pub starting_pods: u32,
    /// Requests waiting.
    pub backlog: f64,
    /// The simulator's own lagged view: the reference Prometheus should agree with.
    pub observed: Option<ObservedMetrics>,
}

/// A simulated Deployment and its exporter-side series.
#[derive(Debug)]
pub struct Workload {
    sim: Simulator,
    namespace: String,
    deployment: String,
    pods: Vec<PodSeries>,
    next_pod: u64,
    /// Cumulative bucket counts last published, by bucket index, so they never go down.
    published_buckets: Vec<u64>,
    /// Real seconds per simulated second: CPU-seconds are published in real time.
    cpu_time_scale: f64,
}

impl Workload {
    /// A workload serving `arrivals` in `namespace`/`deployment`.
    ///
    /// The simulator is made to scrape and decide every simulated second, whatever `cfg`
    /// says, so its counters move smoothly under a 1 s Prometheus scrape; its rate window
    /// (`cfg.metrics.rate_window_s`) is kept, and should equal the `{window}` the queries
    /// use for the two to be comparable.
    pub fn new(
        mut cfg: SimConfig,
        arrivals: ArrivalSeries,
        seed: u64,
        namespace: &str,
        deployment: &str,
    ) -> Result<Self, ConfigError> {
        cfg.decision_interval_s = 1;
        cfg.metrics.scrape_interval_s = 1;
        cfg.metrics.history_window_s = cfg.metrics.history_window_s.max(1);
        let sim = Simulator::new(cfg, arrivals, seed)?;
        let mut w = Self {
            sim,
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
            pods: Vec::new(),
            next_pod: 0,
            published_buckets: Vec::new(),
            cpu_time_scale: 1.0,
        };
        w.reconcile_pods();
        Ok(w)
    }

    /// Tells the workload that `seconds_per_second` simulated seconds pass per real
    /// second, so its CPU counters grow by real CPU-seconds: a pod busy for a real second
    /// uses one CPU-second, however many simulated seconds that second holds. CPU
    /// utilisation read through `rate()` is then the simulator's; request rates still read
    /// `seconds_per_second` times the simulated rate (see the module docs).
    pub fn set_time_compression(&mut self, seconds_per_second: u64) {
        self.cpu_time_scale = 1.0 / seconds_per_second.max(1) as f64;
    }

    /// The namespace the series are labelled with.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Deployment (and Service) the series are labelled with.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The simulator.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// Every pod that exists.
    pub fn pods(&self) -> &[PodSeries] {
        &self.pods
    }

    /// Sets the Deployment's replicas (clamped to the simulator's bounds); returns what
    /// was applied.
    pub fn set_replicas(&mut self, replicas: u32) -> u32 {
        let applied = self.sim.scale_to(replicas);
        self.reconcile_pods();
        applied
    }

    /// Advances `seconds` simulated seconds, or fewer if the traffic runs out.
    pub fn advance(&mut self, seconds: u64) {
        let cpu_request_cores =
            f64::from(self.sim.config().pod.cpu_request_millicores) / 1000.0 * self.cpu_time_scale;
        let idle_memory_bytes = self.sim.config().pod.memory_base_mib * MIB;
        for _ in 0..seconds {
            if self.sim.finished() {
                return;
            }
            let before = self.sim.totals().clone();
            self.sim.step_interval();
            self.reconcile_pods();
            let after = self.sim.totals();
            let ready = self.pods.iter().filter(|p| p.ready).count() as f64;
            let cpu_each =
                (after.cpu_pod_s - before.cpu_pod_s).max(0.0) * cpu_request_cores / ready.max(1.0);
            let ready_s = after.ready_pod_s - before.ready_pod_s;
            let memory_each = if ready_s > 0.0 {
                (after.memory_mib_pod_s - before.memory_mib_pod_s) / ready_s * MIB
            } else {
                idle_memory_bytes
            };
            for pod in &mut self.pods {
                if pod.ready {
                    pod.cpu_seconds += cpu_each;
                    pod.memory_bytes = memory_each;
                } else {
                    pod.memory_bytes = idle_memory_bytes;
                }
            }
        }
    }

    /// Matches the simulator's pods to the published ones by creation time: a pod keeps
    /// its name and counters for as long as it lives; new pods get new names.
    fn reconcile_pods(&mut self) {
        let mut unmatched: HashMap<u64, Vec<PodSeries>> = HashMap::new();
        for pod in self.pods.drain(..) {
            unmatched.entry(pod.created_at_s).or_default().push(pod);
        }
        let mut pods = Vec::with_capacity(self.sim.pods().len());
        for view in self.sim.pods() {
            let known = unmatched
                .get_mut(&view.created_at_s)
                .and_then(|same_second| same_second.pop());
            let mut pod = known.unwrap_or_else(|| {
                self.next_pod += 1;
                PodSeries {
                    name: format!("{}-{TEMPLATE_HASH}-{:05x}", self.deployment, self.next_pod),
                    created_at_s: view.created_at_s,
                    ready: false,
                    cpu_seconds: 0.0,
                    memory_bytes: self.sim.config().pod.memory_base_mib * MIB,
                }
            });
            pod.ready = view.ready_at_s.is_some();
            pods.push(pod);
        }
        self.pods = pods;
    }

    /// What a harness may read.
    pub fn state(&self) -> WorkloadState {
        WorkloadState {
            now_s: self.sim.now_s(),
            spec_replicas: self.sim.spec_replicas(),
            ready_pods: self.sim.ready_pods(),
            starting_pods: self.sim.starting_pods(),
            backlog: self.sim.backlog(),
            observed: self.sim.observed().copied(),
        }
    }

    /// Cumulative request-latency counts at each of [`bucket_bounds`], for the histogram's
    /// `_bucket{le}` series, never lower than what was published before.
    ///
    /// The simulator's histogram keeps its bucket counts private and exposes only
    /// `quantile(q)`, which interpolates linearly inside a bucket; the cumulative share
    /// at a bucket's upper bound is where that function reaches the bound, found here by
    /// bisection. The share is exact up to float error, and flooring the counts keeps
    /// them monotone.
    pub fn latency_buckets(&mut self) -> Vec<(f64, u64)> {
        let hist = &self.sim.totals().latency;
        let total = hist.total();
        let bounds = bucket_bounds();
        if self.published_buckets.len() != bounds.len() {
            self.published_buckets = vec![0; bounds.len()];
        }
        let mut out = Vec::with_capacity(bounds.len());
        let mut below = 0u64;
        for (i, &bound) in bounds.iter().enumerate() {
            let share = if total > 0.0 {
                let (mut lo, mut hi) = (0.0f64, 1.0f64);
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    if hist.quantile(mid) <= bound {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                lo
            } else {
                0.0
            };
            let count = ((share * total).floor() as u64)
                .max(below)
                .max(self.published_buckets[i]);
            self.published_buckets[i] = count;
            below = count;
            out.push((bound, count));
        }
        out
    }
}

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// The simulator's latency bucket bounds, seconds: 1 ms growing by 2^(1/8) to ≈ 131 s
/// (see `common::sim::latency`), so Prometheus's `histogram_quantile` interpolates over
/// the same buckets as the simulator's own p95.
pub fn bucket_bounds() -> Vec<f64> {
    (0..137)
        .map(|i| 0.001 * (f64::from(i) / 8.0).exp2())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(rate: f32, replicas: u32) -> Workload {
        let mut cfg = SimConfig::default();
        cfg.replicas.initial = Some(replicas);
        cfg.metrics.rate_window_s = 30;
        Workload::new(
            cfg,
            ArrivalSeries::new("steady", vec![rate; 3600]),
            3,
            "shop",
            "web",
        )
        .unwrap()
    }

    #[test]
    fn counters_split_per_pod_add_up_to_the_simulator_totals() {
        let mut w = workload(300.0, 4);
        w.advance(120);
        let cores = f64::from(w.simulator().config().pod.cpu_request_millicores) / 1000.0;
        let total: f64 = w.pods().iter().map(|p| p.cpu_seconds).sum();
        let expected = w.simulator().totals().cpu_pod_s * cores;
        assert!(
            (total - expected).abs() < 1e-6 * expected,
            "{total} vs {expected}"
        );
        assert_eq!(w.pods().len(), 4);
        assert!(
            w.pods()
                .iter()
                .all(|p| p.name.starts_with("web-6c5f8d9b7-"))
        );
    }

    #[test]
    fn pods_keep_their_names_and_new_ones_start_unready() {
        let mut w = workload(300.0, 3);
        w.advance(10);
        let before: Vec<String> = w.pods().iter().map(|p| p.name.clone()).collect();
        w.set_replicas(5);
        w.advance(1);
        let names: Vec<&str> = w.pods().iter().map(|p| p.name.as_str()).collect();
        for name in &before {
            assert!(names.contains(&name.as_str()), "{name} vanished");
        }
        assert_eq!(w.pods().len(), 5);
        assert_eq!(w.pods().iter().filter(|p| !p.ready).count(), 2);
    }

    #[test]
    fn latency_buckets_reproduce_the_simulator_p95_and_never_decrease() {
        let mut w = workload(300.0, 4);
        w.advance(60);
        let first = w.latency_buckets();
        w.advance(60);
        let second = w.latency_buckets();
        for (a, b) in first.iter().zip(&second) {
            assert!(b.1 >= a.1);
        }
        // p95 from the published buckets, interpolated as histogram_quantile does.
        let total = w.simulator().totals().latency.total();
        let rank = 0.95 * total;
        let i = second.iter().position(|&(_, c)| c as f64 >= rank).unwrap();
        let (lower, below) = if i == 0 {
            (0.0, 0.0)
        } else {
            (second[i - 1].0, second[i - 1].1 as f64)
        };
        let p95 = lower + (second[i].0 - lower) * (rank - below) / (second[i].1 as f64 - below);
        let exact = w.simulator().totals().p95_s();
        assert!((p95 - exact).abs() / exact < 0.01, "{p95} vs {exact}");
    }
}
