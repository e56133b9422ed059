//! What agents and the coordinator say to each other, independent of how it is encoded.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::floats::{f16_block, f32_block, round_to_f16};

/// One protocol message; every frame carries exactly one.
///
/// New variants go at the end: the encoding identifies a variant by its position, so
/// reordering them is a wire break that needs a new [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Agent → coordinator, first on every connection.
    Hello(Hello),
    /// Coordinator → agent: train on this base for this round.
    RoundOffer(RoundOffer),
    /// Agent → coordinator: what local training produced for an offered round.
    Update(Update),
    /// Coordinator → agent: a newly published (or, on connect, the current) global model.
    GlobalModel(GlobalModel),
    /// Either direction: why the peer's last message was refused.
    Error(ErrorMessage),
}

impl Message {
    /// A short name for logs and error messages, so a payload of megabytes of weights is
    /// never formatted just to say what arrived.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::RoundOffer(_) => "round offer",
            Self::Update(_) => "update",
            Self::GlobalModel(_) => "global model",
            Self::Error(_) => "error",
        }
    }
}

/// The agent introduces itself. The cluster's identity is also in its client certificate;
/// the coordinator must check that the two agree rather than trust this field alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The cluster this agent autoscales, as named in its certificate.
    pub cluster_id: String,
    /// The agent's build version, for the coordinator's logs and fleet overview.
    pub agent_version: String,
    /// The model the agent runs, so the coordinator only offers rounds whose updates it
    /// could aggregate.
    pub architecture: ModelArchitecture,
    /// Free-form labels of the workload (e.g. `web`, `batch`), for choosing a starting
    /// model for a new workload.
    pub workload_tags: Vec<String>,
}

/// Which learner a model belongs to; weights of different kinds never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// The DQN Q-network.
    Dqn,
    /// The PPO actor-critic.
    Ppo,
    /// The DQN with a slower PPO tuning its reward weights.
    Hybrid,
}

/// The shape of a model, enough to tell whether two flat weight vectors line up element
/// for element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelArchitecture {
    /// The learner.
    pub kind: ModelKind,
    /// Layer widths from input to output, e.g. `[12, 256, 256, 128, 3]` for the DQN.
    pub layers: Vec<u32>,
    /// Length of the flat weight vector. Stated rather than derived because not every
    /// network is a single chain (PPO has two heads on a shared trunk).
    pub parameter_count: u64,
}

impl ModelArchitecture {
    /// A fully connected chain, the common case, with its parameter count (weights and
    /// biases of every layer) computed so it cannot disagree with the layers.
    pub fn dense(kind: ModelKind, layers: Vec<u32>) -> Self {
        let parameter_count = layers
            .windows(2)
            .map(|w| u64::from(w[0]) * u64::from(w[1]) + u64::from(w[1]))
            .sum();
        Self {
            kind,
            layers,
            parameter_count,
        }
    }

    /// Whether weights of `other` can be averaged with, or loaded into, a model of this
    /// architecture. Only an exact match qualifies: averaging vectors that merely have the
    /// same length but different layer boundaries would silently produce nonsense.
    pub fn check_compatible(&self, other: &Self) -> Result<(), ArchitectureMismatch> {
        if self.kind != other.kind {
            return Err(ArchitectureMismatch::Kind {
                ours: self.kind,
                theirs: other.kind,
            });
        }
        if self.layers != other.layers {
            return Err(ArchitectureMismatch::Layers {
                ours: self.layers.clone(),
                theirs: other.layers.clone(),
            });
        }
        if self.parameter_count != other.parameter_count {
            return Err(ArchitectureMismatch::ParameterCount {
                ours: self.parameter_count,
                theirs: other.parameter_count,
            });
        }
        Ok(())
    }

    /// [`check_compatible`](Self::check_compatible) for callers that only branch on it.
    pub fn is_compatible(&self, other: &Self) -> bool {
        self.check_compatible(other).is_ok()
    }
}

/// Why two architectures cannot share weights; the text is meant for the error a
/// coordinator sends back with [`ErrorCode::IncompatibleArchitecture`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchitectureMismatch {
    /// Different learners.
    #[error("model kind {theirs:?} does not match {ours:?}; run the same learner on both sides")]
    Kind {
        /// This side's kind.
        ours: ModelKind,
        /// The peer's kind.
        theirs: ModelKind,
    },
    /// Same learner, different layer widths.
    #[error(
        "layers {theirs:?} do not match {ours:?}; the agent must use the fleet's network shape"
    )]
    Layers {
        /// This side's layers.
        ours: Vec<u32>,
        /// The peer's layers.
        theirs: Vec<u32>,
    },
    /// Same widths, different parameter counts: one side counts (or builds) the network
    /// differently, e.g. with or without biases.
    #[error(
        "{theirs} parameters do not match {ours}; both sides build the network from the same layers but disagree on its size"
    )]
    ParameterCount {
        /// This side's count.
        ours: u64,
        /// The peer's count.
        theirs: u64,
    },
}

/// The coordinator invites an agent to a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundOffer {
    /// The round number, echoed in the update so late answers to old rounds are spotted.
    pub round: u64,
    /// The global model version to train from; updates against another base are stale.
    pub base_version: u64,
    /// How much local training to do.
    pub budget: TrainingBudget,
    /// Milliseconds from receipt of the offer until the coordinator stops waiting. Relative
    /// rather than a wall-clock instant so agents and coordinator need no synchronised
    /// clocks; transit time only makes the agent slightly more conservative.
    pub deadline_ms: u64,
}

impl RoundOffer {
    /// The deadline as a duration to add to the moment the offer arrived.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}

/// How much local training a round asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingBudget {
    /// Environment steps (15 s decision intervals, simulated or replayed).
    pub env_steps: u64,
}

/// An agent's contribution to a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The round this answers.
    pub round: u64,
    /// The global version training started from.
    pub base_version: u64,
    /// Environment samples behind the update: the FedAvg weight.
    pub sample_count: u64,
    /// The trained model.
    pub payload: ModelPayload,
    /// How the local policy did, for the coordinator's manifest and dashboards.
    pub metrics: LocalMetrics,
}

/// A model as a flat vector in the architecture's parameter order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModelPayload {
    /// Full weights.
    Weights(#[serde(with = "f32_block")] Vec<f32>),
    /// Trained weights minus the base version's, which lets the coordinator clip the
    /// norm of what one agent can change.
    Delta(#[serde(with = "f32_block")] Vec<f32>),
    /// A delta that travels as `f16`: half the bytes of [`Delta`](Self::Delta). Values
    /// are rounded to the nearest `f16` when encoded, so build it with
    /// [`compact_delta`](Self::compact_delta), which rounds them first and falls back to
    /// `Delta` when a value does not fit.
    HalfDelta(#[serde(with = "f16_block")] Vec<f32>),
}

impl ModelPayload {
    /// The values, whichever form they are in, for shape and finiteness checks.
    pub fn values(&self) -> &[f32] {
        match self {
            Self::Weights(v) | Self::Delta(v) | Self::HalfDelta(v) => v,
        }
    }

    /// Whether the values are full weights rather than a delta against the base.
    pub fn is_weights(&self) -> bool {
        matches!(self, Self::Weights(_))
    }

    /// `delta` as a [`HalfDelta`](Self::HalfDelta), its values rounded to what the
    /// receiver will decode; as a plain [`Delta`](Self::Delta) if a finite value is
    /// beyond the `f16` range.
    pub fn compact_delta(mut delta: Vec<f32>) -> Self {
        match round_to_f16(&mut delta) {
            Ok(()) => Self::HalfDelta(delta),
            Err(_) => Self::Delta(delta),
        }
    }
}

/// What local training achieved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalMetrics {
    /// Mean reward per step.
    pub mean_reward: f64,
    /// Episodes completed.
    pub episodes: u64,
    /// Fraction (0–1) of intervals whose p95 latency met the SLO.
    pub slo_compliance: f64,
    /// Pod cost of the local episodes.
    pub cost: f64,
}

/// A published global model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalModel {
    /// The registry version.
    pub version: u64,
    /// Its shape, so an agent can refuse a model it cannot load before touching weights.
    pub architecture: ModelArchitecture,
    /// Full weights in parameter order.
    #[serde(with = "f32_block")]
    pub weights: Vec<f32>,
    /// The workload tags of the contributors, for picking a starting model by workload.
    pub tags: Vec<String>,
}

/// A refusal, with a code the peer can act on and a text for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// What kind of refusal.
    pub code: ErrorCode,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ErrorMessage {
    /// Convenience for the common `ErrorMessage { code, message: text.into() }`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Why a message was refused; each code implies a different reaction by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The peer speaks another protocol version: upgrade one side.
    UnsupportedVersion,
    /// The peer's identity is not allowed to do this.
    Unauthorized,
    /// The peer's model cannot be aggregated with the fleet's.
    IncompatibleArchitecture,
    /// The update was trained from an outdated global version: fetch the current one.
    StaleBase,
    /// The update answers a round that is not open.
    WrongRound,
    /// The message is malformed or its values are out of range (NaN weights, wrong length).
    Invalid,
    /// The sender failed on its own side; retrying later may help.
    Internal,
}
