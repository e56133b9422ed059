//! `coordinator fine-tune`: adapt a registry version to one workload and publish the
//! result as that workload's model.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, Table};
use common::rl::artifact::TrainConfig;
use common::rl::transfer::{Exploration, FineTuneSpec, Score, Workload, fine_tune_with_progress};
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::traffic::parse_duration;

use super::models::now_rfc3339;
use crate::registry::error::RegistryError;
use crate::registry::manifest::version_name;
use crate::registry::store::Registry;
use crate::transfer::{BaseModel, BaseRef, Comparison, WorkloadTag, fine_tune_version};

/// Arguments of `coordinator fine-tune`.
#[derive(Debug, Args)]
pub(crate) struct FineTuneArgs {
    /// The registry directory (the coordinator's model store).
    #[arg(long, env = "COORDINATOR_REGISTRY", value_name = "DIR")]
    registry: PathBuf,
    /// The version to start from: `42`, `v42`, `v000042`, or `latest` (the newest fleet
    /// version, i.e. the current global model; earlier fine-tunes are not considered).
    #[arg(long, value_name = "V")]
    base: BaseRef,
    /// The workload as named scenarios: comma-separated steady, gradual_ramp,
    /// sudden_spike, daily_pattern, idle_periods, flash_crowd, `all`, or trace:PATH.
    #[arg(
        long,
        value_name = "LIST",
        required_unless_present = "trace",
        conflicts_with = "trace"
    )]
    scenario: Option<String>,
    /// The workload as a recorded trace: a CSV of timestamp_or_index,count rows, per
    /// second or per minute (as `edge-agent evaluate --scenario trace:PATH` reads it).
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Where the trace window starts, counted from its first row, e.g. 7d.
    #[arg(long)]
    start: Option<String>,
    /// Scenario or trace window length, e.g. 90m, 6h, 2d. Default: the pattern's own, or
    /// the whole trace.
    #[arg(long)]
    duration: Option<String>,
    /// Peak request rate the traffic is scaled to, req/s. Default: the rate that needs
    /// 80 % of max replicas at 70 % CPU.
    #[arg(long)]
    peak_rps: Option<f64>,
    /// Bucket length of an index-column trace when it cannot be inferred, e.g. 1m.
    #[arg(long)]
    trace_step: Option<String>,
    /// Where the trace window the tuned model is judged on starts. A trace plays the same
    /// for every seed, so without this the judgement is on the window it trained on.
    #[arg(long, requires = "trace")]
    eval_start: Option<String>,
    /// Length of the judged trace window. Default: as --duration.
    #[arg(long, requires = "trace")]
    eval_duration: Option<String>,
    /// What fine-tuning may change: only the head (`feature-extractor` frozen, keeping
    /// the features the fleet learned), or every layer (`none`).
    #[arg(long, value_enum, default_value_t = Freeze::FeatureExtractor)]
    freeze: Freeze,
    /// Environment steps (15 s decisions) to train for.
    #[arg(long, value_name = "N")]
    steps: u64,
    /// The workload tag the new version is for: agents whose hello carries it start from
    /// the new version. Letters, digits, `-`, `_`, `.`.
    #[arg(long, value_name = "WORKLOAD")]
    tag: WorkloadTag,
    /// Seed of the learner and of the training traffic.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Comma-separated evaluation seeds (held out: training traffic uses seeds from
    /// 10,000 up).
    #[arg(long, default_value = "1,2,3")]
    eval_seeds: String,
    /// DQN exploration ε at the first step (PPO samples its own policy instead).
    #[arg(long, default_value_t = Exploration::FINE_TUNE.start)]
    epsilon_start: f64,
    /// DQN exploration ε after the first 30 % of the steps.
    #[arg(long, default_value_t = Exploration::FINE_TUNE.end)]
    epsilon_end: f64,
    /// Training configuration (TOML, as `edge-agent train --config` reads it); it must
    /// build the base version's network. Default: the built-in defaults, which the
    /// shipped models were trained with.
    #[arg(long, value_name = "TRAIN_TOML", env = "COORDINATOR_TRAIN_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Freeze {
    /// Train the head only.
    FeatureExtractor,
    /// Train every layer.
    None,
}

/// Runs `coordinator fine-tune`.
pub(crate) fn run(args: FineTuneArgs) -> anyhow::Result<()> {
    let cfg = load_config(args.config.as_ref())?;
    // `open` would create a missing directory; a typo must not become a registry.
    if !args.registry.is_dir() {
        return Err(RegistryError::Missing {
            path: args.registry,
        }
        .into());
    }
    let base = {
        let registry = Registry::inspect(&args.registry)?;
        BaseModel::load(&registry, args.base, &cfg)?
    };
    let (training, evaluation) = workload(&args, &cfg)?;
    let freeze = args.freeze == Freeze::FeatureExtractor;
    let spec = FineTuneSpec {
        scenarios: training,
        steps: args.steps,
        freeze,
        seed: args.seed,
        exploration: Exploration {
            start: args.epsilon_start,
            end: args.epsilon_end,
            ..Exploration::FINE_TUNE
        },
    };
    tracing::info!(
        base = %version_name(base.version),
        algo = base.algo.name(),
        steps = args.steps,
        frozen = freeze,
        "fine-tuning"
    );
    let every = (args.steps / 10).max(1);
    let tuned = fine_tune_with_progress(base.algo, &cfg, &base.weights, &spec, |steps| {
        if steps % every == 0 {
            tracing::info!(steps, of = args.steps, "fine-tuning");
        }
    })?;
    let comparison = Comparison::run(base.algo, &cfg, &base.weights, &tuned.weights, &evaluation)?;
    print!("{}", table(&comparison, base.version));

    let mut registry = Registry::open(&args.registry)?;
    let new = fine_tune_version(&base, tuned.weights, &args.tag, now_rfc3339()?);
    let published = registry.publish(new)?;
    println!(
        "published {}: {} fine-tuned for workload `{}` ({} steps, {})",
        version_name(published.version),
        version_name(base.version),
        args.tag,
        args.steps,
        if freeze {
            "feature extractor frozen"
        } else {
            "all layers trained"
        }
    );
    Ok(())
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<TrainConfig> {
    let cfg: TrainConfig = match path {
        None => TrainConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("invalid configuration in {}", path.display()))?
        }
    };
    cfg.validate()?;
    Ok(cfg)
}

fn duration_arg(name: &str, value: Option<&String>) -> anyhow::Result<Option<u64>> {
    value
        .map(|v| parse_duration(v).with_context(|| format!("--{name}")))
        .transpose()
}

/// The scenarios to train on and the held-out episodes to judge on.
fn workload(args: &FineTuneArgs, cfg: &TrainConfig) -> anyhow::Result<(Vec<Scenario>, Workload)> {
    let specs = match (&args.scenario, &args.trace) {
        (Some(list), None) => ScenarioSpec::parse_list(list).context("--scenario")?,
        (None, Some(path)) => vec![ScenarioSpec::Trace(path.clone())],
        _ => bail!("give either --scenario or --trace"),
    };
    let options = ScenarioOptions {
        peak_rps: args.peak_rps,
        start_s: duration_arg("start", args.start.as_ref())?,
        duration_s: duration_arg("duration", args.duration.as_ref())?,
        trace_step_s: duration_arg("trace-step", args.trace_step.as_ref())?,
        ..ScenarioOptions::default()
    };
    let build = |options: &ScenarioOptions| {
        specs
            .iter()
            .map(|spec| {
                Scenario::build(spec, options, &cfg.env.sim)
                    .with_context(|| format!("scenario {spec}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let training = build(&options)?;
    let eval_options = ScenarioOptions {
        start_s: duration_arg("eval-start", args.eval_start.as_ref())?.or(options.start_s),
        duration_s: duration_arg("eval-duration", args.eval_duration.as_ref())?
            .or(options.duration_s),
        ..options.clone()
    };
    let evaluation = if eval_options == options {
        training.clone()
    } else {
        build(&eval_options)?
    };
    let seeds = args
        .eval_seeds
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .with_context(|| format!("--eval-seeds: `{s}` is not a whole number"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((
        training,
        Workload {
            scenarios: evaluation,
            seeds,
        },
    ))
}

fn table(c: &Comparison, base: u64) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY);
    t.set_header(["policy", "cost", "vs HPA", "SLO met", "errors"]);
    let mut row = |name: String, s: &Score| {
        t.add_row([
            name,
            format!("{:.3}", s.cost),
            format!("{:.3}", s.cost / c.hpa.cost),
            format!("{:.1} %", s.slo_compliance * 100.0),
            format!("{:.2} %", s.error_rate * 100.0),
        ]);
    };
    row("hpa".to_owned(), &c.hpa);
    row(format!("base {}", version_name(base)), &c.base);
    row("fine-tuned".to_owned(), &c.tuned);
    for i in 1..5 {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = t.to_string();
    out.push('\n');
    out
}
