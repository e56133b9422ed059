//! PPO tests: the loss against hand-computed numbers, determinism, freezing, and learning
//! a task whose answer is known.

use burn::tensor::{Int, Tensor, TensorData};

use super::{
    LossInputs, PpoConfig, PpoLearner, RolloutStep, action_probabilities, continue_ppo,
    normalize_advantages, ppo_loss, train_ppo,
};
use crate::env::{Env, EnvConfig, OBSERVATION_LEN};
use crate::rl::device::{inference_device, training_device};
use crate::rl::dqn::argmax;
use crate::rl::episodes::EpisodeCycle;
use crate::rl::params::flatten;
use crate::rl::test_support::{fixed_target_return, tiny_task};
use crate::scenario::Scenario;

fn greedy_return(learner: &mut PpoLearner, cfg: &EnvConfig, scenario: &Scenario) -> (f64, u32) {
    let mut env = Env::new(cfg.clone(), scenario.arrivals(0), 0).unwrap();
    let mut total = 0.0;
    loop {
        let (a, _, _) = learner.act(&env.observation().0, false);
        let s = env.step(a);
        total += s.reward;
        if s.done {
            return (total, env.sim().spec_replicas());
        }
    }
}

fn tiny_ppo_config() -> PpoConfig {
    PpoConfig {
        hidden: vec![64, 64],
        n_steps: 256,
        batch_size: 64,
        learning_rate: 1e-3,
        // A shorter horizon than the default 0.99: the task's credit assignment spans
        // only the few steps of scaling up, and 0.95 converged on every seed tried.
        gamma: 0.95,
        ..PpoConfig::default()
    }
}

#[test]
fn ppo_learns_the_right_pod_count_for_a_constant_load() {
    let (cfg, scenario) = tiny_task();
    let fixed: Vec<f64> = (1..=10)
        .map(|n| fixed_target_return(n, &cfg, &scenario))
        .collect();
    let best = fixed.iter().copied().fold(f64::MIN, f64::max);
    let mut episodes = EpisodeCycle::new(cfg.clone(), vec![scenario.clone()], 1).unwrap();
    // When the greedy policy first met the target, and at how many updates from then on
    // it met it.
    let (mut updates, mut first_met, mut met, mut since) = (0, None, 0, 0);
    let (mut learner, stats) = train_ppo(tiny_ppo_config(), &mut episodes, 3, 40_000, 1, |l, _| {
        if l.updates() != updates {
            updates = l.updates();
            let meets = meets_target(&l.network(), &cfg, &scenario, best);
            if meets {
                first_met.get_or_insert(l.steps());
            }
            if first_met.is_some() {
                since += 1;
                met += usize::from(meets);
            }
        }
    });
    assert!(!stats.is_empty());
    let (ret, replicas) = greedy_return(&mut learner, &cfg, &scenario);
    eprintln!(
        "greedy return {ret:.3} with {replicas} pods; target first met at step {first_met:?}, \
         then at {met} of {since} updates; scale-to-N-and-hold returns {fixed:.2?}; last \
         update {:?}",
        learner.last_update()
    );
    // Stated target: the greedy policy comes within 0.5 of the best "scale up to N, then
    // hold" return (N = 5 scores ≈ −1.8, N = 6 ≈ −4.5, staying at 1 pod −56) on 5 pods
    // within 17,000 steps, and holds it at three quarters of the updates after that.
    // PPO wobbles off the optimum for an update or a few after converging, so where a run
    // stops is partly luck. Seeds 1–8 (at 40,000 steps, with the eight-lane tanh) first
    // met it at 1,024–14,080 steps and held it at 30–100 % of the later updates (seed 1:
    // 81 %; seed 7 the outlier at 30 %); six of the eight ended on it, the other two on 6
    // and 7 pods.
    let first_met = first_met.expect("the greedy policy never met the target");
    assert!(first_met <= 17_000, "first met at step {first_met}");
    assert!(4 * met >= 3 * since, "held at {met} of {since} updates");
    // And it ends scaled near the optimum, nowhere near the 1-pod collapse (−56).
    assert!((5..=7).contains(&replicas), "ended on {replicas} pods");
    assert!(ret >= best - 5.0, "return {ret} vs best {best}");
}

fn meets_target(
    net: &crate::rl::network::ActorCritic,
    cfg: &EnvConfig,
    scenario: &Scenario,
    best: f64,
) -> bool {
    let mut env = Env::new(cfg.clone(), scenario.arrivals(0), 0).unwrap();
    let mut total = 0.0;
    loop {
        let p = action_probabilities(net, &env.observation().0);
        let s = env.step(argmax(&p));
        total += s.reward;
        if s.done {
            return total >= best - 0.5 && env.sim().spec_replicas() == 5;
        }
    }
}

fn small_config() -> PpoConfig {
    PpoConfig {
        hidden: vec![16, 16],
        n_steps: 64,
        batch_size: 32,
        n_epochs: 2,
        ..tiny_ppo_config()
    }
}

#[test]
fn ppo_training_is_deterministic_for_a_seed() {
    let (cfg, scenario) = tiny_task();
    let run = |seed| {
        let mut episodes = EpisodeCycle::new(cfg.clone(), vec![scenario.clone()], seed).unwrap();
        let (learner, _) = train_ppo(small_config(), &mut episodes, 3, 200, seed, |_, _| {});
        assert_eq!(learner.updates(), 3);
        flatten(&learner.network())
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn a_frozen_extractor_stays_put_while_the_heads_learn() {
    let (cfg, scenario) = tiny_task();
    let mut episodes = EpisodeCycle::new(cfg, vec![scenario], 5).unwrap();
    // Train first so Adam holds momentum for the extractor: freezing must stop that too.
    let (mut learner, _) = train_ppo(small_config(), &mut episodes, 3, 128, 5, |_, _| {});
    let before = learner.network();
    let initial = PpoLearner::new(small_config(), 3, 5).network();
    assert_ne!(
        before.extractor_params(),
        initial.extractor_params(),
        "unfrozen, the extractor trains"
    );
    learner.freeze_extractor();
    assert!(learner.is_extractor_frozen());
    let (learner, _) = continue_ppo(learner, &mut episodes, 192, |_, _| {});
    assert_eq!(learner.updates(), 5);
    let after = learner.network();
    assert_eq!(after.extractor_params(), before.extractor_params());
    assert_ne!(
        flatten(&after),
        flatten(&before),
        "the heads should have moved"
    );
}

#[test]
fn weights_round_trip_through_from_weights() {
    let learner = PpoLearner::new(small_config(), 3, 1);
    let w = flatten(&learner.network());
    let copy = PpoLearner::from_weights(small_config(), 3, &w, 2).unwrap();
    assert_eq!(flatten(&copy.network()), w);
    let e = PpoLearner::from_weights(small_config(), 3, &w[1..], 2).unwrap_err();
    assert_eq!((e.expected, e.got), (w.len(), w.len() - 1));
}

#[test]
fn exploring_samples_from_the_policy_and_greedy_takes_its_mode() {
    let mut learner = PpoLearner::new(small_config(), 3, 9);
    let obs = [0.5; OBSERVATION_LEN];
    let p = learner.action_probabilities(&obs);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let (greedy, log_p, value) = learner.act(&obs, false);
    assert_eq!(greedy, argmax(&p));
    assert!((log_p - p[greedy].ln()).abs() < 1e-5);
    assert_eq!(value, learner.value(&obs));
    let n = 3_000;
    let mut counts = [0usize; 3];
    for _ in 0..n {
        let (a, log_p, _) = learner.act(&obs, true);
        assert!((log_p - p[a].ln()).abs() < 1e-5);
        counts[a] += 1;
    }
    for (c, p) in counts.iter().zip(&p) {
        assert!(
            (*c as f32 / n as f32 - p).abs() < 0.04,
            "{counts:?} vs {p:?}"
        );
    }
}

#[test]
fn a_full_rollout_triggers_one_update() {
    let mut learner = PpoLearner::new(small_config(), 3, 1);
    let obs = [0.1; OBSERVATION_LEN];
    for i in 0..64 {
        let (action, log_prob, value) = learner.act(&obs, true);
        let stats = learner.observe(RolloutStep {
            observation: obs,
            action,
            log_prob,
            value,
            reward: if action == 1 { 1.0 } else { 0.0 },
            next_observation: obs,
            done: i % 10 == 9,
        });
        assert_eq!(stats.is_some(), i == 63);
    }
    let s = learner.last_update().unwrap();
    assert_eq!(learner.updates(), 1);
    assert!(s.entropy > 0.0 && s.entropy <= 3f32.ln() + 1e-5, "{s:?}");
    assert!(s.approx_kl >= 0.0 && (0.0..=1.0).contains(&s.clip_fraction));
    assert!(s.policy_loss.is_finite() && s.value_loss.is_finite() && s.grad_norm > 0.0);
}

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
