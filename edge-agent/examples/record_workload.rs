//! What an agent would have recorded on a workload whose true parameters you choose: the
//! experience log of the HPA rule autoscaling a simulated cluster configured by `--truth`
//! through a scenario's traffic. Calibrating and retraining from it shows what the digital
//! twin recovers and what training there buys, against parameters known exactly:
//!
//! ```sh
//! cargo run --release -p edge-agent --example record_workload -- \
//!     --truth truth.toml --scenario trace:../shared/traces/nasa_http_1995_per_minute.csv \
//!     --start 1d --duration 2d --out recorded
//! edge-agent calibrate --dir recorded --out twin.toml
//! edge-agent retrain --experience recorded --store models --algo dqn --timesteps 100000
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use common::env::EnvConfig;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::traffic::parse_duration;

/// Writes the experience log an HPA-driven agent would record on a simulated workload.
#[derive(Debug, Parser)]
struct Args {
    /// The workload's true parameters: an environment configuration (`[sim]` is used).
    /// Default: the built-in simulator.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// The traffic, as `edge-agent evaluate --scenario` takes it (one scenario).
    #[arg(long)]
    scenario: String,
    /// Trace window start, e.g. 1d.
    #[arg(long)]
    start: Option<String>,
    /// Length, e.g. 2d.
    #[arg(long)]
    duration: Option<String>,
    /// Peak request rate; default: what 80 % of the replica maximum serves at 70 % CPU.
    #[arg(long)]
    peak_rps: Option<f64>,
    /// Seed of the traffic noise and the pods' start-up jitter.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Unix second the recording starts at.
    #[arg(long, default_value_t = 1_700_000_000)]
    t0: u64,
    /// The experience directory to write (created; appended to if it holds a log).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let truth: EnvConfig = match &args.truth {
        None => EnvConfig::default(),
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("invalid configuration in {}", path.display()))?,
    };
    truth.validate()?;
    let specs = ScenarioSpec::parse_list(&args.scenario)?;
    let [spec] = specs.as_slice() else {
        anyhow::bail!("--scenario: exactly one scenario, got {}", specs.len());
    };
    let opts = ScenarioOptions {
        peak_rps: args.peak_rps,
        start_s: args.start.as_deref().map(parse_duration).transpose()?,
        duration_s: args.duration.as_deref().map(parse_duration).transpose()?,
        ..ScenarioOptions::default()
    };
    let arrivals = Scenario::build(spec, &opts, &truth.sim)?.arrivals(args.seed);
    let rates = (0..arrivals.len_s())
        .map(|s| arrivals.rate_at(s) as f32)
        .collect();
    edge_agent::write_simulated_recording(&args.out, &truth.sim, rates, args.seed, args.t0)?;
    println!(
        "recorded {} s of {} into {}",
        arrivals.len_s(),
        arrivals.name(),
        args.out.display()
    );
    Ok(())
}
