//! The optimisation phase PPO and the hybrid's tuner share: several epochs over one
//! rollout in shuffled minibatches, reporting the mean of each minibatch's statistics.

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use super::learner::PpoStats;

/// What one minibatch step reports, in [`PpoStats`] order: policy loss, value loss,
/// entropy, approximate KL, clip fraction, gradient norm.
pub(crate) type MinibatchStats = [f32; 6];

/// The minibatches of `epochs` passes over `len` samples, each pass a fresh shuffle
/// (drawn from `rng`) cut into batches of `batch_size`. Drawn up front, so the steps
/// that consume them may borrow the learner that owns `rng`.
pub(crate) fn minibatches(
    len: usize,
    epochs: usize,
    batch_size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut batches = Vec::new();
    for _ in 0..epochs {
        order.shuffle(rng);
        batches.extend(order.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches
}

/// Runs `step` on each of `batches` in order and returns the mean of what the steps
/// reported, with the rollout's `explained_variance`.
pub(crate) fn optimise(
    batches: &[Vec<usize>],
    explained_variance: f32,
    mut step: impl FnMut(&[usize]) -> MinibatchStats,
) -> PpoStats {
    let mut sums = [0.0f64; 6];
    for batch in batches {
        for (sum, v) in sums.iter_mut().zip(step(batch)) {
            *sum += f64::from(v);
        }
    }
    let mean = |i: usize| (sums[i] / batches.len().max(1) as f64) as f32;
    PpoStats {
        policy_loss: mean(0),
        value_loss: mean(1),
        entropy: mean(2),
        approx_kl: mean(3),
        clip_fraction: mean(4),
        grad_norm: mean(5),
        explained_variance,
    }
}
