//! Generalised advantage estimation (Schulman et al., 2016).

/// Advantages and returns for one rollout.
///
/// `rewards[t]`, `values[t]` = V(s_t), `dones[t]` = the episode ended after step t, and
/// `last_value` = V(s_T) for the state after the rollout. With
/// `δ_t = r_t + γ·V(s_{t+1})·(1 − done_t) − V(s_t)`,
/// `A_t = δ_t + γλ·(1 − done_t)·A_{t+1}` and the return target is `A_t + V(s_t)`.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_value: f32,
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let n = rewards.len();
    assert!(
        values.len() == n && dones.len() == n,
        "rollout arrays must have equal length"
    );
    let mut advantages = vec![0.0f32; n];
    let mut next_advantage = 0.0f32;
    let mut next_value = last_value;
    for t in (0..n).rev() {
        let keep = if dones[t] { 0.0 } else { 1.0 };
        let delta = rewards[t] + gamma * next_value * keep - values[t];
        next_advantage = delta + gamma * lambda * keep * next_advantage;
        advantages[t] = next_advantage;
        next_value = values[t];
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_rollout() {
        // γ = 0.5, λ = 0.5; three steps, the episode ends after step 1.
        // δ2 = 1 + 0.5·4 − 3 = 0            A2 = 0
        // δ1 = 0 + 0 − 2 = −2 (done)         A1 = −2
        // δ0 = 2 + 0.5·2 − 1 = 2             A0 = 2 + 0.25·(−2) = 1.5
        let (a, r) = gae(
            &[2.0, 0.0, 1.0],
            &[1.0, 2.0, 3.0],
            &[false, true, false],
            4.0,
            0.5,
            0.5,
        );
        assert_eq!(a, vec![1.5, -2.0, 0.0]);
        assert_eq!(r, vec![2.5, 0.0, 3.0]);
    }

    #[test]
    fn lambda_one_without_dones_is_the_discounted_return_minus_value() {
        let (a, _) = gae(&[1.0, 1.0], &[0.0, 0.0], &[false, false], 0.0, 0.9, 1.0);
        assert!((a[0] - 1.9).abs() < 1e-6);
        assert!((a[1] - 1.0).abs() < 1e-6);
    }
}
