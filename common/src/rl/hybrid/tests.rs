//! Hybrid tests: the tuner's PPO moves its Gaussian the right way, training is
//! deterministic for a seed, the model survives saving, and the hybrid learns the
//! constant-load task.

use super::*;
use crate::env::{Env, EnvConfig};
use crate::policy::Policy;
use crate::rl::artifact::{Algo, Manifest, TrainConfig, TrainedModel, TrainedNetwork};
use crate::rl::dqn::DqnConfig;
use crate::rl::episodes::EpisodeCycle;
use crate::rl::network::HybridNetwork;
use crate::rl::params::flatten;
use crate::rl::policy::LearnedPolicy;
use crate::rl::test_support::{fixed_target_return, tiny_task};
use crate::scenario::Scenario;

fn bandit_config() -> HybridConfig {
    HybridConfig {
        tuner_n_steps: 32,
        tuner_batch_size: 8,
        tuner_n_epochs: 4,
        tuner_hidden: vec![16],
        ..HybridConfig::default()
    }
}

#[test]
fn a_tuner_update_moves_the_mean_towards_the_better_action() {
    // A one-segment bandit: the same summary every time, and the objective rewards a
    // larger first output and a smaller second one (reward = z₀ − z₁). Every segment ends
    // its episode, so the advantage is the reward minus the critic's baseline.
    let mut tuner = TunerLearner::new(bandit_config(), 11);
    let obs = [0.5; TUNER_OBSERVATION_LEN];
    let before = tuner.mean_action(&obs);
    for _ in 0..3 * 32 {
        let a = tuner.act(&obs, true);
        tuner.observe(TunerStep {
            observation: obs,
            action: a.raw,
            log_prob: a.log_prob,
            value: a.value,
            reward: a.raw[0] - a.raw[1],
            next_observation: obs,
            done: true,
        });
    }
    assert_eq!(tuner.updates(), 3);
    let after = tuner.mean_action(&obs);
    eprintln!("mean {before:?} → {after:?}, log σ {:?}", tuner.log_std());
    assert!(after[0] > before[0] + 0.05, "{before:?} → {after:?}");
    assert!(after[1] < before[1] - 0.05, "{before:?} → {after:?}");
    let s = tuner.last_update().unwrap();
    assert!(s.approx_kl >= 0.0 && s.policy_loss.is_finite() && s.grad_norm > 0.0);
}

#[test]
fn greedy_tuner_acts_on_its_mean_with_the_gaussian_density() {
    let mut tuner = TunerLearner::new(bandit_config(), 2);
    let obs = [0.2; TUNER_OBSERVATION_LEN];
    let log_std = tuner.log_std();
    let g = tuner.act(&obs, false);
    assert_eq!(g.raw, tuner.mean_action(&obs));
    // At the mean the density only depends on σ: Σ(−ln σᵢ − ln √(2π)).
    let want: f32 = log_std.iter().map(|ls| -ls - 0.918_938_5).sum();
    assert!((g.log_prob - want).abs() < 1e-5);
    let s = tuner.act(&obs, true);
    assert_ne!(s.raw, g.raw);
    assert!((s.log_prob - gaussian::log_prob(&s.raw, &g.raw, &log_std)).abs() < 1e-5);
}

fn tiny_dqn_config() -> DqnConfig {
    DqnConfig {
        learning_starts: 200,
        target_update_interval: 250,
        buffer_size: 10_000,
        exploration_fraction: 0.5,
        learning_rate: 1e-3,
        gamma: 0.95,
        hidden: vec![64, 64],
        dropout: vec![0.0, 0.0],
        ..DqnConfig::default()
    }
}

/// Segments of 20 decisions (5 simulated minutes, 4 per tiny episode) and a tuner update
/// every 8 segments, so the tuner acts and learns often within a short run.
fn tiny_hybrid_config() -> HybridConfig {
    HybridConfig {
        segment_steps: 20,
        tuner_n_steps: 8,
        tuner_batch_size: 8,
        tuner_n_epochs: 4,
        tuner_hidden: vec![16, 16],
        ..HybridConfig::default()
    }
}

fn tiny_model(net: HybridNetwork, cfg: &EnvConfig) -> TrainedModel {
    let config = TrainConfig {
        env: cfg.clone(),
        dqn: tiny_dqn_config(),
        hybrid: tiny_hybrid_config(),
        ..TrainConfig::default()
    };
    TrainedModel {
        network: TrainedNetwork::Hybrid(Box::new(net)),
        actions: cfg.actions.clone(),
        manifest: Manifest {
            algo: Algo::Hybrid,
            layers: vec![12, 64, 64, 3],
            parameter_count: 0,
            timesteps: 0,
            seed: 0,
            backend: "test".into(),
            trained_by: "test".into(),
        },
        config,
    }
}

#[test]
fn hybrid_training_is_deterministic_for_a_seed() {
    let (cfg, scenario) = tiny_task();
    let run = |seed| {
        let mut episodes = EpisodeCycle::new(cfg.clone(), vec![scenario.clone()], seed).unwrap();
        let dqn = DqnConfig {
            learning_starts: 50,
            hidden: vec![32, 32],
            dropout: vec![0.2, 0.1],
            ..tiny_dqn_config()
        };
        let (learner, stats) = train_hybrid(
            dqn,
            tiny_hybrid_config(),
            &mut episodes,
            700,
            seed,
            |_, _| {},
        );
        // 700 steps = 8 full episodes of 80 = 32 segments: the tuner has updated 4 times.
        assert_eq!(stats.len(), 8);
        assert_eq!(learner.tuner().updates(), 4);
        let net = learner.network();
        (flatten(&net.dqn), flatten(&net.tuner))
    };
    let a = run(3);
    assert_eq!(a, run(3));
    let b = run(4);
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn a_saved_hybrid_loads_back_and_acts_the_same() {
    let (cfg, _) = tiny_task();
    let learner = HybridLearner::new(tiny_dqn_config(), tiny_hybrid_config(), &cfg, 10, 1);
    let model = tiny_model(learner.network(), &cfg);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let back = TrainedModel::load(dir.path()).unwrap();
    let (TrainedNetwork::Hybrid(a), TrainedNetwork::Hybrid(b)) = (&model.network, &back.network)
    else {
        panic!("not a hybrid");
    };
    assert_eq!(flatten(&a.dqn), flatten(&b.dqn));
    assert_eq!(flatten(&a.tuner), flatten(&b.tuner));
    assert_eq!(back.config.hybrid, tiny_hybrid_config());
}

/// Plays one tiny episode greedily with the deployed policy (DQN + the tuner's floor).
fn greedy_return(policy: &mut LearnedPolicy, cfg: &EnvConfig, scenario: &Scenario) -> (f64, u32) {
    policy.reset();
    let mut env = Env::new(cfg.clone(), scenario.arrivals(0), 0).unwrap();
    let mut total = 0.0;
    loop {
        let desired = policy.desired_replicas(&env.view());
        let s = env.step_to(desired);
        total += s.reward;
        if s.done {
            return (total, env.sim().spec_replicas());
        }
    }
}

#[test]
fn hybrid_learns_the_right_pod_count_for_a_constant_load() {
    let (cfg, scenario) = tiny_task();
    let fixed: Vec<f64> = (1..=10)
        .map(|n| fixed_target_return(n, &cfg, &scenario))
        .collect();
    let best = fixed.iter().copied().fold(f64::MIN, f64::max);
    let mut episodes = EpisodeCycle::new(cfg.clone(), vec![scenario.clone()], 1).unwrap();
    let (learner, _) = train_hybrid(
        tiny_dqn_config(),
        tiny_hybrid_config(),
        &mut episodes,
        20_000,
        1,
        |_, _| {},
    );
    let mut policy = LearnedPolicy::new("hybrid", tiny_model(learner.network(), &cfg));
    let (ret, replicas) = greedy_return(&mut policy, &cfg, &scenario);
    eprintln!(
        "greedy return {ret:.3} with {replicas} pods after {} tuner updates; \
         scale-to-N-and-hold returns {fixed:.2?}",
        learner.tuner().updates()
    );
    // Stated target, after 20,000 steps (as for the DQN alone): within 0.5 of the best
    // "scale up to N, then hold" return, settled on the 5 pods that meet the SLO.
    assert!(ret >= best - 0.5, "return {ret} vs best {best}");
    assert_eq!(replicas, 5, "settled on {replicas} pods");
}
