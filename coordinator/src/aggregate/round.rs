//! One round's aggregation: validate each update as it arrives, fold it, and produce the
//! next global weights when the round closes.

use std::collections::BTreeSet;
use std::sync::Arc;

use common::proto::{LocalMetrics, ModelArchitecture, ModelPayload, Update};

use super::rejection::{Rejection, RejectionCounts};
use super::strategy::Strategy;

/// How a round combines its updates; typically fleet configuration, the same every round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregationConfig {
    /// The combining rule.
    pub strategy: Strategy,
    /// Upper bound on the L2 norm of any one update's delta; longer deltas are scaled down
    /// to it. It bounds what a single agent can move the model in a round, whatever the
    /// strategy and whatever sample count it claims (with FedAvg the result is a weighted
    /// mean of clipped deltas, so its norm cannot exceed the bound either).
    pub clip_norm: Option<f64>,
}

impl AggregationConfig {
    /// Checks the trim fraction and clip bound, so a configuration can be refused when it
    /// is loaded rather than when the first round opens.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Strategy::TrimmedMean { trim_fraction } = self.strategy
            && !(0.0..0.5).contains(&trim_fraction)
        {
            return Err(ConfigError::TrimFraction(trim_fraction));
        }
        if let Some(c) = self.clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(ConfigError::ClipNorm(c));
        }
        Ok(())
    }
}

/// What one round is: what the coordinator offered, and to whom.
#[derive(Debug, Clone)]
pub(crate) struct RoundSpec {
    /// The round number in the offers.
    pub(crate) round: u64,
    /// The global version offered as the base.
    pub(crate) base_version: u64,
    /// The base model's shape; every update must have its parameter count.
    pub(crate) architecture: ModelArchitecture,
    /// The base weights. Needed on arrival, not only at the end: a full-weights update is
    /// turned into its delta against them so it can be clipped like any other. Shared
    /// because the round engine also serves them to agents.
    pub(crate) base_weights: Arc<[f32]>,
    /// The clusters that were offered the round; anyone else is refused.
    pub(crate) participants: BTreeSet<String>,
}

/// Why an aggregator could not be set up: a configuration or programming error, never
/// something an agent did.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A trim fraction of one half or more would drop every value.
    #[error("trim fraction {0} is outside [0, 0.5); use e.g. 0.1 to drop 10 % at each end")]
    TrimFraction(f64),
    /// A clip bound must be a positive, finite norm.
    #[error("clip norm {0} must be positive and finite")]
    ClipNorm(f64),
    /// The base weights disagree with the architecture they are said to have.
    #[error("base weights have {got} values, but the architecture has {expected} parameters")]
    BaseLength {
        /// The architecture's parameter count.
        expected: u64,
        /// The base weights' length.
        got: usize,
    },
}

/// One accepted update, as recorded in the new version's manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contribution {
    /// The sender.
    pub(crate) cluster_id: String,
    /// Its claimed sample count (its FedAvg weight).
    pub(crate) sample_count: u64,
    /// What its local training reported.
    pub(crate) metrics: LocalMetrics,
    /// L2 norm of its delta before clipping, worth watching: a norm far above the fleet's
    /// usual is the first sign of a diverging or hostile agent.
    pub(crate) delta_norm: f64,
    /// Whether clipping scaled it down.
    pub(crate) clipped: bool,
}

/// The outcome of a round with at least one accepted update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AggregateResult {
    /// The round it closes.
    pub(crate) round: u64,
    /// The version these weights descend from.
    pub(crate) base_version: u64,
    /// The new global weights, in the architecture's parameter order.
    pub(crate) weights: Vec<f32>,
    /// Who contributed, in arrival order.
    pub(crate) contributions: Vec<Contribution>,
    /// Sum of the contributors' sample counts (saturating).
    pub(crate) total_samples: u64,
}

/// What the aggregator keeps per round, beyond per-contributor bookkeeping.
#[derive(Debug)]
enum Fold {
    /// FedAvg: Σ wᵢ·Δᵢ and Σ wᵢ, in `f64` so thousands of contributions add up without
    /// the rounding error of `f32` sums.
    Streaming {
        weighted_sum: Vec<f64>,
        weight_total: f64,
    },
    /// Robust strategies: every accepted (clipped) delta, until the round closes.
    Buffered { deltas: Vec<Vec<f32>> },
}

/// Aggregates one round: [`offer`](Self::offer) each update as it arrives, then
/// [`finish`](Self::finish) when the quorum or the deadline is reached. Pure (no I/O, no
/// clock), so the round engine owns timing and transport and this owns the arithmetic.
#[derive(Debug)]
pub(crate) struct Aggregator {
    config: AggregationConfig,
    spec: RoundSpec,
    fold: Fold,
    seen: BTreeSet<String>,
    contributions: Vec<Contribution>,
    total_samples: u64,
    rejections: RejectionCounts,
}

impl Aggregator {
    /// Opens a round.
    pub(crate) fn new(config: AggregationConfig, spec: RoundSpec) -> Result<Self, ConfigError> {
        config.validate()?;
        let expected = spec.architecture.parameter_count;
        if u64::try_from(spec.base_weights.len()).ok() != Some(expected) {
            return Err(ConfigError::BaseLength {
                expected,
                got: spec.base_weights.len(),
            });
        }
        let fold = if config.strategy.is_streaming() {
            Fold::Streaming {
                weighted_sum: vec![0.0; spec.base_weights.len()],
                weight_total: 0.0,
            }
        } else {
            Fold::Buffered { deltas: Vec::new() }
        };
        Ok(Self {
            config,
            spec,
            fold,
            seen: BTreeSet::new(),
            contributions: Vec::new(),
            total_samples: 0,
            rejections: RejectionCounts::default(),
        })
    }

    /// Validates `update` from `cluster_id` (the identity the transport authenticated, not
    /// a field the agent wrote) and folds it in. A refusal is counted, logged with its
    /// reason, and leaves the round as it was, so the same cluster may still send a
    /// corrected update.
    pub(crate) fn offer(&mut self, cluster_id: &str, update: &Update) -> Result<(), Rejection> {
        match self.validate(cluster_id, update) {
            Ok(delta_norm) => {
                self.fold(cluster_id, update, delta_norm);
                Ok(())
            }
            Err(rejection) => {
                self.rejections.record(&rejection);
                tracing::warn!(
                    cluster = cluster_id,
                    reason = rejection.as_str(),
                    round = self.spec.round,
                    "update rejected: {rejection}"
                );
                Err(rejection)
            }
        }
    }

    /// The refusals so far; read them before [`finish`](Self::finish) consumes the round.
    pub(crate) fn rejections(&self) -> &RejectionCounts {
        &self.rejections
    }

    /// Accepted updates so far, for the round engine's quorum check.
    pub(crate) fn accepted(&self) -> usize {
        self.contributions.len()
    }

    /// Closes the round. `None` when nothing was accepted: the caller then publishes
    /// nothing rather than a copy of the base under a new version.
    pub(crate) fn finish(self) -> Option<AggregateResult> {
        if self.contributions.is_empty() {
            return None;
        }
        let base = &self.spec.base_weights;
        let weights = match &self.fold {
            Fold::Streaming {
                weighted_sum,
                weight_total,
            } => base
                .iter()
                .zip(weighted_sum)
                .map(|(&b, &s)| (f64::from(b) + s / weight_total) as f32)
                .collect(),
            Fold::Buffered { deltas } => {
                let mut column = vec![0.0_f32; deltas.len()];
                base.iter()
                    .enumerate()
                    .map(|(j, &b)| {
                        for (slot, delta) in column.iter_mut().zip(deltas) {
                            *slot = delta[j];
                        }
                        column.sort_unstable_by(f32::total_cmp);
                        (f64::from(b) + self.config.strategy.combine_sorted(&column)) as f32
                    })
                    .collect()
            }
        };
        Some(AggregateResult {
            round: self.spec.round,
            base_version: self.spec.base_version,
            weights,
            contributions: self.contributions,
            total_samples: self.total_samples,
        })
    }

    /// The update's delta norm if it may be folded, checked cheapest first so a flood of
    /// misdirected updates costs no pass over their weights.
    fn validate(&self, cluster_id: &str, update: &Update) -> Result<f64, Rejection> {
        if !self.spec.participants.contains(cluster_id) {
            return Err(Rejection::UnknownCluster);
        }
        if self.seen.contains(cluster_id) {
            return Err(Rejection::Duplicate);
        }
        if update.round != self.spec.round {
            return Err(Rejection::WrongRound {
                expected: self.spec.round,
                got: update.round,
            });
        }
        if update.base_version != self.spec.base_version {
            return Err(Rejection::StaleBase {
                expected: self.spec.base_version,
                got: update.base_version,
            });
        }
        if update.sample_count == 0 {
            return Err(Rejection::ZeroSamples);
        }
        let values = update.payload.values();
        let base = &self.spec.base_weights;
        if values.len() != base.len() {
            return Err(Rejection::WrongLength {
                expected: base.len(),
                got: values.len(),
            });
        }
        check_metrics(&update.metrics)?;
        let norm_sq = delta_norm_sq(&update.payload, base)?;
        Ok(norm_sq.sqrt())
    }

    fn fold(&mut self, cluster_id: &str, update: &Update, delta_norm: f64) {
        let scale = match self.config.clip_norm {
            Some(bound) if delta_norm > bound => bound / delta_norm,
            _ => 1.0,
        };
        // Validated already, so every delta is finite.
        let (values, relative) = payload_values(&update.payload);
        let base = &self.spec.base_weights;
        let delta = move |(&v, &b): (&f32, &f32)| delta_of(v, b, relative);
        match &mut self.fold {
            Fold::Streaming {
                weighted_sum,
                weight_total,
            } => {
                let w = update.sample_count as f64;
                let factor = w * scale;
                for (sum, d) in weighted_sum
                    .iter_mut()
                    .zip(values.iter().zip(base.iter()).map(delta))
                {
                    *sum += factor * d;
                }
                *weight_total += w;
            }
            Fold::Buffered { deltas } => deltas.push(
                values
                    .iter()
                    .zip(base.iter())
                    .map(delta)
                    .map(|d| (scale * d) as f32)
                    .collect(),
            ),
        }
        self.seen.insert(cluster_id.to_owned());
        self.total_samples = self.total_samples.saturating_add(update.sample_count);
        self.contributions.push(Contribution {
            cluster_id: cluster_id.to_owned(),
            sample_count: update.sample_count,
            metrics: update.metrics,
            delta_norm,
            clipped: scale < 1.0,
        });
        tracing::debug!(
            cluster = cluster_id,
            round = self.spec.round,
            samples = update.sample_count,
            delta_norm,
            clipped = scale < 1.0,
            "update accepted"
        );
    }

    /// Floats held per round that scale with the model (the shared base excluded), so a
    /// test can show that FedAvg's do not grow with the number of agents.
    #[cfg(test)]
    pub(super) fn held_model_floats(&self) -> usize {
        match &self.fold {
            Fold::Streaming { weighted_sum, .. } => weighted_sum.len(),
            Fold::Buffered { deltas } => deltas.iter().map(Vec::len).sum(),
        }
    }
}

/// The payload's values, and whether they are full weights (relative to the base) rather
/// than a delta.
fn payload_values(payload: &ModelPayload) -> (&[f32], bool) {
    (payload.values(), payload.is_weights())
}

/// One value as a delta against its base value, in `f64`, so weights minus base cannot
/// overflow.
#[inline]
fn delta_of(value: f32, base: f32, relative: bool) -> f64 {
    if relative {
        f64::from(value) - f64::from(base)
    } else {
        f64::from(value)
    }
}

/// Whether a delta may be folded: its value was finite to begin with, and neither the
/// delta (buffered strategies store it as `f32`) nor base plus delta (the finished model
/// is base plus a mean of deltas) leaves the `f32` range.
#[inline]
fn delta_fits(value: f32, base: f32, delta: f64) -> bool {
    value.is_finite() & (delta as f32).is_finite() & ((f64::from(base) + delta) as f32).is_finite()
}

/// Values checked per block: a block whose values all fit is accepted in one branch, so
/// the common all-good case runs without a branch per value; a block with a bad value is
/// scanned again to name the first one.
const BLOCK: usize = 256;

/// The squared L2 norm of the payload's delta against `base` (same length), or the
/// rejection for its first value that is not finite or would overflow.
fn delta_norm_sq(payload: &ModelPayload, base: &[f32]) -> Result<f64, Rejection> {
    let (values, relative) = payload_values(payload);
    let mut norm_sq = 0.0_f64;
    for (block, (vs, bs)) in values.chunks(BLOCK).zip(base.chunks(BLOCK)).enumerate() {
        let mut fits = true;
        // Four partial sums, so the additions need not wait for each other.
        let mut lanes = [0.0_f64; 4];
        for (i, (&v, &b)) in vs.iter().zip(bs).enumerate() {
            let d = delta_of(v, b, relative);
            fits &= delta_fits(v, b, d);
            lanes[i % 4] += d * d;
        }
        if !fits {
            let start = block * BLOCK;
            let (offset, (&v, _)) = vs
                .iter()
                .zip(bs)
                .enumerate()
                .find(|&(_, (&v, &b))| !delta_fits(v, b, delta_of(v, b, relative)))
                .unwrap_or((0, (&f32::NAN, &0.0)));
            let index = start + offset;
            return Err(if v.is_finite() {
                Rejection::Overflow { index }
            } else {
                Rejection::NonFinite { index }
            });
        }
        norm_sq += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
    Ok(norm_sq)
}

fn check_metrics(m: &LocalMetrics) -> Result<(), Rejection> {
    for (name, value) in [
        ("mean_reward", m.mean_reward),
        ("slo_compliance", m.slo_compliance),
        ("cost", m.cost),
    ] {
        if !value.is_finite() {
            return Err(Rejection::NonFiniteMetric { name });
        }
    }
    Ok(())
}
