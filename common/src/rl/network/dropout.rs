//! Dropout with masks drawn from the learner's own seeded generator (see `init` for why
//! burn's generator is not used), active only in training.

use burn::tensor::{Device, Tensor, TensorData};

/// Zeroes each activation with probability `p` and scales the rest by `1/(1−p)`.
///
/// Element `i` is kept when the generator's `i`-th `u64` is below `(1−p)·2⁶⁴`: exactly
/// the draws and the comparison of `rng.random_bool(1 − p)` once per element (rand's
/// Bernoulli), which is how the shipped models' masks were drawn. Drawing the words in
/// one `fill_bytes` and comparing them in a branch-free loop made the DQN's mask
/// drawing about five times faster than a `random_bool` call per element.
pub(super) fn dropout(
    x: Tensor<2>,
    p: f64,
    rng: &mut impl rand::Rng,
    device: &Device,
) -> Tensor<2> {
    if p <= 0.0 {
        return x;
    }
    let [rows, cols] = x.dims();
    let mask = mask(rows * cols, p, rng);
    x * Tensor::from_data(TensorData::new(mask, [rows, cols]), device)
}

/// `n` mask values: `1/(1−p)` for a kept element, 0 for a dropped one; `p` in `(0, 1)`.
fn mask(n: usize, p: f64, rng: &mut impl rand::Rng) -> Vec<f32> {
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    // rand's `Bernoulli::new(keep)`: `keep · 2⁶⁴`, truncated.
    let threshold = (keep * 2.0 * (1u64 << 63) as f64) as u64;
    let mut words = vec![0u8; n * 8];
    rng.fill_bytes(&mut words);
    words
        .chunks_exact(8)
        .map(|word| {
            let word = u64::from_le_bytes(word.try_into().expect("chunks of 8 bytes"));
            if word < threshold { scale } else { 0.0 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::rngs::ChaCha8Rng;
    use rand::{Rng, RngExt, SeedableRng};

    use super::mask;

    /// The mask and the generator's state afterwards are those of one `random_bool` per
    /// element, also when the generator starts mid-word (after a `u32` draw) and across
    /// its block boundaries.
    #[test]
    fn masks_are_the_draws_of_one_random_bool_per_element() {
        for (seed, skew, n, p) in [
            (1, false, 64 * 256, 0.2),
            (2, true, 64 * 128, 0.1),
            (3, true, 7, 0.5),
            (4, false, 1, 0.999),
            (5, true, 1000, 1e-6),
        ] {
            let mut a = ChaCha8Rng::seed_from_u64(seed);
            let mut b = ChaCha8Rng::seed_from_u64(seed);
            if skew {
                a.next_u32();
                b.next_u32();
            }
            let scale = (1.0 / (1.0 - p)) as f32;
            let expected: Vec<f32> = (0..n)
                .map(|_| if a.random_bool(1.0 - p) { scale } else { 0.0 })
                .collect();
            let drawn = mask(n, p, &mut b);
            assert_eq!(drawn, expected, "seed {seed}");
            assert_eq!(
                a.next_u64(),
                b.next_u64(),
                "seed {seed}: the stream moved on alike"
            );
            let dropped = drawn.iter().filter(|&&m| m == 0.0).count() as f64;
            if n >= 1000 {
                assert!(
                    (dropped / n as f64 - p).abs() < 0.02,
                    "seed {seed}: {dropped} of {n}"
                );
            }
        }
    }
}
