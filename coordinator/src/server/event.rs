//! What a running coordinator reports to in-process observers.

use crate::aggregate::rejection::Reason;
use crate::round::RoundSummary;

/// Something that happened in the coordinator, as broadcast by
/// [`CoordinatorHandle::events`](super::CoordinatorHandle::events).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An agent's hello was accepted and answered with a model.
    AgentJoined {
        /// Its cluster.
        cluster_id: String,
        /// The version it was sent.
        version: u64,
    },
    /// An agent's hello was refused (e.g. a model of another shape); it was disconnected.
    AgentRefused {
        /// Its cluster.
        cluster_id: String,
        /// Why.
        reason: String,
    },
    /// An agent's connection ended.
    AgentLeft {
        /// Its cluster.
        cluster_id: String,
    },
    /// A round was offered.
    RoundOpened {
        /// Its number.
        round: u64,
        /// The version it builds on.
        base_version: u64,
        /// Who was offered it.
        participants: Vec<String>,
    },
    /// An update was refused; its sender was answered with an error.
    UpdateRejected {
        /// The sender.
        cluster_id: String,
        /// The counted reason.
        reason: Reason,
        /// The explanation sent to the agent.
        message: String,
    },
    /// A round closed (after its aggregate, if any, was published).
    RoundClosed(RoundSummary),
    /// The configured number of rounds ran; no further round opens.
    Finished,
}
