//! Dropout with masks drawn from the learner's own seeded generator (see `init` for why
//! burn's generator is not used), active only in training.

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;

/// Zeroes each activation with probability `p` and scales the rest by `1/(1−p)`.
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
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let mask: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.random_bool(keep) { scale } else { 0.0 })
        .collect();
    x * Tensor::from_data(TensorData::new(mask, [rows, cols]), device)
}
