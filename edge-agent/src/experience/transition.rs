//! One control interval as the experience log keeps it.

use common::env::OBSERVATION_LEN;
use common::policy::ObservedMetrics;
use serde::{Deserialize, Serialize};

/// What the agent saw and did at one decision. What *followed* is the next transition's
/// observation and metrics, so a reward can be computed later under whatever reward
/// weights the learner uses then, instead of freezing today's into the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transition {
    /// Unix second of the decision.
    pub(crate) at_s: u64,
    /// The normalised observation the policy acted on.
    pub(crate) observation: [f32; OBSERVATION_LEN],
    /// The metrics behind it; `None` when they were missing or the read failed.
    pub(crate) metrics: Option<MetricsRecord>,
    /// `spec.replicas` when the decision was made.
    pub(crate) replicas_before: u32,
    /// The learned policy's action index, when a learned policy proposed (the HPA has none).
    pub(crate) action: Option<u32>,
    /// What the policy proposed.
    pub(crate) proposed: u32,
    /// What the safety layer settled on.
    pub(crate) decided: u32,
    /// Whether `decided` was written and the API confirmed it.
    pub(crate) applied: bool,
    /// The first fallback reason, when the HPA rule decided instead of the policy.
    pub(crate) fallback: Option<String>,
    /// Seconds from creation to Ready of every pod that became ready since the previous
    /// decision: what the twin's start-up delay is calibrated from. Empty in records of
    /// format version 1, which did not keep them.
    pub(crate) pod_startups_s: Vec<u32>,
}

/// A transition as format version 1 stored it: everything but the pod start-up times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TransitionV1 {
    at_s: u64,
    observation: [f32; OBSERVATION_LEN],
    metrics: Option<MetricsRecord>,
    replicas_before: u32,
    action: Option<u32>,
    proposed: u32,
    decided: u32,
    applied: bool,
    fallback: Option<String>,
}

#[cfg(test)]
impl From<&Transition> for TransitionV1 {
    fn from(t: &Transition) -> Self {
        Self {
            at_s: t.at_s,
            observation: t.observation,
            metrics: t.metrics,
            replicas_before: t.replicas_before,
            action: t.action,
            proposed: t.proposed,
            decided: t.decided,
            applied: t.applied,
            fallback: t.fallback.clone(),
        }
    }
}

impl From<TransitionV1> for Transition {
    fn from(t: TransitionV1) -> Self {
        Self {
            at_s: t.at_s,
            observation: t.observation,
            metrics: t.metrics,
            replicas_before: t.replicas_before,
            action: t.action,
            proposed: t.proposed,
            decided: t.decided,
            applied: t.applied,
            fallback: t.fallback,
            pod_startups_s: Vec::new(),
        }
    }
}

/// The metrics of one interval, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetricsRecord {
    pub(crate) timestamp_s: u64,
    pub(crate) request_rate_rps: f64,
    pub(crate) cpu_utilization: f64,
    pub(crate) memory_utilization: f64,
    pub(crate) p95_latency_s: f64,
    pub(crate) error_rate: f64,
    pub(crate) queue_length: f64,
    pub(crate) ready_pods: u32,
    pub(crate) pending_pods: u32,
}

impl From<&ObservedMetrics> for MetricsRecord {
    fn from(m: &ObservedMetrics) -> Self {
        Self {
            timestamp_s: m.timestamp_s,
            request_rate_rps: m.request_rate_rps,
            cpu_utilization: m.cpu_utilization,
            memory_utilization: m.memory_utilization,
            p95_latency_s: m.p95_latency_s,
            error_rate: m.error_rate,
            queue_length: m.queue_length,
            ready_pods: m.ready_pods,
            pending_pods: m.pending_pods,
        }
    }
}
