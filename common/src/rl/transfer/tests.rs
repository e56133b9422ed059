//! Transfer tests: freezing holds through a fine-tune, results repeat for a seed, a
//! fine-tune does not wreck a good model, and the race reports what it measured.

use super::*;
use crate::env::EnvConfig;
use crate::rl::artifact::{Algo, TrainConfig};
use crate::rl::defaults;
use crate::rl::fleet_model::{extractor_len, fresh_weights, network_weights};
use crate::scenario::{DEFAULT_EVAL_SEED, Scenario, ScenarioOptions, ScenarioSpec};
use crate::traffic::{ArrivalSeries, PatternKind};

fn shipped_dqn() -> (TrainConfig, Vec<f32>) {
    let model = defaults::load(Algo::Dqn).unwrap();
    let weights = network_weights(&model.network);
    (model.config, weights)
}

/// 700 req/s for an hour on the default cluster: 9 pods at 78 % meet the SLO, 8 at
/// 87.5 % breach it.
fn constant_load() -> Scenario {
    Scenario::fixed(ArrivalSeries::new("constant_700", vec![700.0; 3600]))
}

fn pattern(kind: PatternKind, env: &EnvConfig) -> Scenario {
    Scenario::build(
        &ScenarioSpec::Pattern(kind),
        &ScenarioOptions::default(),
        &env.sim,
    )
    .unwrap()
}

fn spec(steps: u64, freeze: bool, seed: u64) -> FineTuneSpec {
    FineTuneSpec {
        scenarios: vec![constant_load()],
        steps,
        freeze,
        seed,
        exploration: Exploration::FINE_TUNE,
    }
}

#[test]
fn a_frozen_fine_tune_changes_only_the_head() {
    let (cfg, base) = shipped_dqn();
    let n = extractor_len(Algo::Dqn, &cfg);
    let frozen = fine_tune(Algo::Dqn, &cfg, &base, &spec(1_200, true, 3)).unwrap();
    assert_eq!(frozen.weights.len(), base.len());
    assert_eq!(frozen.weights[..n], base[..n], "the extractor moved");
    assert_ne!(frozen.weights[n..], base[n..], "the head did not learn");
    let free = fine_tune(Algo::Dqn, &cfg, &base, &spec(1_200, false, 3)).unwrap();
    assert_ne!(
        free.weights[..n],
        base[..n],
        "unfrozen, the extractor trains"
    );
}

#[test]
fn a_frozen_ppo_fine_tune_changes_only_the_heads() {
    let mut cfg = TrainConfig::default();
    cfg.ppo.hidden = vec![16, 16];
    cfg.ppo.n_steps = 64;
    cfg.ppo.batch_size = 32;
    cfg.ppo.n_epochs = 2;
    let base = fresh_weights(Algo::Ppo, &cfg, 4);
    let n = extractor_len(Algo::Ppo, &cfg);
    assert_eq!(n, 12 * 16 + 16 + 16 * 16 + 16);
    let tuned = fine_tune(Algo::Ppo, &cfg, &base, &spec(128, true, 4)).unwrap();
    assert_eq!(tuned.weights[..n], base[..n]);
    assert_ne!(tuned.weights[n..], base[n..]);
}

#[test]
fn the_same_seed_gives_the_same_fine_tune() {
    let (cfg, base) = shipped_dqn();
    let a = fine_tune(Algo::Dqn, &cfg, &base, &spec(1_100, true, 7)).unwrap();
    let b = fine_tune(Algo::Dqn, &cfg, &base, &spec(1_100, true, 7)).unwrap();
    assert_eq!(a, b);
    let c = fine_tune(Algo::Dqn, &cfg, &base, &spec(1_100, true, 8)).unwrap();
    assert_ne!(a.weights, c.weights);
}

#[test]
fn fine_tuning_the_shipped_dqn_on_constant_load_does_not_break_it() {
    let (cfg, base) = shipped_dqn();
    let constant = Workload {
        scenarios: vec![constant_load()],
        seeds: vec![DEFAULT_EVAL_SEED],
    };
    let spike = Workload {
        scenarios: vec![pattern(PatternKind::SuddenSpike, &cfg.env)],
        seeds: vec![DEFAULT_EVAL_SEED],
    };
    let tuned = fine_tune(Algo::Dqn, &cfg, &base, &spec(3_000, true, 1)).unwrap();
    assert!(!tuned.episodes.is_empty());
    let before = evaluate_weights(Algo::Dqn, &cfg, &base, &constant).unwrap();
    let after = evaluate_weights(Algo::Dqn, &cfg, &tuned.weights, &constant).unwrap();
    let hpa = evaluate_hpa(&cfg.env, &constant).unwrap();
    let spike_before = evaluate_weights(Algo::Dqn, &cfg, &base, &spike).unwrap();
    let spike_after = evaluate_weights(Algo::Dqn, &cfg, &tuned.weights, &spike).unwrap();
    let spike_hpa = evaluate_hpa(&cfg.env, &spike).unwrap();
    eprintln!(
        "constant: hpa {hpa:?}\n base {before:?}\n tuned {after:?}\n\
         spike: hpa {spike_hpa:?}\n base {spike_before:?}\n tuned {spike_after:?}"
    );
    // Measured: on the constant load the base already holds 9 pods (cost 0.36 against
    // the HPA's 0.40, every interval within the SLO) and the tuned model still does. On
    // sudden_spike, which it was not tuned on, it stays cheaper than the HPA (0.492 vs
    // 0.588) and within a point of its base's SLO compliance (91.5 % vs 92.7 %).
    assert!(
        before.reaches(&hpa, 0.0),
        "the base should hold constant load"
    );
    assert!(after.reaches(&hpa, 0.0), "tuned on it, it no longer does");
    assert!(spike_after.cost < spike_hpa.cost);
    assert!(
        spike_after.slo_compliance >= spike_before.slo_compliance - 0.03,
        "it forgot how to handle spikes"
    );
}

#[test]
fn the_race_is_won_at_step_zero_by_a_base_that_already_beats_the_hpa() {
    let (cfg, base) = shipped_dqn();
    let race = steps_to_reach(
        Algo::Dqn,
        &cfg,
        &Start::Base {
            weights: &base,
            freeze: true,
            exploration: Exploration::FINE_TUNE,
        },
        &RaceSpec {
            training: vec![pattern(PatternKind::SuddenSpike, &cfg.env)],
            evaluation: Workload {
                scenarios: vec![pattern(PatternKind::SuddenSpike, &cfg.env)],
                seeds: vec![1, 2, 3],
            },
            budget: 5_000,
            eval_every: 1_000,
            slo_tolerance: 0.01,
            seed: 1,
            stop_when_reached: true,
        },
    )
    .unwrap();
    eprintln!("{race:?}");
    assert_eq!(race.reached_at, Some(0));
    assert_eq!(race.curve.len(), 1, "it stops at the first win");
    assert!(race.curve[0].score.cost < race.hpa.cost);
}

#[test]
fn a_fresh_network_does_not_reach_the_hpa_on_a_tiny_budget() {
    let (cfg, _) = shipped_dqn();
    let spike = pattern(PatternKind::SuddenSpike, &cfg.env);
    let race = steps_to_reach(
        Algo::Dqn,
        &cfg,
        &Start::Scratch,
        &RaceSpec {
            training: vec![spike.clone()],
            evaluation: Workload {
                scenarios: vec![spike],
                seeds: vec![1],
            },
            budget: 500,
            eval_every: 200,
            slo_tolerance: 0.01,
            seed: 1,
            stop_when_reached: true,
        },
    )
    .unwrap();
    eprintln!("{race:?}");
    // Measured: the fresh network's greedy policy only ever adds pods, so it meets the
    // SLO everywhere at 2.7 times the HPA's cost, and 500 steps do not change that.
    assert!(race.curve.iter().all(|p| p.score.cost > race.hpa.cost));
    assert_eq!(race.reached_at, None);
    let steps: Vec<u64> = race.curve.iter().map(|p| p.steps).collect();
    assert_eq!(
        steps,
        [0, 200, 400, 500],
        "every eval_every and the budget's end"
    );
}

#[test]
fn hpa_level_means_no_dearer_and_at_most_the_tolerance_less_compliant() {
    let hpa = Score {
        cost: 10.0,
        slo_compliance: 0.95,
        error_rate: 0.01,
        p95_ms: 150.0,
    };
    let at = |cost, slo_compliance| Score {
        cost,
        slo_compliance,
        error_rate: 0.0,
        p95_ms: 100.0,
    };
    assert!(at(10.0, 0.95).reaches(&hpa, 0.0));
    assert!(at(9.0, 0.945).reaches(&hpa, 0.01));
    assert!(!at(9.0, 0.935).reaches(&hpa, 0.01), "too far below the SLO");
    assert!(!at(10.01, 1.0).reaches(&hpa, 0.01), "dearer");
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let (cfg, base) = shipped_dqn();
    let e = fine_tune(Algo::Dqn, &cfg, &base[1..], &spec(10, true, 1)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("do not fit the dqn network") && text.contains("102402"),
        "{text}"
    );
    let e = fine_tune(Algo::Ppo, &cfg, &base, &spec(10, true, 1)).unwrap_err();
    assert!(
        matches!(e, TransferError::BaseWeights { algo: "ppo", .. }),
        "{e}"
    );
    let mut bad = spec(10, true, 1);
    bad.exploration.start = 1.5;
    let e = fine_tune(Algo::Dqn, &cfg, &base, &bad).unwrap_err();
    assert!(e.to_string().contains("exploration.start"), "{e}");
    let race = RaceSpec {
        training: vec![constant_load()],
        evaluation: Workload {
            scenarios: vec![constant_load()],
            seeds: vec![1],
        },
        budget: 10,
        eval_every: 0,
        slo_tolerance: 0.01,
        seed: 1,
        stop_when_reached: true,
    };
    let e = steps_to_reach(Algo::Dqn, &cfg, &Start::Scratch, &race).unwrap_err();
    assert!(e.to_string().contains("eval_every"), "{e}");
    let e = steps_to_reach(
        Algo::Dqn,
        &cfg,
        &Start::Scratch,
        &RaceSpec {
            eval_every: 5,
            evaluation: Workload {
                scenarios: vec![constant_load()],
                seeds: vec![],
            },
            ..race
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("evaluation"), "{e}");
}

#[test]
fn the_oracle_is_the_floor_of_a_workload() {
    let env = EnvConfig::default();
    let spike = Workload {
        scenarios: vec![pattern(PatternKind::SuddenSpike, &env)],
        seeds: vec![1, 2],
    };
    let hpa = evaluate_hpa(&env, &spike).unwrap();
    let oracle = evaluate_oracle(&env, &spike).unwrap();
    assert!(oracle.cost < hpa.cost, "{oracle:?} vs {hpa:?}");
    assert!(oracle.slo_compliance >= 0.99, "{oracle:?}");
    assert!(
        oracle.p95_ms > 0.0 && oracle.p95_ms < hpa.p95_ms,
        "{oracle:?} vs {hpa:?}"
    );
}
