//! The coordinator's Prometheus metrics, registered once and updated by the engine task as
//! agents come and go, updates arrive and rounds close.
//!
//! The names and label values are part of the deployment's contract (dashboards and
//! alerts query them), so renaming one is a breaking change. Every labelled series is
//! created at zero up front, so `increase()` and alerts see the first event rather than
//! a series appearing out of nowhere. Counters get the `_total` suffix from the encoder.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::aggregate::rejection::Reason;
use crate::round::{RoundOutcome, RoundSummary};

/// Label of `rl_coordinator_rounds_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Label of `rl_coordinator_updates_rejected_total`: [`Reason::as_str`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Every metric the coordinator exports.
#[derive(Debug)]
pub struct CoordinatorMetrics {
    registry: Registry,
    connected_agents: Gauge,
    rounds: Family<OutcomeLabel, Counter>,
    round_seconds: Histogram,
    updates_accepted: Counter,
    updates_rejected: Family<ReasonLabel, Counter>,
    model_version: Gauge,
    round: Gauge,
}

impl Default for CoordinatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CoordinatorMetrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let connected_agents = Gauge::default();
        registry.register(
            "rl_coordinator_connected_agents",
            "Agents whose hello was accepted and whose connection is open",
            connected_agents.clone(),
        );
        let rounds = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "rl_coordinator_rounds",
            "Rounds closed, by outcome (published, empty: no valid update, failed: the registry could not record the aggregate)",
            rounds.clone(),
        );
        // 0.1 s to ~14 min: a round with agents answering at once closes in well under a
        // second; the default deadline is two minutes, and the top buckets catch longer
        // configured ones.
        let round_seconds = Histogram::new(exponential_buckets(0.1, 2.0, 14));
        registry.register(
            "rl_coordinator_round_duration_seconds",
            "Time from a round's offer to its close, publication included",
            round_seconds.clone(),
        );
        let updates_accepted = Counter::default();
        registry.register(
            "rl_coordinator_updates_accepted",
            "Agents' updates folded into a round's aggregate",
            updates_accepted.clone(),
        );
        let updates_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "rl_coordinator_updates_rejected",
            "Agents' updates refused, by reason",
            updates_rejected.clone(),
        );
        let model_version = Gauge::default();
        registry.register(
            "rl_coordinator_model_version",
            "Newest global (fleet) model version in the registry",
            model_version.clone(),
        );
        let round = Gauge::default();
        registry.register(
            "rl_coordinator_round",
            "Number of the round open now, or of the last one opened (after a restart, the registry's last round until the next opens)",
            round.clone(),
        );
        for outcome in RoundOutcome::ALL {
            drop(rounds.get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            }));
        }
        for reason in Reason::ALL {
            drop(updates_rejected.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            }));
        }
        Self {
            registry,
            connected_agents,
            rounds,
            round_seconds,
            updates_accepted,
            updates_rejected,
            model_version,
            round,
        }
    }

    /// Records how many agents are connected.
    pub(crate) fn set_connected_agents(&self, agents: usize) {
        self.connected_agents
            .set(i64::try_from(agents).unwrap_or(i64::MAX));
    }

    /// Records the newest fleet version.
    pub(crate) fn set_model_version(&self, version: u64) {
        self.model_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    /// Records the current round number.
    pub(crate) fn set_round(&self, round: u64) {
        self.round.set(i64::try_from(round).unwrap_or(i64::MAX));
    }

    /// Counts one accepted update.
    pub(crate) fn update_accepted(&self) {
        self.updates_accepted.inc();
    }

    /// Counts one refused update.
    pub(crate) fn update_rejected(&self, reason: Reason) {
        self.updates_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Counts a closed round by its outcome and records how long it took.
    pub(crate) fn round_closed(&self, summary: &RoundSummary) {
        self.rounds
            .get_or_create(&OutcomeLabel {
                outcome: summary.outcome().as_str(),
            })
            .inc();
        self.round_seconds.observe(summary.duration.as_secs_f64());
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::aggregate::rejection::RejectionCounts;
    use crate::round::CloseReason;

    /// The value of the sample line starting with `series ` in `text`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    fn summary(version: Option<u64>, accepted: usize, seconds: f64) -> RoundSummary {
        RoundSummary {
            round: 3,
            base_version: 2,
            version,
            participants: 2,
            accepted,
            agent_errors: 0,
            departed: 0,
            rejections: RejectionCounts::default(),
            total_samples: 0,
            metrics: None,
            closed_by: CloseReason::AllAnswered,
            duration: Duration::from_secs_f64(seconds),
        }
    }

    #[test]
    fn every_series_exists_at_zero_before_anything_happens() {
        let text = CoordinatorMetrics::new().encode();
        for series in [
            "rl_coordinator_connected_agents",
            "rl_coordinator_rounds_total{outcome=\"published\"}",
            "rl_coordinator_rounds_total{outcome=\"empty\"}",
            "rl_coordinator_rounds_total{outcome=\"failed\"}",
            "rl_coordinator_round_duration_seconds_count",
            "rl_coordinator_updates_accepted_total",
            "rl_coordinator_model_version",
            "rl_coordinator_round",
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
        }
        for reason in Reason::ALL {
            let series = format!(
                "rl_coordinator_updates_rejected_total{{reason=\"{}\"}}",
                reason.as_str()
            );
            assert_eq!(sample(&text, &series), Some(0.0), "{series} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn events_move_their_series() {
        let m = CoordinatorMetrics::new();
        m.set_connected_agents(4);
        m.set_model_version(7);
        m.set_round(12);
        m.update_accepted();
        m.update_accepted();
        m.update_rejected(Reason::StaleBase);
        m.update_rejected(Reason::NonFinite);
        m.update_rejected(Reason::NonFinite);
        m.round_closed(&summary(Some(8), 2, 0.3));
        m.round_closed(&summary(None, 0, 120.0));
        m.round_closed(&summary(None, 1, 1.0));
        m.round_closed(&summary(Some(9), 1, 0.15));
        let text = m.encode();
        for (series, value) in [
            ("rl_coordinator_connected_agents", 4.0),
            ("rl_coordinator_model_version", 7.0),
            ("rl_coordinator_round", 12.0),
            ("rl_coordinator_updates_accepted_total", 2.0),
            (
                "rl_coordinator_updates_rejected_total{reason=\"stale_base\"}",
                1.0,
            ),
            (
                "rl_coordinator_updates_rejected_total{reason=\"non_finite\"}",
                2.0,
            ),
            (
                "rl_coordinator_updates_rejected_total{reason=\"duplicate\"}",
                0.0,
            ),
            ("rl_coordinator_rounds_total{outcome=\"published\"}", 2.0),
            ("rl_coordinator_rounds_total{outcome=\"empty\"}", 1.0),
            ("rl_coordinator_rounds_total{outcome=\"failed\"}", 1.0),
            ("rl_coordinator_round_duration_seconds_count", 4.0),
            // 0.15 s and 0.3 s fall at or under 0.4 s; 1 s under 1.6 s; 120 s above 102.4 s.
            (
                "rl_coordinator_round_duration_seconds_bucket{le=\"0.4\"}",
                2.0,
            ),
            (
                "rl_coordinator_round_duration_seconds_bucket{le=\"1.6\"}",
                3.0,
            ),
            (
                "rl_coordinator_round_duration_seconds_bucket{le=\"102.4\"}",
                3.0,
            ),
            (
                "rl_coordinator_round_duration_seconds_bucket{le=\"204.8\"}",
                4.0,
            ),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        let sum = sample(&text, "rl_coordinator_round_duration_seconds_sum").unwrap();
        assert!((sum - 121.45).abs() < 1e-9, "{sum}");
    }
}
