//! The actor-critic's tanh, eight lanes at a time.
//!
//! burn's flex backend computes tanh with one libm `tanhf` call per element, and its
//! autodiff computes it a second time in the backward pass. In PPO training those calls
//! were 45 % of all time (`perf` of `edge-agent train --algo ppo`: `__expm1f` 26 %,
//! `__tanhf` 19 %). `wide`'s `f32x8::tanh` evaluates the same expm1-based formula on eight
//! lanes at once, within 3 ulp of the exact value (tested below).
//!
//! burn has no custom-gradient hook for a device chosen at run time, so in training the
//! activation is built from tensors it can differentiate: `t + (x − x̄)·(1 − t²)`, with `t`
//! and `1 − t²` computed here as constants and `x̄` the detached input. Its value is `t`
//! (the second term is exactly zero) and its gradient with respect to `x` is `1 − t²`,
//! tanh's derivative at the computed value, as burn's own backward pass gives it.

use burn::tensor::{Tensor, TensorData};
use wide::f32x8;

/// `tanh(x)` elementwise, differentiable when `x` is tracked by autodiff.
pub(super) fn tanh(x: Tensor<2>) -> Tensor<2> {
    let shape = x.dims();
    let device = x.device();
    let values = x
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .expect("activations are f32");
    let t = tanh_slice(&values);
    if !x.is_autodiff() {
        return Tensor::from_data(TensorData::new(t, shape), &device);
    }
    let slope: Vec<f32> = t.iter().map(|&t| 1.0 - t * t).collect();
    let t = Tensor::<2>::from_data(TensorData::new(t, shape), &device);
    let slope = Tensor::<2>::from_data(TensorData::new(slope, shape), &device);
    t + (x.clone() - x.detach()) * slope
}

/// `tanh` of every value, eight at a time.
fn tanh_slice(values: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        let lanes: [f32; 8] = chunk.try_into().expect("chunks of 8");
        out.extend_from_slice(&f32x8::from(lanes).tanh().to_array());
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut lanes = [0.0; 8];
        lanes[..rest.len()].copy_from_slice(rest);
        out.extend_from_slice(&f32x8::from(lanes).tanh().to_array()[..rest.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::{tanh, tanh_slice};
    use crate::rl::device::{inference_device, training_device};

    /// Distance in units in the last place between two finite `f32` of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn every_value_is_within_3_ulp_of_the_exact_tanh() {
        // Every 97th f32 from 0 to 12 and its negation: ±0, subnormals, the range where
        // tanh bends and the saturated tail.
        let xs: Vec<f32> = (0..=12f32.to_bits())
            .step_by(97)
            .flat_map(|bits| [f32::from_bits(bits), -f32::from_bits(bits)])
            .collect();
        assert!(xs.len() > 20_000_000, "{} points", xs.len());
        let got = tanh_slice(&xs);
        let mut worst = (0, 0.0);
        for (&x, &t) in xs.iter().zip(&got) {
            let exact = (x as f64).tanh() as f32;
            assert_eq!(
                t.is_sign_negative(),
                exact.is_sign_negative(),
                "tanh({x}) = {t}"
            );
            let e = ulps(t, exact);
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 3, "{} ulp at x = {}", worst.0, worst.1);
    }

    #[test]
    fn inference_gives_the_values_and_a_remainder_shorter_than_eight_is_handled() {
        let xs: [f32; 11] = [
            -3.0, -0.5, 0.0, 1e-5, 0.25, 2.0, 9.5, 40.0, -40.0, 0.75, 1.5,
        ];
        let t = tanh(Tensor::<2>::from_data(
            TensorData::new(xs.to_vec(), [1, xs.len()]),
            &inference_device(),
        ));
        let t: Vec<f32> = t.into_data().iter::<f32>().collect();
        for (&x, &t) in xs.iter().zip(&t) {
            assert!(ulps(t, (x as f64).tanh() as f32) <= 3, "tanh({x}) = {t}");
        }
    }

    #[test]
    fn in_training_the_value_is_tanh_and_the_gradient_is_one_minus_its_square() {
        let device = training_device();
        let xs = vec![-2.0, -0.3, 0.0, 0.4, 1.0, 3.0];
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [2, 3]), &device).require_grad();
        let y = tanh(x.clone());
        let values: Vec<f32> = y.clone().into_data().iter::<f32>().collect();
        assert_eq!(values, tanh_slice(&xs));
        let grads = y.sum().backward();
        let dx: Vec<f32> = x
            .grad(&grads)
            .expect("x is a leaf")
            .into_data()
            .iter::<f32>()
            .collect();
        for ((&t, &d), &x) in values.iter().zip(&dx).zip(&xs) {
            assert_eq!(d, 1.0 - t * t, "d tanh/dx at {x}");
            let exact = 1.0 / (x as f64).cosh().powi(2);
            assert!(
                (d as f64 - exact).abs() < 1e-6,
                "{d} against {exact} at {x}"
            );
        }
    }
}
