//! Every constant of the simulated cluster, with the default it was calibrated to.
//!
//! The defaults describe a small nginx-like service behind round-robin load balancing:
//! each pod serves up to 100 req/s at 100 % of its CPU request and queues on its own.
//! With a 20 ms fixed overhead and per-pod M/M/1 queueing, the p95 sojourn time is
//! `20 ms + ln(20) / (100/s · (1 − ρ))`, which crosses the 200 ms SLO at ρ ≈ 0.83: a
//! steady load breaches the SLO between 80 % and 90 % CPU, as DESIGN.md asks. Pods take
//! 30 s ± 10 s to become ready (image already cached, readiness probe passing after a
//! short warm-up), and metrics arrive the way Prometheus delivers them (`rate()[1m]` of
//! 15 s scrapes), so every policy decides on a view that is about half a minute old.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The whole simulator configuration. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seconds between two decisions of the policy (the HPA sync period). Default 15.
    pub decision_interval_s: u32,
    /// One pod of the workload.
    pub pod: PodConfig,
    /// How latency is produced and judged.
    pub latency: LatencyConfig,
    /// Replica bounds and the starting size.
    pub replicas: ReplicaConfig,
    /// How metrics reach the policy.
    pub metrics: MetricsConfig,
    /// What a pod costs.
    pub cost: CostConfig,
}

/// One pod of the simulated Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodConfig {
    /// Requests per second one pod serves at 100 % of its CPU request. Default 100.
    pub capacity_rps: f64,
    /// CPU request in millicores; used only to express usage in cores. Default 500.
    pub cpu_request_millicores: u32,
    /// CPU a pod burns with no traffic, as a fraction of its request. Default 0.02.
    pub idle_cpu_fraction: f64,
    /// Resident memory of an idle pod, MiB. Default 48.
    pub memory_base_mib: f64,
    /// Extra memory per request in flight (queued or in service), MiB. Default 2.
    pub memory_per_inflight_mib: f64,
    /// Memory limit, MiB; memory utilisation is reported against it. Default 256.
    pub memory_limit_mib: f64,
    /// Mean seconds from creation to ready. Default 30.
    pub startup_delay_s: f64,
    /// Start-up delay varies uniformly by ± this many seconds. Default 10.
    pub startup_jitter_s: f64,
    /// Requests that may wait per ready pod; arrivals beyond the bound fail (like a full
    /// listen backlog answering 503). Default 100, which is also where memory reaches its limit.
    pub queue_limit: f64,
}

/// Latency model and SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Fixed overhead of every request (network, proxy, framework), ms. Default 20.
    pub base_ms: f64,
    /// The p95 latency objective, ms. Default 200.
    pub slo_ms: f64,
    /// Highest utilisation used in the M/M/1 term. Above it the service is saturated and the
    /// backlog (drained at full capacity) carries the delay instead. Default 0.98.
    pub max_queueing_utilization: f64,
}

/// Replica bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaConfig {
    /// Fewest pods the Deployment may run. Default 1.
    pub min: u32,
    /// Most pods the Deployment may run. Default 20.
    pub max: u32,
    /// Ready pods at time zero. Unset (the default) means: enough pods for the first
    /// second's load at 70 % utilisation, as if a well-tuned HPA had been running.
    pub initial: Option<u32>,
}

/// How the policy sees metrics: Prometheus scraping cumulative counters, queried with `rate()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Seconds between scrapes. Default 15.
    pub scrape_interval_s: u32,
    /// The `rate()` range, seconds; a multiple of the scrape interval. Default 60.
    pub rate_window_s: u32,
    /// The window behind the observation's "mean" and "max" entries, seconds. Default 300.
    pub history_window_s: u32,
}

/// Price of capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Price of one pod for one hour, whether starting or ready. Default 0.04 (about half a
    /// vCPU and 512 MiB of on-demand cloud capacity), in whatever currency the user thinks in.
    pub price_per_pod_hour: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            decision_interval_s: 15,
            pod: PodConfig::default(),
            latency: LatencyConfig::default(),
            replicas: ReplicaConfig::default(),
            metrics: MetricsConfig::default(),
            cost: CostConfig::default(),
        }
    }
}

impl Default for PodConfig {
    fn default() -> Self {
        Self {
            capacity_rps: 100.0,
            cpu_request_millicores: 500,
            idle_cpu_fraction: 0.02,
            memory_base_mib: 48.0,
            memory_per_inflight_mib: 2.0,
            memory_limit_mib: 256.0,
            startup_delay_s: 30.0,
            startup_jitter_s: 10.0,
            queue_limit: 100.0,
        }
    }
}

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            base_ms: 20.0,
            slo_ms: 200.0,
            max_queueing_utilization: 0.98,
        }
    }
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            min: 1,
            max: 20,
            initial: None,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            scrape_interval_s: 15,
            rate_window_s: 60,
            history_window_s: 300,
        }
    }
}

impl Default for CostConfig {
    fn default() -> Self {
        Self {
            price_per_pod_hour: 0.04,
        }
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be a positive number, got {value}"),
        ))
    }
}

fn non_negative(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be zero or more, got {value}"),
        ))
    }
}

impl SimConfig {
    /// Checks every field and the relations between them; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.decision_interval_s == 0 {
            return Err(ConfigError::invalid(
                "decision_interval_s",
                "must be at least 1 second",
            ));
        }
        let p = &self.pod;
        positive("pod.capacity_rps", p.capacity_rps)?;
        if p.cpu_request_millicores == 0 {
            return Err(ConfigError::invalid(
                "pod.cpu_request_millicores",
                "must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&p.idle_cpu_fraction) {
            return Err(ConfigError::invalid(
                "pod.idle_cpu_fraction",
                "must be in [0, 1)",
            ));
        }
        positive("pod.memory_base_mib", p.memory_base_mib)?;
        non_negative("pod.memory_per_inflight_mib", p.memory_per_inflight_mib)?;
        positive("pod.memory_limit_mib", p.memory_limit_mib)?;
        non_negative("pod.startup_delay_s", p.startup_delay_s)?;
        non_negative("pod.startup_jitter_s", p.startup_jitter_s)?;
        if p.startup_jitter_s > p.startup_delay_s {
            return Err(ConfigError::invalid(
                "pod.startup_jitter_s",
                "must not exceed pod.startup_delay_s (a pod cannot be ready before it exists)",
            ));
        }
        positive("pod.queue_limit", p.queue_limit)?;
        let l = &self.latency;
        non_negative("latency.base_ms", l.base_ms)?;
        positive("latency.slo_ms", l.slo_ms)?;
        if l.base_ms >= l.slo_ms {
            return Err(ConfigError::invalid(
                "latency.base_ms",
                "must be below latency.slo_ms, or no capacity could ever meet the SLO",
            ));
        }
        if !(l.max_queueing_utilization > 0.0 && l.max_queueing_utilization < 1.0) {
            return Err(ConfigError::invalid(
                "latency.max_queueing_utilization",
                "must be in (0, 1)",
            ));
        }
        let r = &self.replicas;
        if r.min > r.max {
            return Err(ConfigError::invalid(
                "replicas.min",
                format!("{} exceeds replicas.max {}", r.min, r.max),
            ));
        }
        if r.max == 0 {
            return Err(ConfigError::invalid("replicas.max", "must be at least 1"));
        }
        if let Some(initial) = r.initial
            && !(r.min..=r.max).contains(&initial)
        {
            return Err(ConfigError::invalid(
                "replicas.initial",
                format!(
                    "{initial} is outside [replicas.min, replicas.max] = [{}, {}]",
                    r.min, r.max
                ),
            ));
        }
        let m = &self.metrics;
        if m.scrape_interval_s == 0 {
            return Err(ConfigError::invalid(
                "metrics.scrape_interval_s",
                "must be at least 1 second",
            ));
        }
        if m.rate_window_s < m.scrape_interval_s
            || !m.rate_window_s.is_multiple_of(m.scrape_interval_s)
        {
            return Err(ConfigError::invalid(
                "metrics.rate_window_s",
                "must be a positive multiple of metrics.scrape_interval_s",
            ));
        }
        if !self.decision_interval_s.is_multiple_of(m.scrape_interval_s) {
            return Err(ConfigError::invalid(
                "decision_interval_s",
                "must be a multiple of metrics.scrape_interval_s so decisions see whole scrapes",
            ));
        }
        if m.history_window_s < self.decision_interval_s {
            return Err(ConfigError::invalid(
                "metrics.history_window_s",
                "must be at least one decision interval",
            ));
        }
        non_negative("cost.price_per_pod_hour", self.cost.price_per_pod_hour)?;
        Ok(())
    }

    /// Requests per second the workload can serve at `max` replicas and 100 % CPU; the scale
    /// the observation normalises request rate by.
    pub fn max_capacity_rps(&self) -> f64 {
        f64::from(self.replicas.max) * self.pod.capacity_rps
    }

    /// The SLO in seconds.
    pub fn slo_s(&self) -> f64 {
        self.latency.slo_ms / 1000.0
    }

    /// Highest per-pod utilisation at which the steady-state p95 still meets the SLO.
    pub fn slo_safe_utilization(&self) -> f64 {
        let headroom_s = (self.latency.slo_ms - self.latency.base_ms) / 1000.0;
        (1.0 - crate::sim::latency::P95_EXP_FACTOR / (self.pod.capacity_rps * headroom_s)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        SimConfig::default().validate().unwrap();
    }

    #[test]
    fn defaults_put_the_slo_knee_between_80_and_90_percent() {
        let knee = SimConfig::default().slo_safe_utilization();
        assert!((0.80..0.90).contains(&knee), "knee at {knee}");
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = SimConfig::default();
        c.replicas.min = 30;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("replicas.min"), "{e}");

        let mut c = SimConfig::default();
        c.metrics.rate_window_s = 50;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("metrics.rate_window_s")
        );
    }

    #[test]
    fn toml_rejects_unknown_keys_and_fills_defaults() {
        let c: SimConfig = toml::from_str("[pod]\ncapacity_rps = 50.0\n").unwrap();
        assert_eq!(c.pod.capacity_rps, 50.0);
        assert_eq!(c.replicas.max, 20);
        let err = toml::from_str::<SimConfig>("[pod]\ncapacity = 50.0\n").unwrap_err();
        assert!(err.to_string().contains("capacity"), "{err}");
    }
}
