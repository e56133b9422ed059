//! What a closed round reports: the record behind the coordinator's round log line and
//! its `RoundClosed` event.

use std::time::Duration;

use common::proto::LocalMetrics;

use crate::aggregate::rejection::RejectionCounts;

/// Why a round closed when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Every participant contributed, reported an error, or disconnected.
    AllAnswered,
    /// The quorum contributed and the grace period passed.
    Quorum,
    /// The deadline passed first.
    Deadline,
}

impl CloseReason {
    /// A stable label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllAnswered => "all_answered",
            Self::Quorum => "quorum",
            Self::Deadline => "deadline",
        }
    }
}

/// How a closed round ended, as counted by `rl_coordinator_rounds_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoundOutcome {
    /// Its aggregate became a new fleet version.
    Published,
    /// No valid update arrived, so there was nothing to publish: every participant
    /// failed, left or was refused.
    Empty,
    /// Updates were aggregated but the registry could not record the result; the fleet
    /// stays on the round's base.
    Failed,
}

impl RoundOutcome {
    /// Every outcome, so a metrics exporter can publish each series before it happens.
    pub const ALL: [Self; 3] = [Self::Published, Self::Empty, Self::Failed];

    /// The label; part of the coordinator's observable interface, so never renamed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Empty => "empty",
            Self::Failed => "failed",
        }
    }
}

/// The contributors' local metrics, averaged with equal weight per contributor: a
/// dashboard figure, not an evaluation, since each agent measures on its own workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanMetrics {
    /// Mean of the contributors' mean reward per step.
    pub mean_reward: f64,
    /// Mean of their SLO compliance (0–1).
    pub slo_compliance: f64,
    /// Mean of their local cost.
    pub cost: f64,
    /// Episodes completed, summed.
    pub episodes: u64,
}

impl MeanMetrics {
    /// The mean of `metrics`, `None` when there are none.
    pub(crate) fn of<'a>(metrics: impl IntoIterator<Item = &'a LocalMetrics>) -> Option<Self> {
        let mut n = 0_u32;
        let mut sum = Self {
            mean_reward: 0.0,
            slo_compliance: 0.0,
            cost: 0.0,
            episodes: 0,
        };
        for m in metrics {
            n += 1;
            sum.mean_reward += m.mean_reward;
            sum.slo_compliance += m.slo_compliance;
            sum.cost += m.cost;
            sum.episodes = sum.episodes.saturating_add(m.episodes);
        }
        (n > 0).then(|| {
            let n = f64::from(n);
            Self {
                mean_reward: sum.mean_reward / n,
                slo_compliance: sum.slo_compliance / n,
                cost: sum.cost / n,
                episodes: sum.episodes,
            }
        })
    }
}

/// One closed round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSummary {
    /// The round number.
    pub round: u64,
    /// The fleet version it was offered on.
    pub base_version: u64,
    /// The version it published; `None` when no valid update arrived or publishing failed.
    pub version: Option<u64>,
    /// Agents offered the round.
    pub participants: usize,
    /// Updates folded into the result.
    pub accepted: usize,
    /// Participants that answered with an error (could not train).
    pub agent_errors: usize,
    /// Participants that disconnected before contributing.
    pub departed: usize,
    /// Updates refused, by reason, including late answers to this round's number that
    /// arrived while it was open.
    pub rejections: RejectionCounts,
    /// Environment samples behind the accepted updates.
    pub total_samples: u64,
    /// The contributors' metrics; `None` when nobody contributed.
    pub metrics: Option<MeanMetrics>,
    /// What closed it.
    pub closed_by: CloseReason,
    /// Time from opening to closing (publication included), by the caller's clock.
    pub duration: Duration,
}

impl RoundSummary {
    /// How the round ended. A round only publishes when some update was accepted, so an
    /// accepted update without a version means the publication itself failed.
    pub fn outcome(&self) -> RoundOutcome {
        match (self.version, self.accepted) {
            (Some(_), _) => RoundOutcome::Published,
            (None, 0) => RoundOutcome::Empty,
            (None, _) => RoundOutcome::Failed,
        }
    }
}
