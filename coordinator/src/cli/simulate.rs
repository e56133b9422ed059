//! `coordinator simulate`: the fleet on one machine (see [`crate::simulate`]).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use common::rl::artifact::Algo;
use edge_agent::federation::PayloadForm;
use indicatif::{ProgressBar, ProgressStyle};

use crate::aggregate::strategy::Strategy;
use crate::config::{AggregationSection, StrategyName};
use crate::simulate::{self, Progress, SimulationSpec, StartModel};

/// Options of `coordinator simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Simulated clusters, each with its own edge agent and traffic pattern (daily
    /// pattern, flash crowd, gradual ramp, idle periods, steady, in that order, wrapping
    /// around).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=32))]
    clusters: u64,
    /// Federated rounds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Environment steps (15 s decisions) each agent trains per round.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    budget: u64,
    /// The learner the fleet runs.
    #[arg(long, value_enum, default_value_t = AlgoArg::Dqn)]
    algo: AlgoArg,
    /// The first global model: freshly initialised, or the shipped trained model.
    #[arg(long, value_enum, default_value_t = StartModel::Fresh)]
    start: StartModel,
    /// How the coordinator combines updates.
    #[arg(long, value_enum, default_value_t = StrategyArg::Fedavg)]
    strategy: StrategyArg,
    /// For `--strategy trimmed-mean`: share of values dropped at each end, in [0, 0.5).
    #[arg(long)]
    trim: Option<f64>,
    /// Seed of every agent's training and the coordinator's sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seeds of the held-out evaluation episodes (training traffic uses seeds from 10000
    /// up, so these never replay it).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    eval_seeds: Vec<u64>,
    /// The workload kept back from every cluster, for the transfer race.
    #[arg(long, default_value = "sudden_spike")]
    holdout: String,
    /// Training steps each transfer racer (fine-tuned, from scratch) may take; 0 skips
    /// the race. The exploration schedule spans this budget, so a shorter one is not the
    /// first part of a longer race: at 20,000 neither racer reached the HPA's level on
    /// `sudden_spike` after the default federation, at 60,000 both did.
    #[arg(long, default_value_t = 60_000)]
    transfer_steps: u64,
    /// Steps between the racers' greedy evaluations.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    transfer_eval_every: u64,
    /// In the transfer race, fine-tune only the head of the global model (the feature
    /// extractor stays frozen). Off by default: measured on held-out workloads, the
    /// frozen fine-tune did not reach HPA-level cost within the budgets tried, while
    /// fine-tuning every layer did (see the README).
    #[arg(long)]
    transfer_freeze: bool,
    /// Skip training each agent alone (the comparison federation is judged by).
    #[arg(long)]
    skip_alone: bool,
    /// FedProx: the federated DQN agents add μ/2 · ‖θ − θ_global‖² to their loss, so local
    /// rounds stay near the global model (the agents trained alone never use it).
    /// 0 is plain FedAvg.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    proximal_mu: f64,
    /// How the federated agents' deltas travel: `f16` (half the bytes; each value off by
    /// at most a relative 2⁻¹¹) or `f32` (exact).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F16)]
    update_precision: PrecisionArg,
    /// Keep the coordinator's model registry here instead of in a temporary directory
    /// (inspect it afterwards with `coordinator models --registry DIR list`). Must be
    /// empty or absent: a simulation starts its fleet from scratch.
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// `table` for people, `json` for scripts (one object on standard output).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AlgoArg {
    Dqn,
    Ppo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PrecisionArg {
    F16,
    F32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StrategyArg {
    Fedavg,
    TrimmedMean,
    Median,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let strategy = strategy(args)?;
    let temp;
    let registry = match &args.registry {
        Some(dir) => {
            let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
            anyhow::ensure!(
                !occupied,
                "--registry {} is not empty; a simulation starts a new fleet, so give it an empty or new directory",
                dir.display()
            );
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary registry")?;
            temp.path().to_owned()
        }
    };
    let spec = SimulationSpec {
        clusters: args.clusters as usize,
        rounds: args.rounds,
        budget: args.budget,
        algo: match args.algo {
            AlgoArg::Dqn => Algo::Dqn,
            AlgoArg::Ppo => Algo::Ppo,
        },
        start: args.start,
        strategy,
        seed: args.seed,
        eval_seeds: args.eval_seeds.clone(),
        holdout: args.holdout.clone(),
        transfer_budget: args.transfer_steps,
        transfer_eval_every: args.transfer_eval_every,
        transfer_freeze: args.transfer_freeze,
        skip_alone: args.skip_alone,
        proximal_mu: args.proximal_mu,
        payload: match args.update_precision {
            PrecisionArg::F16 => PayloadForm::HalfDelta,
            PrecisionArg::F32 => PayloadForm::Delta,
        },
        registry,
    };
    let display = Display::new(&spec);
    let report = simulate::run(&spec, &|p| display.show(p))?;
    display.bar.finish_and_clear();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Table => stdout.write_all(report.to_text().as_bytes())?,
        Format::Json => {
            serde_json::to_writer(&mut stdout, &report)?;
            stdout.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn strategy(args: &SimulateArgs) -> anyhow::Result<Strategy> {
    let section = AggregationSection {
        strategy: match args.strategy {
            StrategyArg::Fedavg => StrategyName::Fedavg,
            StrategyArg::TrimmedMean => StrategyName::TrimmedMean,
            StrategyArg::Median => StrategyName::Median,
        },
        trim: args.trim,
        clip_norm: None,
    };
    Ok(section
        .to_aggregation()
        .context("invalid --strategy/--trim")?
        .strategy)
}

/// A progress bar on a terminal; plain lines on standard error otherwise, so logs of
/// non-interactive runs (CI) still show each round.
struct Display {
    bar: ProgressBar,
    rounds: u64,
    alone_total: u64,
    alone_done: std::sync::atomic::AtomicU64,
}

impl Display {
    fn new(spec: &SimulationSpec) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(spec.rounds)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{msg:40} {bar:30} {pos}/{len}  {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            rounds: spec.rounds,
            alone_total: spec.rounds * spec.clusters as u64,
            alone_done: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn line(&self, text: String) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    fn show(&self, progress: Progress<'_>) {
        match progress {
            Progress::Phase(phase) => {
                self.line(format!("== {phase}"));
                self.bar.set_message(phase);
                self.bar.set_position(0);
                if phase.starts_with("training each agent alone") {
                    self.bar.set_length(self.alone_total);
                } else {
                    self.bar.set_length(self.rounds);
                }
            }
            Progress::Round(row) => {
                let version = row
                    .version
                    .map_or_else(|| "nothing published".to_owned(), |v| format!("v{v}"));
                let local = match (row.local_cost, row.local_slo_compliance) {
                    (Some(cost), Some(slo)) => format!(
                        "agents' local episodes: cost {cost:.3}, SLO met {:.1} %",
                        100.0 * slo
                    ),
                    _ => "no update arrived".to_owned(),
                };
                self.line(format!(
                    "round {:>3}/{} → {version}: {}/{} updates, {local} ({:.1} s)",
                    row.round, self.rounds, row.accepted, row.participants, row.seconds
                ));
                self.bar.inc(1);
            }
            Progress::Alone => {
                let done = self
                    .alone_done
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                self.bar.set_position(done);
                if self.bar.is_hidden() && done.is_multiple_of(self.rounds.max(1)) {
                    eprintln!("  {done}/{} local rounds trained alone", self.alone_total);
                }
            }
        }
    }
}

/// A finite number ≥ 0.
fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a finite number ≥ 0, got {v}")),
        Err(e) => Err(e.to_string()),
    }
}
