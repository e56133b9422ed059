//! The round engine's state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use common::proto::{ErrorMessage, ModelArchitecture, RoundOffer, TrainingBudget, Update};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::action::{Action, Outgoing, Publication};
use super::policy::{PolicyError, RoundPolicy};
use super::sampling::{participant_count, quorum_size, sample};
use super::summary::{CloseReason, MeanMetrics, RoundSummary};
use crate::aggregate::rejection::{Rejection, RejectionCounts};
use crate::aggregate::round::{AggregationConfig, Aggregator, ConfigError, RoundSpec};

/// Tells one connection of a cluster from the next: when an agent reconnects before its
/// old connection is noticed dead, the old connection's departure must not remove the
/// new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnectionId(pub(crate) u64);

/// An agent whose hello was accepted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgentJoin {
    /// Its cluster, from its certificate.
    pub(crate) cluster_id: String,
    /// Its connection.
    pub(crate) connection: ConnectionId,
    /// The version the hello was answered with (the fleet model or a fine-tune for its
    /// workload), so the engine knows whether an offer needs the base sent first.
    pub(crate) holds: Option<u64>,
    /// The workload tags from its hello, recorded on the versions it contributes to.
    pub(crate) workload_tags: Vec<String>,
}

/// The newest fleet model: the base of the next round.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FleetModel {
    /// Its registry version.
    pub(crate) version: u64,
    /// Its weights.
    pub(crate) weights: Arc<[f32]>,
}

/// Everything the engine is configured by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EngineConfig {
    /// When rounds open and close.
    pub(crate) policy: RoundPolicy,
    /// How updates are combined.
    pub(crate) aggregation: AggregationConfig,
    /// The fleet's model shape.
    pub(crate) architecture: ModelArchitecture,
    /// Seed of participant sampling.
    pub(crate) seed: u64,
}

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The round policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The aggregation settings.
    #[error(transparent)]
    Aggregation(#[from] ConfigError),
    /// The starting model does not fit the architecture.
    #[error("the fleet model has {got} weights, but the architecture has {expected} parameters")]
    FleetWeights {
        /// The architecture's parameter count.
        expected: u64,
        /// The weights' length.
        got: usize,
    },
}

#[derive(Debug)]
struct Agent {
    connection: ConnectionId,
    holds: Option<u64>,
    workload_tags: Vec<String>,
}

#[derive(Debug)]
struct OpenRound {
    round: u64,
    aggregator: Aggregator,
    participants: BTreeSet<String>,
    contributed: BTreeSet<String>,
    errored: BTreeSet<String>,
    departed: BTreeSet<String>,
    /// Refusals the engine made before the aggregator saw the update (wrong round).
    engine_rejections: RejectionCounts,
    contributor_tags: BTreeSet<String>,
    opened_at: Duration,
    deadline_at: Duration,
    quorum_needed: usize,
    quorum_since: Option<Duration>,
}

impl OpenRound {
    fn pending(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| {
                !self.contributed.contains(*p)
                    && !self.errored.contains(*p)
                    && !self.departed.contains(*p)
            })
            .count()
    }
}

#[derive(Debug)]
struct PendingPublication {
    summary: RoundSummary,
    weights: Arc<[f32]>,
    opened_at: Duration,
}

#[derive(Debug)]
enum Phase {
    /// Between rounds: the next opens at `not_before` once enough agents are connected.
    Waiting {
        not_before: Duration,
    },
    Open(Box<OpenRound>),
    /// The aggregate is being written; nothing opens until the shell reports back.
    Publishing(Box<PendingPublication>),
    /// `max_rounds` were run.
    Finished,
}

/// Runs federated rounds over the connected agents; see the [module docs](super).
///
/// Every input takes `now`, the caller's clock as time since an origin of its choosing,
/// and returns the actions it causes, in order.
#[derive(Debug)]
pub(crate) struct RoundEngine {
    config: EngineConfig,
    rng: ChaCha8Rng,
    agents: BTreeMap<String, Agent>,
    fleet: FleetModel,
    next_round: u64,
    rounds_closed: u64,
    rejections: RejectionCounts,
    phase: Phase,
}

impl RoundEngine {
    /// An engine whose first round is numbered `next_round` and builds on `fleet`; it
    /// opens as soon as enough agents are connected.
    pub(crate) fn new(
        config: EngineConfig,
        fleet: FleetModel,
        next_round: u64,
        now: Duration,
    ) -> Result<Self, EngineError> {
        config.policy.validate()?;
        config.aggregation.validate()?;
        let expected = config.architecture.parameter_count;
        if u64::try_from(fleet.weights.len()).ok() != Some(expected) {
            return Err(EngineError::FleetWeights {
                expected,
                got: fleet.weights.len(),
            });
        }
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            agents: BTreeMap::new(),
            fleet,
            next_round,
            rounds_closed: 0,
            rejections: RejectionCounts::default(),
            phase: Phase::Waiting { not_before: now },
        })
    }

    /// The newest fleet model.
    #[cfg(test)]
    pub(crate) fn fleet(&self) -> &FleetModel {
        &self.fleet
    }

    /// Agents currently connected.
    pub(crate) fn connected(&self) -> usize {
        self.agents.len()
    }

    /// The open round's number, if one is open.
    #[cfg(test)]
    pub(crate) fn open_round(&self) -> Option<u64> {
        match &self.phase {
            Phase::Open(open) => Some(open.round),
            _ => None,
        }
    }

    /// Whether `max_rounds` were run.
    #[cfg(test)]
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// Every refusal since the engine started, late answers between rounds included.
    #[cfg(test)]
    pub(crate) fn rejections(&self) -> &RejectionCounts {
        &self.rejections
    }

    /// When the engine next needs a [`tick`](Self::tick) if nothing else happens: the
    /// open round's deadline or end of grace, or the next round's start. `None` when only
    /// an input can change anything.
    pub(crate) fn next_wakeup(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Open(open) => {
                let grace_end = open.quorum_since.map(|t| t + self.config.policy.grace);
                Some(grace_end.map_or(open.deadline_at, |g| g.min(open.deadline_at)))
            }
            Phase::Waiting { not_before } if self.agents.len() >= self.config.policy.min_agents => {
                Some(*not_before)
            }
            _ => None,
        }
    }

    /// Time passed: closes a round whose deadline or grace is over, opens one that is due.
    pub(crate) fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        self.check_close(now, &mut actions);
        self.try_open(now, &mut actions);
        actions
    }

    /// An agent said hello and was answered. A cluster that was already connected is
    /// taken to have reconnected: the new connection replaces the old, and if it was
    /// offered the open round and has not answered, the offer is repeated (with the time
    /// left), since the old connection may have lost it.
    pub(crate) fn joined(&mut self, now: Duration, join: AgentJoin) -> Vec<Action> {
        let mut actions = Vec::new();
        let cluster = join.cluster_id.clone();
        self.agents.insert(
            cluster.clone(),
            Agent {
                connection: join.connection,
                holds: join.holds,
                workload_tags: join.workload_tags,
            },
        );
        let reoffer = match &mut self.phase {
            Phase::Open(open) => {
                let waiting_for = open.participants.contains(&cluster)
                    && !open.contributed.contains(&cluster)
                    && !open.errored.contains(&cluster);
                if waiting_for {
                    open.departed.remove(&cluster);
                }
                waiting_for
            }
            _ => false,
        };
        if reoffer {
            self.offer_to(&cluster, now, &mut actions);
        }
        self.try_open(now, &mut actions);
        actions
    }

    /// A connection ended. Ignored if the cluster has reconnected on another connection
    /// since. A participant that leaves is no longer waited for.
    pub(crate) fn left(
        &mut self,
        now: Duration,
        cluster_id: &str,
        connection: ConnectionId,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if self
            .agents
            .get(cluster_id)
            .is_none_or(|a| a.connection != connection)
        {
            return actions;
        }
        self.agents.remove(cluster_id);
        if let Phase::Open(open) = &mut self.phase
            && open.participants.contains(cluster_id)
            && !open.contributed.contains(cluster_id)
        {
            tracing::info!(
                cluster = cluster_id,
                round = open.round,
                "participant disconnected before contributing; the round no longer waits for it"
            );
            open.departed.insert(cluster_id.to_owned());
        }
        self.check_close(now, &mut actions);
        actions
    }

    /// An update arrived from `cluster_id` (the identity its certificate proves).
    pub(crate) fn update(
        &mut self,
        now: Duration,
        cluster_id: &str,
        update: &Update,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let outcome = match &mut self.phase {
            Phase::Open(open) if update.round != open.round => {
                let rejection = Rejection::WrongRound {
                    expected: open.round,
                    got: update.round,
                };
                open.engine_rejections.record(&rejection);
                tracing::warn!(
                    cluster = cluster_id,
                    reason = rejection.as_str(),
                    round = open.round,
                    "update rejected: {rejection}"
                );
                Err(rejection)
            }
            Phase::Open(open) => match open.aggregator.offer(cluster_id, update) {
                Ok(()) => {
                    open.contributed.insert(cluster_id.to_owned());
                    if let Some(agent) = self.agents.get(cluster_id) {
                        open.contributor_tags
                            .extend(agent.workload_tags.iter().cloned());
                    }
                    Ok(open.round)
                }
                Err(rejection) => Err(rejection),
            },
            _ => {
                let rejection = Rejection::NoOpenRound { got: update.round };
                tracing::warn!(
                    cluster = cluster_id,
                    reason = rejection.as_str(),
                    "update rejected: {rejection}"
                );
                Err(rejection)
            }
        };
        match outcome {
            Ok(round) => actions.push(Action::Accepted {
                cluster_id: cluster_id.to_owned(),
                round,
            }),
            Err(rejection) => self.refuse(cluster_id, update.round, rejection, &mut actions),
        }
        self.check_close(now, &mut actions);
        actions
    }

    /// Answers a refused update with an error and reports it.
    fn refuse(
        &mut self,
        cluster_id: &str,
        round: u64,
        rejection: Rejection,
        actions: &mut Vec<Action>,
    ) {
        self.rejections.record(&rejection);
        actions.push(Action::Send {
            cluster_id: cluster_id.to_owned(),
            message: Outgoing::Error(ErrorMessage::new(
                rejection.error_code(),
                format!("update for round {round} refused: {rejection}"),
            )),
        });
        actions.push(Action::Rejected {
            cluster_id: cluster_id.to_owned(),
            rejection,
        });
    }

    /// An agent reported that it could not train. A participant of the open round counts
    /// as answered: nothing more will come from it this round.
    pub(crate) fn agent_error(
        &mut self,
        now: Duration,
        cluster_id: &str,
        error: &ErrorMessage,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        match &mut self.phase {
            Phase::Open(open)
                if open.participants.contains(cluster_id)
                    && !open.contributed.contains(cluster_id) =>
            {
                tracing::warn!(
                    cluster = cluster_id,
                    round = open.round,
                    code = ?error.code,
                    "participant cannot contribute: {}",
                    error.message
                );
                open.errored.insert(cluster_id.to_owned());
            }
            _ => tracing::warn!(
                cluster = cluster_id,
                code = ?error.code,
                "agent reported an error: {}",
                error.message
            ),
        }
        self.check_close(now, &mut actions);
        actions
    }

    /// The shell published the [`Action::Publish`] it was given as `version`: it becomes
    /// the fleet model, is pushed to every connected agent, and the round is reported.
    pub(crate) fn published(&mut self, now: Duration, version: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let pending = match mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Publishing(pending) => pending,
            other => {
                self.phase = other;
                tracing::error!(
                    version,
                    "publication reported while none was requested; ignored"
                );
                return actions;
            }
        };
        let PendingPublication {
            mut summary,
            weights,
            opened_at,
        } = *pending;
        self.fleet = FleetModel { version, weights };
        for (cluster, agent) in &mut self.agents {
            agent.holds = Some(version);
            actions.push(Action::Send {
                cluster_id: cluster.clone(),
                message: Outgoing::GlobalModel { version },
            });
        }
        summary.version = Some(version);
        self.finish_round(now, summary, opened_at, &mut actions);
        actions
    }

    /// The shell could not publish the aggregate: the round closes without a new version
    /// and the next one builds on the old base.
    pub(crate) fn publish_failed(&mut self, now: Duration, reason: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let pending = match mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Publishing(pending) => pending,
            other => {
                self.phase = other;
                tracing::error!("publication failure reported while none was requested; ignored");
                return actions;
            }
        };
        tracing::error!(
            round = pending.summary.round,
            "cannot publish the round's aggregate, the fleet stays on version {}: {reason}",
            self.fleet.version
        );
        let PendingPublication {
            summary, opened_at, ..
        } = *pending;
        self.finish_round(now, summary, opened_at, &mut actions);
        actions
    }

    fn try_open(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let Phase::Waiting { not_before } = self.phase else {
            return;
        };
        let policy = &self.config.policy;
        if now < not_before || self.agents.len() < policy.min_agents {
            return;
        }
        let round = self.next_round;
        let count = participant_count(policy.participation, self.agents.len());
        let participants = sample(&mut self.rng, self.agents.keys(), count);
        let spec = RoundSpec {
            round,
            base_version: self.fleet.version,
            architecture: self.config.architecture.clone(),
            base_weights: self.fleet.weights.clone(),
            participants: participants.clone(),
        };
        let aggregator = match Aggregator::new(self.config.aggregation, spec) {
            Ok(aggregator) => aggregator,
            Err(e) => {
                // Checked in `new`, so only a bug gets here; stop rather than spin.
                tracing::error!("cannot open round {round}: {e}; no further rounds");
                self.phase = Phase::Finished;
                actions.push(Action::Finished);
                return;
            }
        };
        self.next_round += 1;
        tracing::info!(
            round,
            base_version = self.fleet.version,
            participants = participants.len(),
            connected = self.agents.len(),
            "round opened"
        );
        actions.push(Action::RoundOpened {
            round,
            base_version: self.fleet.version,
            participants: participants.iter().cloned().collect(),
        });
        let quorum_needed = quorum_size(policy.quorum, participants.len());
        self.phase = Phase::Open(Box::new(OpenRound {
            round,
            aggregator,
            participants: participants.clone(),
            contributed: BTreeSet::new(),
            errored: BTreeSet::new(),
            departed: BTreeSet::new(),
            engine_rejections: RejectionCounts::default(),
            contributor_tags: BTreeSet::new(),
            opened_at: now,
            deadline_at: now + policy.deadline,
            quorum_needed,
            quorum_since: None,
        }));
        for cluster in &participants {
            self.offer_to(cluster, now, actions);
        }
    }

    /// Sends the open round's offer to `cluster`, preceded by the base model if the agent
    /// does not hold it, so an offer never names a base the agent lacks.
    fn offer_to(&mut self, cluster: &str, now: Duration, actions: &mut Vec<Action>) {
        let Phase::Open(open) = &self.phase else {
            return;
        };
        let Some(agent) = self.agents.get_mut(cluster) else {
            return;
        };
        let base = self.fleet.version;
        if agent.holds != Some(base) {
            agent.holds = Some(base);
            actions.push(Action::Send {
                cluster_id: cluster.to_owned(),
                message: Outgoing::GlobalModel { version: base },
            });
        }
        let left = open.deadline_at.saturating_sub(now);
        actions.push(Action::Send {
            cluster_id: cluster.to_owned(),
            message: Outgoing::Offer(RoundOffer {
                round: open.round,
                base_version: base,
                budget: TrainingBudget {
                    env_steps: self.config.policy.budget_env_steps,
                },
                deadline_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            }),
        });
    }

    fn check_close(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let reason = if open.pending() == 0 {
            Some(CloseReason::AllAnswered)
        } else if now >= open.deadline_at {
            Some(CloseReason::Deadline)
        } else if open.aggregator.accepted() >= open.quorum_needed {
            let since = *open.quorum_since.get_or_insert(now);
            (now >= since + self.config.policy.grace).then_some(CloseReason::Quorum)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.close(now, reason, actions);
        }
    }

    fn close(&mut self, now: Duration, closed_by: CloseReason, actions: &mut Vec<Action>) {
        let open = match mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Open(open) => open,
            other => {
                self.phase = other;
                return;
            }
        };
        let OpenRound {
            round,
            aggregator,
            participants,
            contributed,
            errored,
            departed,
            engine_rejections,
            contributor_tags,
            opened_at,
            ..
        } = *open;
        let mut rejections = aggregator.rejections().clone();
        rejections.add(&engine_rejections);
        let mut summary = RoundSummary {
            round,
            base_version: self.fleet.version,
            version: None,
            participants: participants.len(),
            accepted: contributed.len(),
            agent_errors: errored.len(),
            departed: departed.difference(&contributed).count(),
            rejections,
            total_samples: 0,
            metrics: None,
            closed_by,
            duration: Duration::ZERO,
        };
        let Some(result) = aggregator.finish() else {
            tracing::warn!(
                round,
                closed_by = closed_by.as_str(),
                rejected = summary.rejections.total(),
                "round closed without a valid update; nothing published"
            );
            self.finish_round(now, summary, opened_at, actions);
            return;
        };
        summary.total_samples = result.total_samples;
        summary.metrics = MeanMetrics::of(result.contributions.iter().map(|c| &c.metrics));
        let weights: Arc<[f32]> = result.weights.into();
        actions.push(Action::Publish(Publication {
            round,
            parent: result.base_version,
            weights: weights.clone(),
            contributions: result.contributions,
            tags: contributor_tags.into_iter().collect(),
        }));
        self.phase = Phase::Publishing(Box::new(PendingPublication {
            summary,
            weights,
            opened_at,
        }));
    }

    fn finish_round(
        &mut self,
        now: Duration,
        mut summary: RoundSummary,
        opened_at: Duration,
        actions: &mut Vec<Action>,
    ) {
        summary.duration = now.saturating_sub(opened_at);
        self.rounds_closed += 1;
        tracing::info!(
            round = summary.round,
            version = summary.version,
            closed_by = summary.closed_by.as_str(),
            accepted = summary.accepted,
            participants = summary.participants,
            rejected = summary.rejections.total(),
            rejected_since_start = self.rejections.total(),
            departed = summary.departed,
            "round closed"
        );
        actions.push(Action::RoundClosed(summary));
        if self
            .config
            .policy
            .max_rounds
            .is_some_and(|max| self.rounds_closed >= max)
        {
            tracing::info!(
                rounds = self.rounds_closed,
                "ran the configured number of rounds"
            );
            self.phase = Phase::Finished;
            actions.push(Action::Finished);
            return;
        }
        self.phase = Phase::Waiting {
            not_before: now + self.config.policy.interval,
        };
        self.try_open(now, actions);
    }
}
