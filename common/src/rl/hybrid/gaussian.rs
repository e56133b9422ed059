//! The diagonal Gaussian the tuner samples from: log-density and entropy, as plain numbers
//! for acting and as tensors for the PPO loss.
//!
//! Both are taken on the raw (unsquashed) sample. The squashing into each output's range
//! is a fixed invertible map applied afterwards, so its Jacobian is the same under the old
//! and the new policy and cancels in PPO's probability ratio; the entropy bonus on the raw
//! Gaussian is the usual choice (Stable-Baselines3 does the same for unsquashed actions).

use burn::tensor::Tensor;
use rand_distr::StandardNormal;

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln N(z; μ, diag(σ²))` summed over the dimensions, with `σ = exp(log_std)`.
pub fn log_prob(z: &[f32], mean: &[f32], log_std: &[f32]) -> f32 {
    z.iter()
        .zip(mean)
        .zip(log_std)
        .map(|((&z, &m), &ls)| {
            let (z, m, ls) = (f64::from(z), f64::from(m), f64::from(ls));
            let u = (z - m) / ls.exp();
            -0.5 * u * u - ls - LN_SQRT_2PI
        })
        .sum::<f64>() as f32
}

/// Entropy of the Gaussian: `Σ (½ + ln √(2π) + ln σ_i)`.
pub fn entropy(log_std: &[f32]) -> f32 {
    log_std
        .iter()
        .map(|&ls| 0.5 + LN_SQRT_2PI + f64::from(ls))
        .sum::<f64>() as f32
}

/// One draw `μ + σ·ε`, `ε ~ N(0, I)`, from `rng`.
pub fn sample(mean: &[f32], log_std: &[f32], rng: &mut impl rand::Rng) -> Vec<f32> {
    use rand::RngExt;
    mean.iter()
        .zip(log_std)
        .map(|(&m, &ls)| {
            let e: f64 = rng.sample(StandardNormal);
            (f64::from(m) + f64::from(ls).exp() * e) as f32
        })
        .collect()
}

/// [`log_prob`] of each row: `z` and `mean` are `[n, k]`, `log_std` is `[k]`; `[n, 1]` out.
pub fn log_prob_tensor(z: Tensor<2>, mean: Tensor<2>, log_std: Tensor<1>) -> Tensor<2> {
    let [n, k] = mean.dims();
    let log_std = log_std.unsqueeze_dim::<2>(0).expand([n, k]);
    let u = (z - mean) / log_std.clone().exp();
    (u.square().mul_scalar(-0.5) - log_std)
        .sum_dim(1)
        .sub_scalar(LN_SQRT_2PI * k as f64)
}

/// [`entropy`] as a one-element tensor, differentiable in `log_std`.
pub fn entropy_tensor(log_std: Tensor<1>) -> Tensor<1> {
    let k = log_std.dims()[0];
    log_std.sum().add_scalar((0.5 + LN_SQRT_2PI) * k as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::rl::device::inference_device;

    // μ = [0, 1], σ = [1, 2], z = [1, 2]:
    // dim 0: −½·1² − 0 − 0.918939 = −1.418939
    // dim 1: −½·(½)² − ln 2 − 0.918939 = −0.125 − 0.693147 − 0.918939 = −1.737086
    // log p = −3.156025; entropy = 2·(½ + 0.918939) + ln 2 = 3.531024.
    const MEAN: [f32; 2] = [0.0, 1.0];
    const Z: [f32; 2] = [1.0, 2.0];
    const LOG_PROB: f32 = -3.156_025;
    const ENTROPY: f32 = 3.531_024;

    fn log_std() -> [f32; 2] {
        [0.0, 2f32.ln()]
    }

    #[test]
    fn log_prob_and_entropy_match_hand_computed_values() {
        assert!((log_prob(&Z, &MEAN, &log_std()) - LOG_PROB).abs() < 1e-5);
        assert!((entropy(&log_std()) - ENTROPY).abs() < 1e-5);
        // At the mean with σ = 1 the density of one dimension is 1/√(2π).
        assert!((log_prob(&[0.3], &[0.3], &[0.0]) + 0.918_939).abs() < 1e-5);
    }

    #[test]
    fn tensor_versions_agree_with_the_hand_computed_values() {
        let d = inference_device();
        let row = |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &d);
        // Two rows: the hand-computed one, and one at the mean (−½·0 − ln 2 − 2·0.918939).
        let z = Tensor::cat(vec![row(Z), row(MEAN)], 0);
        let mean = Tensor::cat(vec![row(MEAN), row(MEAN)], 0);
        let ls = Tensor::<1>::from_data(TensorData::new(log_std().to_vec(), [2]), &d);
        let lp: Vec<f32> = log_prob_tensor(z, mean, ls.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        assert!((lp[0] - LOG_PROB).abs() < 1e-5, "{lp:?}");
        assert!(
            (lp[1] - (-(2f32.ln()) - 2.0 * 0.918_939)).abs() < 1e-5,
            "{lp:?}"
        );
        assert!((entropy_tensor(ls).into_scalar::<f32>() - ENTROPY).abs() < 1e-5);
    }

    #[test]
    fn samples_have_the_requested_mean_and_spread() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(4);
        let n = 20_000;
        let draws: Vec<Vec<f32>> = (0..n)
            .map(|_| sample(&MEAN, &log_std(), &mut rng))
            .collect();
        for (i, (m, s)) in [(0.0, 1.0), (1.0, 2.0)].into_iter().enumerate() {
            let mu = draws.iter().map(|d| f64::from(d[i])).sum::<f64>() / n as f64;
            let var = draws
                .iter()
                .map(|d| (f64::from(d[i]) - mu).powi(2))
                .sum::<f64>()
                / n as f64;
            assert!((mu - m).abs() < 0.05, "dim {i}: mean {mu}");
            assert!((var.sqrt() - s).abs() < 0.05, "dim {i}: sd {}", var.sqrt());
        }
    }
}
