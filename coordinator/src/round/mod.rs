//! The round engine: when a federated round opens, who is offered it, when it closes, and
//! what is sent to whom on the way, as a pure state machine. The server's tokio shell
//! feeds it what happens (an agent joined or left, an update or an error arrived, a
//! publication succeeded, time passed) and carries out the [`Action`]s it returns (send a
//! message to an agent, publish an aggregate, report a round). Time is a plain value the
//! caller passes in, so every rule here (quorum, grace, deadline, the pause between
//! rounds) is tested with fake time and no sockets.
//!
//! Policy ([`RoundPolicy`]): wait until enough agents are connected, offer the round to a
//! seeded random sample of them, and close it when every participant has answered or
//! left, when a quorum has contributed and a short grace has passed, or at the deadline,
//! whichever comes first; aggregate what arrived and publish it, or publish nothing if no
//! valid update came. A participant that disconnects only stops being waited for.

mod action;
mod engine;
mod policy;
mod sampling;
mod summary;
#[cfg(test)]
mod tests;

pub(crate) use action::{Action, Outgoing, Publication};
pub use engine::EngineError;
pub(crate) use engine::{AgentJoin, ConnectionId, EngineConfig, FleetModel, RoundEngine};
pub use policy::{PolicyError, RoundPolicy};
pub use summary::{CloseReason, MeanMetrics, RoundOutcome, RoundSummary};
