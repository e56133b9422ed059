//! The double-DQN bootstrap target (van Hasselt et al., 2016): the online network picks
//! the next action, the target network values it, which removes max-operator
//! overestimation.

/// `y_i = r_i + γ·(1 − done_i)·Q_target(s'_i, argmax_a Q_online(s'_i, a))`.
///
/// `q_online_next` and `q_target_next` are row-major `[batch × actions]`.
pub fn double_dqn_targets(
    rewards: &[f32],
    dones: &[bool],
    q_online_next: &[f32],
    q_target_next: &[f32],
    actions: usize,
    gamma: f32,
) -> Vec<f32> {
    rewards
        .iter()
        .zip(dones)
        .enumerate()
        .map(|(i, (&r, &done))| {
            if done {
                return r;
            }
            let row = &q_online_next[i * actions..(i + 1) * actions];
            let best = argmax(row);
            r + gamma * q_target_next[i * actions + best]
        })
        .collect()
}

/// Index of the largest value; the first on ties, so results are reproducible.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_double_dqn_targets() {
        // Two transitions, three actions, γ = 0.9.
        // Row 0: online picks action 2 (0.5), target values it at 1.0 → 1 + 0.9·1.0 = 1.9.
        //        (Plain DQN would take the target's own max, 3.0, and overestimate.)
        // Row 1: terminal → just the reward, −0.5.
        let online = [0.1, 0.2, 0.5, 9.0, 0.0, 0.0];
        let target = [3.0, 2.0, 1.0, 7.0, 7.0, 7.0];
        let y = double_dqn_targets(&[1.0, -0.5], &[false, true], &online, &target, 3, 0.9);
        assert!((y[0] - 1.9).abs() < 1e-6);
        assert_eq!(y[1], -0.5);
    }

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[-1.0]), 0);
    }
}
