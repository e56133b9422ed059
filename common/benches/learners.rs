//! Learner speed on one core (run under `taskset -c 0`):
//! - DQN training throughput: environment steps per second with learning on (train
//!   frequency 4, batch 64, the 12→256→256→128→3 network). Target ≥ 4,000 steps/s.
//! - PPO training throughput: environment steps per second with learning on (rollouts of
//!   2,048 steps, 10 epochs of minibatch-64 updates each, the 12→256→256 tanh
//!   actor-critic). Each measured iteration is one rollout and its update. Target ≥ 8,000
//!   steps/s.
//! - Greedy batch-1 decision latency of the trained network. Target ≤ 20 µs.
//!
//! Criterion's "elements" are environment steps (or decisions).

use std::hint::black_box;

use common::env::{Env, EnvConfig, Observation};
use common::rl::artifact::{Algo, Manifest, TrainConfig, TrainedModel, TrainedNetwork};
use common::rl::dqn::{DqnConfig, DqnLearner};
use common::rl::policy::LearnedPolicy;
use common::rl::ppo::{PpoConfig, PpoLearner, RolloutStep};
use common::rl::replay::Transition;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::traffic::PatternKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const STEPS: u64 = 400;

fn bench(c: &mut Criterion) {
    let cfg = EnvConfig::default();
    let arrivals = Scenario::build(
        &ScenarioSpec::Pattern(PatternKind::DailyPattern),
        &ScenarioOptions::default(),
        &cfg.sim,
    )
    .expect("scenario")
    .arrivals(1);
    let dqn = DqnConfig {
        learning_starts: 0,
        ..DqnConfig::default()
    };
    let mut learner = DqnLearner::new(dqn, 3, 10_000_000, 1);
    let mut env = Env::new(cfg.clone(), arrivals.clone(), 1).expect("env");
    let mut obs: Observation = *env.observation();
    // Warm the replay buffer so every measured step samples a full batch.
    let step = |learner: &mut DqnLearner, env: &mut Env, obs: &mut Observation| {
        let action = learner.act(&obs.0, true);
        let s = env.step(action);
        learner.observe(Transition {
            observation: obs.0,
            action: action as u32,
            reward: s.reward as f32,
            next_observation: s.observation.0,
            done: s.done,
        });
        *obs = s.observation;
        if s.done {
            *env = Env::new(cfg.clone(), arrivals.clone(), 1).expect("env");
            *obs = *env.observation();
        }
    };
    for _ in 0..1_000 {
        step(&mut learner, &mut env, &mut obs);
    }

    let mut g = c.benchmark_group("dqn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(STEPS));
    g.bench_function("env_steps_with_learning", |b| {
        b.iter(|| {
            for _ in 0..STEPS {
                step(&mut learner, &mut env, &mut obs);
            }
        });
    });
    g.finish();

    let ppo = PpoConfig::default();
    let rollout = ppo.n_steps as u64;
    let mut learner_ppo = PpoLearner::new(ppo, 3, 1);
    let mut env_ppo = Env::new(cfg.clone(), arrivals.clone(), 1).expect("env");
    let mut obs_ppo: Observation = *env_ppo.observation();
    let mut g = c.benchmark_group("ppo");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rollout));
    g.bench_function("env_steps_with_learning", |b| {
        b.iter(|| {
            for _ in 0..rollout {
                let (action, log_prob, value) = learner_ppo.act(&obs_ppo.0, true);
                let s = env_ppo.step(action);
                learner_ppo.observe(RolloutStep {
                    observation: obs_ppo.0,
                    action,
                    log_prob,
                    value,
                    reward: s.reward as f32,
                    next_observation: s.observation.0,
                    done: s.done,
                });
                obs_ppo = s.observation;
                if s.done {
                    env_ppo = Env::new(cfg.clone(), arrivals.clone(), 1).expect("env");
                    obs_ppo = *env_ppo.observation();
                }
            }
        });
    });
    g.finish();

    let policy_obs = obs;
    let train = TrainConfig::default();
    let policy = LearnedPolicy::new(
        "dqn",
        TrainedModel {
            network: TrainedNetwork::Dqn(learner.network()),
            actions: train.env.actions.clone(),
            manifest: Manifest {
                algo: Algo::Dqn,
                layers: vec![12, 256, 256, 128, 3],
                parameter_count: 102_403,
                timesteps: 0,
                seed: 1,
                backend: "flex".into(),
                trained_by: "bench".into(),
            },
            config: train,
        },
    );
    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1));
    // The agent's decision path: the trained network, greedy, one observation.
    g.bench_function("dqn_greedy_batch1", |b| {
        b.iter(|| black_box(policy.action(black_box(&policy_obs))));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
