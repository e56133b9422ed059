//! The ways a round's accepted deltas can be combined into one.

use std::fmt;

/// How a round's accepted deltas are combined into the step applied to the base model.
///
/// FedAvg is the only strategy that streams: it is linear, so each delta can be folded
/// into a running weighted sum on arrival and the coordinator holds O(model) floats
/// whatever the fleet's size. The two robust strategies are order statistics per
/// coordinate, which no running sum can produce exactly; they keep every accepted delta
/// until the round closes, O(agents × model) floats (50 agents × the 102,403-parameter
/// DQN ≈ 20 MB), and are meant for small fleets or rounds where robustness is worth that
/// memory. Streaming approximations (per-coordinate quantile sketches) were rejected: they
/// still cost several floats per coordinate and agent bucket, and an approximate median
/// loses the exact guarantee, "a minority of agents cannot move any coordinate outside the
/// range of the honest values", that is the reason to pick a robust strategy at all.
///
/// The robust strategies give every agent one vote regardless of its sample count: the
/// count is self-reported, and weighting by it would let one agent that claims a huge
/// count dominate the very statistic meant to contain it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Mean of the deltas weighted by sample count, so an agent that trained on more
    /// experience moves the model more (the FedAvg of McMahan et al.).
    FedAvg,
    /// Per coordinate, drop the `⌊trim_fraction · n⌋` smallest and as many largest of the
    /// `n` values, and average the rest. With few agents the floor can be zero, making it a
    /// plain unweighted mean: a fraction of 0.2 only starts trimming at five updates.
    TrimmedMean {
        /// Share of values dropped at each end, in `[0, 0.5)`.
        trim_fraction: f64,
    },
    /// Per coordinate, the middle value (the mean of the two middle ones for an even
    /// count): tolerates just under half of the agents being arbitrarily wrong.
    Median,
}

impl Strategy {
    /// A stable name for logs, metrics labels and manifests.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FedAvg => "fedavg",
            Self::TrimmedMean { .. } => "trimmed_mean",
            Self::Median => "median",
        }
    }

    /// Whether deltas can be folded on arrival (O(model) memory) rather than kept until
    /// the round closes.
    pub fn is_streaming(&self) -> bool {
        matches!(self, Self::FedAvg)
    }

    /// Combines one coordinate's values, already sorted ascending, of which there is at
    /// least one.
    pub(super) fn combine_sorted(&self, sorted: &[f32]) -> f64 {
        match *self {
            // FedAvg never buffers; an unweighted mean is what it would be with equal counts.
            Self::FedAvg => mean(sorted),
            Self::TrimmedMean { trim_fraction } => {
                let k = trim_count(trim_fraction, sorted.len());
                mean(&sorted[k..sorted.len() - k])
            }
            Self::Median => median(sorted),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrimmedMean { trim_fraction } => {
                write!(f, "trimmed_mean({trim_fraction})")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

/// Values dropped at each end: `⌊fraction · n⌋`, with a little slack so that a product
/// meant to be whole (0.29 × 100 is 28.999… in binary) is not floored one short. Always
/// leaves at least one value, because the fraction is below one half.
pub(super) fn trim_count(fraction: f64, n: usize) -> usize {
    let k = (fraction * n as f64 + 1e-9).floor() as usize;
    k.min(n.saturating_sub(1) / 2)
}

fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

fn median(sorted: &[f32]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        f64::from(sorted[n / 2])
    } else {
        (f64::from(sorted[n / 2 - 1]) + f64::from(sorted[n / 2])) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median(&[1.0, 3.0, 5.0]), 3.0);
        assert_eq!(median(&[1.0, 3.0, 4.0, 10.0]), 3.5);
        assert_eq!(median(&[-2.0]), -2.0);
    }

    #[test]
    fn trim_count_floors_and_never_empties_the_slice() {
        assert_eq!(trim_count(0.2, 4), 0);
        assert_eq!(trim_count(0.2, 5), 1);
        assert_eq!(trim_count(0.29, 100), 29);
        assert_eq!(trim_count(0.49, 2), 0);
        assert_eq!(trim_count(0.49, 3), 1);
        assert_eq!(trim_count(0.0, 10), 0);
    }

    #[test]
    fn trimmed_mean_drops_both_ends() {
        let s = Strategy::TrimmedMean { trim_fraction: 0.2 };
        // ⌊0.2·5⌋ = 1 from each end: mean of 1, 2, 6.
        assert_eq!(s.combine_sorted(&[-50.0, 1.0, 2.0, 6.0, 100.0]), 3.0);
    }
}
