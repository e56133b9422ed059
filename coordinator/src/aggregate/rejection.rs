//! Why an update was refused, and how often each reason occurred in a round.

use common::proto::ErrorCode;

/// Why an update was not folded into the round. The variants carry what an operator needs
/// to act; [`reason`](Self::reason) collapses them to the stable label used in logs and
/// metrics, so dashboards keep working when a message's wording changes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Rejection {
    /// The sender was not offered this round (not sampled, or not a fleet member).
    #[error("cluster was not offered this round")]
    UnknownCluster,
    /// The sender already contributed to this round; a second vote would double its weight.
    #[error("cluster already contributed to this round")]
    Duplicate,
    /// A late answer to an earlier round, or a confused agent.
    #[error("answers round {got}, but round {expected} is open")]
    WrongRound {
        /// The open round.
        expected: u64,
        /// The round the update names.
        got: u64,
    },
    /// An answer that arrives while no round is open, typically after its round closed.
    #[error("answers round {got}, but no round is open; wait for the next offer")]
    NoOpenRound {
        /// The round the update names.
        got: u64,
    },
    /// Trained from another global version, so its delta would be applied to the wrong base.
    #[error(
        "trained from version {got}, but this round's base is version {expected}; the agent must fetch the current global model"
    )]
    StaleBase {
        /// The round's base version.
        expected: u64,
        /// The version the update names.
        got: u64,
    },
    /// No samples means no evidence, and a FedAvg weight of zero.
    #[error("claims zero samples, so it carries no evidence")]
    ZeroSamples,
    /// The vector does not line up with the model's parameters.
    #[error("has {got} values, but the model has {expected} parameters")]
    WrongLength {
        /// The model's parameter count.
        expected: usize,
        /// The update's length.
        got: usize,
    },
    /// A NaN or infinity in the weights or delta.
    #[error("value {index} is NaN or infinite")]
    NonFinite {
        /// Position of the first offending value.
        index: usize,
    },
    /// Finite, but the delta (weights minus base) or the weights it implies (base plus
    /// delta) leave the `f32` range: applying it would write an infinity into the model.
    #[error("value {index} overflows f32 once combined with the base model")]
    Overflow {
        /// Position of the first offending value.
        index: usize,
    },
    /// A NaN or infinite local metric; it would poison the manifest the round is recorded in.
    #[error("metric `{name}` is NaN or infinite")]
    NonFiniteMetric {
        /// The metric's field name.
        name: &'static str,
    },
}

impl Rejection {
    /// The counted category.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Self::UnknownCluster => Reason::UnknownCluster,
            Self::Duplicate => Reason::Duplicate,
            Self::WrongRound { .. } | Self::NoOpenRound { .. } => Reason::WrongRound,
            Self::StaleBase { .. } => Reason::StaleBase,
            Self::ZeroSamples => Reason::ZeroSamples,
            Self::WrongLength { .. } => Reason::WrongLength,
            Self::NonFinite { .. } | Self::Overflow { .. } | Self::NonFiniteMetric { .. } => {
                Reason::NonFinite
            }
        }
    }

    /// The stable label of [`reason`](Self::reason).
    pub(crate) fn as_str(&self) -> &'static str {
        self.reason().as_str()
    }

    /// The code sent back to the agent, chosen for what the agent should do next: fetch
    /// the current model on a stale base, wait for the next offer on a wrong round or
    /// after a duplicate, fix itself on anything malformed.
    pub(crate) fn error_code(&self) -> ErrorCode {
        match self {
            Self::UnknownCluster => ErrorCode::Unauthorized,
            Self::WrongRound { .. } | Self::NoOpenRound { .. } | Self::Duplicate => {
                ErrorCode::WrongRound
            }
            Self::StaleBase { .. } => ErrorCode::StaleBase,
            Self::ZeroSamples
            | Self::WrongLength { .. }
            | Self::NonFinite { .. }
            | Self::Overflow { .. }
            | Self::NonFiniteMetric { .. } => ErrorCode::Invalid,
        }
    }
}

/// A rejection category: few and fixed, so each can be a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// [`Rejection::UnknownCluster`].
    UnknownCluster,
    /// [`Rejection::Duplicate`].
    Duplicate,
    /// [`Rejection::WrongRound`] and [`Rejection::NoOpenRound`].
    WrongRound,
    /// [`Rejection::StaleBase`].
    StaleBase,
    /// [`Rejection::ZeroSamples`].
    ZeroSamples,
    /// [`Rejection::WrongLength`].
    WrongLength,
    /// [`Rejection::NonFinite`], [`Rejection::Overflow`] and [`Rejection::NonFiniteMetric`].
    NonFinite,
}

impl Reason {
    /// Every reason, in the order [`RejectionCounts::iter`] reports them.
    pub const ALL: [Self; 7] = [
        Self::UnknownCluster,
        Self::Duplicate,
        Self::WrongRound,
        Self::StaleBase,
        Self::ZeroSamples,
        Self::WrongLength,
        Self::NonFinite,
    ];

    /// The label; part of the coordinator's observable interface, so never renamed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownCluster => "unknown_cluster",
            Self::Duplicate => "duplicate",
            Self::WrongRound => "wrong_round",
            Self::StaleBase => "stale_base",
            Self::ZeroSamples => "zero_samples",
            Self::WrongLength => "wrong_length",
            Self::NonFinite => "non_finite",
        }
    }
}

/// How many updates were refused for each reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    counts: [u64; Reason::ALL.len()],
}

impl RejectionCounts {
    /// Counts one rejection.
    pub(crate) fn record(&mut self, rejection: &Rejection) {
        self.counts[rejection.reason() as usize] += 1;
    }

    /// Rejections for `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.counts[reason as usize]
    }

    /// Rejections of any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every reason with its count, zeros included, so a metrics exporter can publish
    /// each series from the first round on.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL.into_iter().map(|r| (r, self.get(r)))
    }

    /// Adds `other`'s counts to these, e.g. the refusals the round engine made itself to
    /// the aggregator's.
    pub(crate) fn add(&mut self, other: &RejectionCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
    }
}
