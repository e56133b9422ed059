//! What the round engine asks its shell to do.

use std::sync::Arc;

use common::proto::{ErrorMessage, RoundOffer};

use super::summary::RoundSummary;
use crate::aggregate::rejection::Rejection;
use crate::aggregate::round::Contribution;

/// One effect the shell carries out, in the order returned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send `message` to the agent of `cluster_id`. Messages to one agent must leave in
    /// the order they were returned: a model sent before an offer is the offer's base.
    Send {
        /// The recipient.
        cluster_id: String,
        /// What to send.
        message: Outgoing,
    },
    /// A round opened.
    RoundOpened {
        /// Its number.
        round: u64,
        /// The fleet version offered.
        base_version: u64,
        /// Who was offered it.
        participants: Vec<String>,
    },
    /// Publish these weights as the next fleet version, then report the outcome with
    /// [`RoundEngine::published`](super::RoundEngine::published) or
    /// [`RoundEngine::publish_failed`](super::RoundEngine::publish_failed); no round opens
    /// meanwhile.
    Publish(Publication),
    /// An update was folded into the open round. Reported when it happens rather than
    /// only in the round's summary, so a metrics scrape sees progress during a long round.
    Accepted {
        /// The sender.
        cluster_id: String,
        /// The round it counts towards.
        round: u64,
    },
    /// An update was refused (also answered with an error to its sender).
    Rejected {
        /// The sender.
        cluster_id: String,
        /// Why.
        rejection: Rejection,
    },
    /// A round closed; comes after its publication is settled.
    RoundClosed(RoundSummary),
    /// The policy's `max_rounds` were run; no further round opens.
    Finished,
}

/// A message for one agent. Models are named by version so the shell can encode each
/// version once and share the bytes among all agents.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    /// The current fleet model, of this version.
    GlobalModel {
        /// The version.
        version: u64,
    },
    /// An invitation to the open round.
    Offer(RoundOffer),
    /// A refusal of the agent's last update.
    Error(ErrorMessage),
}

/// An aggregate to record as the next fleet version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Publication {
    /// The round that produced it.
    pub(crate) round: u64,
    /// The version it was trained from, which must still be the newest fleet version.
    pub(crate) parent: u64,
    /// The new weights; the engine keeps them as the next round's base.
    pub(crate) weights: Arc<[f32]>,
    /// Who contributed, in arrival order.
    pub(crate) contributions: Vec<Contribution>,
    /// The contributors' workload tags, sorted and deduplicated.
    pub(crate) tags: Vec<String>,
}
