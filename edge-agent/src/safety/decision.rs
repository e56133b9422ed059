//! What the safety layer hands the actuator, and the record of every rule that intervened.

use std::fmt;

use serde::Serialize;

/// Why the layer changed or withheld a decision. The names are stable: they become the
/// `reason` label of `rl_agent_fallback_total` and appear in decision logs, so renaming one
/// breaks dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OverrideKind {
    /// No metrics have been scraped yet (or the query failed): the HPA rule decided.
    MetricsMissing,
    /// The newest scrape is older than `metrics_max_age_s`: the HPA rule decided.
    MetricsStale,
    /// An observation entry lies outside the training envelope: the HPA rule decided.
    OutOfDistribution,
    /// The policy's confidence is below `min_confidence`: the HPA rule decided.
    LowConfidence,
    /// Raised to `min_replicas`.
    MinReplicas,
    /// Lowered to `max_replicas`.
    MaxReplicas,
    /// A scale-up came too soon after the last change.
    ScaleUpCooldown,
    /// A scale-down came too soon after the last change.
    ScaleDownCooldown,
    /// More pods would have been added in 60 s than `max_added_per_minute`.
    ScaleUpRateLimit,
    /// More pods would have been removed in 60 s than `max_removed_per_minute`.
    ScaleDownRateLimit,
    /// The actuator or metrics circuit breaker is open: the current count holds.
    CircuitOpen,
    /// Shadow mode: the decision was recorded, not written.
    Shadow,
}

impl OverrideKind {
    /// Every kind, in the order the layer applies its rules, so a metrics exporter can
    /// register each label value up front.
    pub(crate) const ALL: [Self; 12] = [
        Self::MetricsMissing,
        Self::MetricsStale,
        Self::OutOfDistribution,
        Self::LowConfidence,
        Self::MinReplicas,
        Self::MaxReplicas,
        Self::ScaleUpCooldown,
        Self::ScaleDownCooldown,
        Self::ScaleUpRateLimit,
        Self::ScaleDownRateLimit,
        Self::CircuitOpen,
        Self::Shadow,
    ];

    /// The stable snake_case name, usable as a Prometheus label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::MetricsMissing => "metrics_missing",
            Self::MetricsStale => "metrics_stale",
            Self::OutOfDistribution => "out_of_distribution",
            Self::LowConfidence => "low_confidence",
            Self::MinReplicas => "min_replicas",
            Self::MaxReplicas => "max_replicas",
            Self::ScaleUpCooldown => "scale_up_cooldown",
            Self::ScaleDownCooldown => "scale_down_cooldown",
            Self::ScaleUpRateLimit => "scale_up_rate_limit",
            Self::ScaleDownRateLimit => "scale_down_rate_limit",
            Self::CircuitOpen => "circuit_open",
            Self::Shadow => "shadow",
        }
    }

    /// True for the reasons that hand the decision to the HPA rule.
    pub(crate) const fn is_fallback(self) -> bool {
        matches!(
            self,
            Self::MetricsMissing
                | Self::MetricsStale
                | Self::OutOfDistribution
                | Self::LowConfidence
        )
    }
}

impl fmt::Display for OverrideKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One intervention, with the numbers behind it so a log line explains itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Override {
    /// Which rule.
    pub(crate) kind: OverrideKind,
    /// Human-readable specifics, e.g. which observation entry was out of range.
    pub(crate) detail: String,
}

impl Override {
    pub(crate) fn new(kind: OverrideKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SafetyDecision {
    /// `spec.replicas` when the decision was made.
    pub(crate) current: u32,
    /// What the policy asked for.
    pub(crate) proposed: u32,
    /// The replica count the layer settled on. In shadow mode this is what would have been
    /// written; when the breaker holds, it is `current`.
    pub(crate) replicas: u32,
    /// Whether the actuator should write `replicas`: false in shadow mode, when nothing
    /// changes, and while a circuit breaker is open.
    pub(crate) apply: bool,
    /// Every rule that intervened, in the order applied; empty when the proposal passed
    /// untouched.
    pub(crate) overrides: Vec<Override>,
}

impl SafetyDecision {
    /// The reason the HPA rule decided instead of the policy, if it did.
    pub(crate) fn fallback(&self) -> Option<OverrideKind> {
        self.overrides
            .iter()
            .map(|o| o.kind)
            .find(|k| k.is_fallback())
    }

    /// Whether `kind` intervened.
    #[cfg(test)]
    pub(crate) fn has(&self, kind: OverrideKind) -> bool {
        self.overrides.iter().any(|o| o.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_stable_snake_case_and_match_serde() {
        let names: Vec<&str> = OverrideKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "metrics_missing",
                "metrics_stale",
                "out_of_distribution",
                "low_confidence",
                "min_replicas",
                "max_replicas",
                "scale_up_cooldown",
                "scale_down_cooldown",
                "scale_up_rate_limit",
                "scale_down_rate_limit",
                "circuit_open",
                "shadow",
            ]
        );
        for kind in OverrideKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn only_the_four_input_checks_are_fallbacks() {
        let fallbacks: Vec<OverrideKind> = OverrideKind::ALL
            .into_iter()
            .filter(|k| k.is_fallback())
            .collect();
        assert_eq!(
            fallbacks,
            [
                OverrideKind::MetricsMissing,
                OverrideKind::MetricsStale,
                OverrideKind::OutOfDistribution,
                OverrideKind::LowConfidence,
            ]
        );
    }

    #[test]
    fn fallback_finds_the_first_fallback_override() {
        let decision = SafetyDecision {
            current: 4,
            proposed: 9,
            replicas: 4,
            apply: false,
            overrides: vec![
                Override::new(OverrideKind::LowConfidence, "0.42 < 0.7"),
                Override::new(OverrideKind::ScaleUpCooldown, "until t=30"),
            ],
        };
        assert_eq!(decision.fallback(), Some(OverrideKind::LowConfidence));
        assert!(decision.has(OverrideKind::ScaleUpCooldown));
        assert!(!decision.has(OverrideKind::Shadow));
        assert_eq!(
            decision.overrides[0].to_string(),
            "low_confidence: 0.42 < 0.7"
        );
        let clean = SafetyDecision {
            overrides: Vec::new(),
            ..decision
        };
        assert_eq!(clean.fallback(), None);
    }
}
