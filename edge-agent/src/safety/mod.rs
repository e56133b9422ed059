//! The safety layer stands between whatever proposes a replica count (a learned policy, or
//! a baseline) and the actuator that writes `spec.replicas`. A learned policy is only as
//! good as the data it was trained on, and the cluster it drives is someone's production
//! workload, so nothing it proposes reaches the cluster unchecked: when its inputs cannot
//! be trusted (missing or stale metrics, an observation unlike anything seen in training,
//! a hesitant policy) the Kubernetes HPA rule decides instead; every result is kept within
//! the replica bounds, cooldowns and per-minute rate limits; a circuit breaker stops writing
//! while the actuator or the metrics keep failing; and shadow mode lets a new policy run
//! beside the real autoscaler, deciding without writing. Every time the layer changes or
//! withholds a decision it says so in a [`decision::Override`] with a reason, so an operator
//! (and the `rl_agent_fallback_total{reason}` counter) can see why the cluster did not do
//! what the policy asked.
//!
//! The module is pure: no I/O and no clock. Time is the caller's `now_s` (simulated or unix
//! seconds), so the same rules run unchanged in the simulator, in tests and on a cluster.
//! [`layer::SafetyLayer`] is the entry point and documents the order in which the rules
//! apply.

pub(crate) mod breaker;
pub(crate) mod config;
pub(crate) mod decision;
pub(crate) mod envelope;
mod fallback;
pub(crate) mod layer;
mod limits;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_support;
