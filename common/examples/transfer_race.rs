//! The transfer race on the command line: how many training steps the shipped DQN,
//! fine-tuned, needs to reach HPA-level cost on a workload it never trained on, against
//! the same learner trained from scratch on the same budget.
//!
//! ```sh
//! cargo run --release -p rl-autoscaler-common --example transfer_race -- \
//!     --trace ../shared/traces/nasa_http_1995_per_minute.csv \
//!     --train-start 0d --train-duration 7d --eval-start 14d --eval-duration 7d \
//!     --budget 200000 --eval-every 10000 [--tolerance 0.01] [--seed 1] [--runs frozen,unfrozen,scratch]
//! ```
//!
//! A trace plays the same for every seed, so the evaluation window must differ from the
//! training window for the judgement to be on held-out traffic. `--scenario NAME
//! [--duration 6h] [--peak-rps R]` races on a named pattern instead, training on training
//! seeds and judging on seeds 1–3.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use common::rl::artifact::Algo;
use common::rl::defaults;
use common::rl::fleet_model::network_weights;
use common::rl::transfer::{Exploration, Race, RaceSpec, Start, Workload, steps_to_reach};
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::traffic::parse_duration;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, value] if flag.starts_with("--") => {
                flags.insert(flag.trim_start_matches("--").to_owned(), value.clone());
            }
            _ => return Err(format!("expected `--flag value` pairs, got {pair:?}").into()),
        }
    }
    let get = |name: &str, default: &str| flags.get(name).cloned().unwrap_or(default.to_owned());
    let window = |start: &str, duration: &str| -> Result<ScenarioOptions, Error> {
        Ok(ScenarioOptions {
            start_s: Some(parse_duration(&get(start, "0d"))?),
            duration_s: Some(parse_duration(&get(duration, "7d"))?),
            ..ScenarioOptions::default()
        })
    };
    let trace = ScenarioSpec::Trace(PathBuf::from(get(
        "trace",
        "../shared/traces/nasa_http_1995_per_minute.csv",
    )));

    let base = defaults::load(Algo::Dqn)?;
    let weights = network_weights(&base.network);
    let cfg = base.config;
    let training = Scenario::build(
        &trace,
        &window("train-start", "train-duration")?,
        &cfg.env.sim,
    )?;
    let held_out = Scenario::build(
        &trace,
        &window("eval-start", "eval-duration")?,
        &cfg.env.sim,
    )?;
    let spec = RaceSpec {
        training: vec![training],
        evaluation: Workload {
            scenarios: vec![held_out],
            seeds: vec![1],
        },
        budget: get("budget", "200000").parse()?,
        eval_every: get("eval-every", "10000").parse()?,
        slo_tolerance: get("tolerance", "0.01").parse()?,
        seed: get("seed", "1").parse()?,
        stop_when_reached: get("stop", "false").parse()?,
    };
    for run in get("runs", "frozen,scratch").split(',') {
        let start = match run {
            "frozen" | "unfrozen" => Start::Base {
                weights: &weights,
                freeze: run == "frozen",
                exploration: Exploration::FINE_TUNE,
            },
            "scratch" => Start::Scratch,
            other => return Err(format!("unknown run `{other}`").into()),
        };
        let started = Instant::now();
        let race = steps_to_reach(Algo::Dqn, &cfg, &start, &spec)?;
        report(run, &race, started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn report(run: &str, race: &Race, seconds: f64) {
    println!(
        "\n{run}: HPA-level at {} ({seconds:.0} s wall)",
        race.reached_at.map_or_else(
            || "never within the budget".to_owned(),
            |s| format!("{s} steps")
        )
    );
    println!(
        "  hpa        cost {:8.3}  SLO met {:5.1} %  errors {:5.2} %",
        race.hpa.cost,
        race.hpa.slo_compliance * 100.0,
        race.hpa.error_rate * 100.0
    );
    for p in &race.curve {
        println!(
            "  {:>8}   cost {:8.3}  SLO met {:5.1} %  errors {:5.2} %{}",
            p.steps,
            p.score.cost,
            p.score.slo_compliance * 100.0,
            p.score.error_rate * 100.0,
            if Some(p.steps) == race.reached_at {
                "  <- HPA level"
            } else {
                ""
            }
        );
    }
}
