//! PPO tests: the loss against hand-computed numbers, determinism, freezing, and learning
//! a task whose answer is known.

use burn::tensor::{Int, Tensor, TensorData};

use super::{LossInputs, PpoConfig, normalize_advantages, ppo_loss};
use crate::rl::device::{inference_device, training_device};

/// Two samples, two actions, ε = 0.2:
///
/// | | logits | p | action | old p | r | A | surrogate | clipped? |
/// |---|---|---|---|---|---|---|---|---|
/// | 0 | [0, 0] | [½, ½] | 0 | 0.4 | 1.25 | +1 | min(1.25, 1.2) = 1.2 | yes |
/// | 1 | [ln 3, 0] | [¾, ¼] | 1 | 0.3 | 0.8333 | −2 | −1.6667 | no |
///
/// policy = −(1.2 − 1.6667)/2 = 0.23333; values [1, −0.5] against returns [3, 0] give
/// value = (2² + 0.5²)/2 = 2.125; entropy = (ln 2 + (−¾ ln ¾ − ¼ ln ¼))/2 = 0.62774;
/// total = 0.23333 + 0.5·2.125 − 0.01·0.62774 = 1.28956;
/// approx KL = ((0.25 − ln 1.25) + (−0.16667 − ln 0.83333))/2 = 0.021256.
fn hand_batch(device: &burn::tensor::Device) -> (Tensor<2>, Tensor<2>, LossInputs) {
    let col = |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 1]), device);
    let logits = Tensor::<2>::from_data(
        TensorData::new(vec![0.0, 0.0, 3f32.ln(), 0.0], [2, 2]),
        device,
    );
    let inputs = LossInputs {
        actions: Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1], [2, 1]), device),
        old_log_probs: col([0.4f32.ln(), 0.3f32.ln()]),
        old_values: col([0.2, -0.5]),
        advantages: col([1.0, -2.0]),
        returns: col([3.0, 0.0]),
    };
    (logits, col([1.0, -0.5]), inputs)
}

#[test]
fn loss_matches_a_hand_computed_batch() {
    let device = inference_device();
    let (logits, values, inputs) = hand_batch(&device);
    let cfg = PpoConfig::default();
    let loss = ppo_loss(logits, values, inputs, &cfg);
    let close = |t: Tensor<1>, want: f32| {
        let got = t.into_scalar::<f32>();
        assert!((got - want).abs() < 1e-4, "got {got}, want {want}");
    };
    close(loss.policy, 0.233_333);
    close(loss.value, 2.125);
    close(loss.entropy, 0.627_741);
    close(loss.total, 1.289_556);
    close(loss.approx_kl, 0.021_256);
    close(loss.clip_fraction, 0.5);
}

#[test]
fn value_clipping_holds_the_prediction_near_the_old_value() {
    // Sample 0's value may move only 0.5 from its old 0.2, so 1.0 counts as 0.7:
    // ((3 − 0.7)² + (0 + 0.5)²)/2 = 2.77.
    let device = inference_device();
    let (logits, values, inputs) = hand_batch(&device);
    let cfg = PpoConfig {
        clip_range_vf: Some(0.5),
        ..PpoConfig::default()
    };
    let loss = ppo_loss(logits, values, inputs, &cfg);
    assert!((loss.value.into_scalar::<f32>() - 2.77).abs() < 1e-4);
}

#[test]
fn a_clipped_sample_gets_no_policy_gradient() {
    // Sample 0's ratio is past 1 + ε with a positive advantage, so raising its probability
    // further earns nothing. Sample 1 is inside the clip range, its loss term is −r·A/2,
    // and ∂r/∂logit_j = r·([j = a] − p_j); with A = −2, r = 5/6, p = [¾, ¼], a = 1:
    // ∂/∂logit₁ = (5/6)·(1 − ¼) = 0.625 and ∂/∂logit₀ = (5/6)·(−¾) = −0.625.
    let device = training_device();
    let (logits, values, inputs) = hand_batch(&device);
    let logits = logits.require_grad();
    let cfg = PpoConfig {
        vf_coef: 0.0,
        ent_coef: 0.0,
        ..PpoConfig::default()
    };
    let loss = ppo_loss(logits.clone(), values, inputs, &cfg);
    let grads = loss.total.backward();
    let g: Vec<f32> = logits
        .grad(&grads)
        .unwrap()
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(&g[..2], &[0.0, 0.0]);
    assert!((g[3] - 0.625).abs() < 1e-5, "{g:?}");
    assert!((g[2] + 0.625).abs() < 1e-5, "{g:?}");
}

#[test]
fn advantages_are_normalised_to_unit_sample_deviation() {
    let mut a = [1.0, 2.0, 3.0];
    normalize_advantages(&mut a);
    for (got, want) in a.iter().zip([-1.0, 0.0, 1.0]) {
        assert!((got - want).abs() < 1e-6, "{a:?}");
    }
    let mut one = [4.0];
    normalize_advantages(&mut one);
    assert_eq!(one, [4.0]);
}
