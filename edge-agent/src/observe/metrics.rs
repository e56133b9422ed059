//! The agent's Prometheus metrics, registered once and updated by the control loop.
//!
//! The names are part of the deployment's contract: the alert rules and the dashboard in
//! `deploy/` query them, so renaming one is a breaking change. Counters get the `_total`
//! suffix from the encoder.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::safety::decision::OverrideKind;

/// Label of `rl_agent_decisions_total`: which way the decision went after the safety layer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// Label of `rl_agent_fallback_total`: the override's reason, as in the decision log.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Label of `rl_agent_twin_verdicts_total`: what the promotion gate decided.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    outcome: &'static str,
}

/// Which way a decision moved `spec.replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
    Hold,
}

impl Direction {
    /// The direction from `current` to `target`.
    pub(crate) fn of(current: u32, target: u32) -> Self {
        match target.cmp(&current) {
            std::cmp::Ordering::Greater => Self::Up,
            std::cmp::Ordering::Less => Self::Down,
            std::cmp::Ordering::Equal => Self::Hold,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Up => "scale_up",
            Self::Down => "scale_down",
            Self::Hold => "hold",
        }
    }
}

/// Every metric the agent exports.
#[derive(Debug)]
pub(crate) struct AgentMetrics {
    registry: Registry,
    decisions: Family<ActionLabel, Counter>,
    scaling_actions: Counter,
    replicas: Gauge,
    latency_p95: Gauge<f64, AtomicU64>,
    fallbacks: Family<ReasonLabel, Counter>,
    model_version: Gauge,
    decision_seconds: Histogram,
    metrics_errors: Counter,
    actuator_errors: Counter,
    experience_errors: Counter,
    circuit_open: Family<BreakerLabel, Gauge>,
    leader: Gauge,
    leader_transitions: Counter,
    lease_errors: Counter,
    standby_withheld: Counter,
    twin_verdicts: Family<VerdictLabel, Counter>,
    twin_cost_ratio: Gauge<f64, AtomicU64>,
    twin_verdict_time: Gauge,
}

/// Label of `rl_agent_circuit_open`: which breaker.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabel {
    breaker: &'static str,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// A registry with every metric at zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let decisions = Family::<ActionLabel, Counter>::default();
        registry.register(
            "rl_agent_decisions",
            "Decisions taken, by what the safety layer settled on (scale_up, scale_down, hold)",
            decisions.clone(),
        );
        let scaling_actions = Counter::default();
        registry.register(
            "rl_agent_scaling_actions",
            "Writes of spec.replicas the Kubernetes API confirmed",
            scaling_actions.clone(),
        );
        let replicas = Gauge::default();
        registry.register(
            "rl_agent_replicas",
            "The target Deployment's spec.replicas as last read or written",
            replicas.clone(),
        );
        let latency_p95 = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "rl_agent_latency_p95_seconds",
            "The workload's p95 latency as the agent last observed it",
            latency_p95.clone(),
        );
        let fallbacks = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "rl_agent_fallback",
            "Times the safety layer overrode or withheld the policy's decision, by reason",
            fallbacks.clone(),
        );
        let model_version = Gauge::default();
        registry.register(
            "rl_agent_model_version",
            "Version of the model deciding (the federation's global version; 0 for a local or built-in model)",
            model_version.clone(),
        );
        // 1 µs to ~0.5 s: a decision takes microseconds; the top buckets catch a stalled one.
        let decision_seconds = Histogram::new(exponential_buckets(1e-6, 2.0, 20));
        registry.register(
            "rl_agent_decision_duration_seconds",
            "Time from observation to the safety layer's decision (no network)",
            decision_seconds.clone(),
        );
        let metrics_errors = Counter::default();
        registry.register(
            "rl_agent_metrics_errors",
            "Metrics reads that failed (query error, missing or stale series)",
            metrics_errors.clone(),
        );
        let actuator_errors = Counter::default();
        registry.register(
            "rl_agent_actuator_errors",
            "Kubernetes API calls that failed",
            actuator_errors.clone(),
        );
        let experience_errors = Counter::default();
        registry.register(
            "rl_agent_experience_errors",
            "Transitions that could not be recorded in the experience log (a full disk, an I/O error)",
            experience_errors.clone(),
        );
        let circuit_open = Family::<BreakerLabel, Gauge>::default();
        registry.register(
            "rl_agent_circuit_open",
            "1 while the breaker (actuator or metrics) stops writes after repeated failures, else 0",
            circuit_open.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "rl_agent_leader",
            "1 while this agent holds the leader-election Lease and may write (always 1 with leader election off), 0 while it stands by",
            leader.clone(),
        );
        let leader_transitions = Counter::default();
        registry.register(
            "rl_agent_leader_transitions",
            "Times this agent became leader or stopped being leader",
            leader_transitions.clone(),
        );
        let lease_errors = Counter::default();
        registry.register(
            "rl_agent_lease_errors",
            "Calls on the leader-election Lease that failed (lost races, 409, not counted)",
            lease_errors.clone(),
        );
        let standby_withheld = Counter::default();
        registry.register(
            "rl_agent_standby_withheld_writes",
            "Writes the safety layer allowed that this agent did not make because it was standing by",
            standby_withheld.clone(),
        );
        let twin_verdicts = Family::<VerdictLabel, Counter>::default();
        registry.register(
            "rl_agent_twin_verdicts",
            "Verdicts of the promotion gate in the model store's decision log, by outcome (promoted or kept)",
            twin_verdicts.clone(),
        );
        let twin_cost_ratio = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "rl_agent_twin_candidate_cost_ratio",
            "The last judged candidate's cost on the held-back traffic over the current model's",
            twin_cost_ratio.clone(),
        );
        let twin_verdict_time = Gauge::default();
        registry.register(
            "rl_agent_twin_last_verdict_timestamp_seconds",
            "Unix time of the promotion gate's last verdict",
            twin_verdict_time.clone(),
        );
        for outcome in ["promoted", "kept"] {
            drop(twin_verdicts.get_or_create(&VerdictLabel { outcome }));
        }
        // Every series exists from the start, so `increase()` and alerts see the first event.
        for kind in OverrideKind::ALL {
            drop(fallbacks.get_or_create(&ReasonLabel {
                reason: kind.as_str(),
            }));
        }
        for breaker in ["actuator", "metrics"] {
            drop(circuit_open.get_or_create(&BreakerLabel { breaker }));
        }
        Self {
            registry,
            circuit_open,
            decisions,
            scaling_actions,
            replicas,
            latency_p95,
            fallbacks,
            model_version,
            decision_seconds,
            metrics_errors,
            actuator_errors,
            leader,
            leader_transitions,
            lease_errors,
            standby_withheld,
            experience_errors,
            twin_verdicts,
            twin_cost_ratio,
            twin_verdict_time,
        }
    }

    /// Records a verdict of the promotion gate.
    pub(crate) fn twin_verdict(&self, promoted: bool, cost_ratio: f64, at_s: u64) {
        let outcome = if promoted { "promoted" } else { "kept" };
        self.twin_verdicts
            .get_or_create(&VerdictLabel { outcome })
            .inc();
        if cost_ratio.is_finite() {
            self.twin_cost_ratio.set(cost_ratio);
        }
        self.twin_verdict_time
            .set(i64::try_from(at_s).unwrap_or(i64::MAX));
    }

    /// Counts a decision that settled on moving `current` to `target`.
    pub(crate) fn decided(&self, current: u32, target: u32, took_s: f64) {
        self.decisions
            .get_or_create(&ActionLabel {
                action: Direction::of(current, target).label(),
            })
            .inc();
        self.decision_seconds.observe(took_s);
    }

    /// Counts one override of the safety layer.
    pub(crate) fn overridden(&self, kind: OverrideKind) {
        self.fallbacks
            .get_or_create(&ReasonLabel {
                reason: kind.as_str(),
            })
            .inc();
    }

    /// Records a confirmed write of `replicas`.
    pub(crate) fn scaled(&self, replicas: u32) {
        self.scaling_actions.inc();
        self.replicas.set(i64::from(replicas));
    }

    /// Records `spec.replicas` as read from the cluster.
    pub(crate) fn set_replicas(&self, replicas: u32) {
        self.replicas.set(i64::from(replicas));
    }

    /// Records the p95 latency the metrics showed.
    pub(crate) fn set_latency_p95(&self, seconds: f64) {
        self.latency_p95.set(seconds);
    }

    /// Records the version of the model deciding.
    pub(crate) fn set_model_version(&self, version: u64) {
        self.model_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    /// Records whether each breaker is holding writes back (open, or half-open awaiting
    /// its probe's outcome).
    pub(crate) fn set_breakers(&self, actuator_open: bool, metrics_open: bool) {
        for (breaker, open) in [("actuator", actuator_open), ("metrics", metrics_open)] {
            self.circuit_open
                .get_or_create(&BreakerLabel { breaker })
                .set(i64::from(open));
        }
    }

    /// Counts a failed metrics read.
    pub(crate) fn metrics_failed(&self) {
        self.metrics_errors.inc();
    }

    /// Counts a failed Kubernetes API call.
    pub(crate) fn actuator_failed(&self) {
        self.actuator_errors.inc();
    }

    /// Records whether this agent may write; a change counts as a transition.
    pub(crate) fn set_leader(&self, leader: bool) {
        let before = self.leader.set(i64::from(leader));
        if before != i64::from(leader) {
            self.leader_transitions.inc();
        }
    }

    /// Counts a failed call on the Lease.
    pub(crate) fn lease_failed(&self) {
        self.lease_errors.inc();
    }

    /// Counts a write withheld while standing by.
    pub(crate) fn standby_withheld(&self) {
        self.standby_withheld.inc();
    }

    /// Counts a transition the experience log could not record.
    pub(crate) fn experience_failed(&self) {
        self.experience_errors.inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line starting with `series ` in `text`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn every_contract_metric_is_exported_under_its_name() {
        let m = AgentMetrics::new();
        m.decided(3, 5, 12e-6);
        m.decided(5, 5, 9e-6);
        m.decided(5, 4, 9e-6);
        m.decided(4, 3, 9e-6);
        m.overridden(OverrideKind::MetricsStale);
        m.overridden(OverrideKind::MetricsStale);
        m.overridden(OverrideKind::ScaleDownCooldown);
        m.scaled(5);
        m.set_latency_p95(0.125);
        m.set_model_version(7);
        m.metrics_failed();
        m.experience_failed();
        m.set_breakers(true, false);
        m.set_leader(true);
        m.set_leader(true);
        m.set_leader(false);
        m.lease_failed();
        m.standby_withheld();
        m.standby_withheld();
        m.twin_verdict(false, 1.2, 1_700_000_000);
        m.twin_verdict(true, 0.96, 1_700_021_600);
        let text = m.encode();
        let expect = [
            ("rl_agent_decisions_total{action=\"scale_up\"}", 1.0),
            ("rl_agent_decisions_total{action=\"hold\"}", 1.0),
            ("rl_agent_decisions_total{action=\"scale_down\"}", 2.0),
            ("rl_agent_scaling_actions_total", 1.0),
            ("rl_agent_replicas", 5.0),
            ("rl_agent_latency_p95_seconds", 0.125),
            ("rl_agent_fallback_total{reason=\"metrics_stale\"}", 2.0),
            (
                "rl_agent_fallback_total{reason=\"scale_down_cooldown\"}",
                1.0,
            ),
            ("rl_agent_model_version", 7.0),
            ("rl_agent_decision_duration_seconds_count", 4.0),
            ("rl_agent_metrics_errors_total", 1.0),
            ("rl_agent_actuator_errors_total", 0.0),
            ("rl_agent_experience_errors_total", 1.0),
            ("rl_agent_fallback_total{reason=\"low_confidence\"}", 0.0),
            ("rl_agent_circuit_open{breaker=\"actuator\"}", 1.0),
            ("rl_agent_circuit_open{breaker=\"metrics\"}", 0.0),
            ("rl_agent_leader", 0.0),
            ("rl_agent_leader_transitions_total", 2.0),
            ("rl_agent_lease_errors_total", 1.0),
            ("rl_agent_standby_withheld_writes_total", 2.0),
            ("rl_agent_twin_verdicts_total{outcome=\"promoted\"}", 1.0),
            ("rl_agent_twin_verdicts_total{outcome=\"kept\"}", 1.0),
            ("rl_agent_twin_candidate_cost_ratio", 0.96),
            (
                "rl_agent_twin_last_verdict_timestamp_seconds",
                1_700_021_600.0,
            ),
        ];
        for (series, value) in expect {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        // 12 µs falls in the (8 µs, 16 µs] bucket; 9 µs three times too.
        assert_eq!(
            sample(
                &text,
                "rl_agent_decision_duration_seconds_bucket{le=\"0.000016\"}"
            ),
            Some(4.0),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
