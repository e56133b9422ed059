//! Policies decide how many replicas the workload should run. Baselines (the Kubernetes
//! HPA, a tuned HPA and a clairvoyant oracle) and learned agents share one trait so the
//! scorecard can judge them the same way.

mod hpa;
mod oracle;
mod view;

pub use hpa::{
    Hpa, HpaBehavior, HpaConfig, ScalingPolicy, ScalingPolicyType, ScalingRules, SelectPolicy,
};
pub use oracle::{DEFAULT_ORACLE_MARGIN, Oracle};
pub use view::{ClusterView, ObservedMetrics, PodView};

/// Something that picks a replica count every decision interval.
pub trait Policy {
    /// Short name used in reports, e.g. `hpa` or `tuned(55%)`.
    fn name(&self) -> String;

    /// The replica count this policy wants now. The caller clamps it to the replica bounds.
    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32;

    /// Forgets all history, ready for a new episode.
    fn reset(&mut self);
}
