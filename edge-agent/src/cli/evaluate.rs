//! `edge-agent evaluate`: the scorecard on the command line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use common::rl::policy::LearnedPolicy;
use common::scenario::{DEFAULT_EVAL_SEED, Scenario, ScenarioOptions, ScenarioSpec};
use common::scorecard::{Evaluation, PolicyName, PolicySpec, TunedTarget, TuningConfig, tune_hpa};
use common::traffic::{PatternKind, parse_duration};

use crate::config::load_env_config;
use crate::table;

#[derive(Debug, Args)]
pub(crate) struct EvaluateArgs {
    /// Comma-separated policies: hpa (Kubernetes HPA, 70 % CPU), tuned (HPA with its target
    /// grid-searched on the training scenarios), oracle (sees the future; the cost floor),
    /// oracle:MARGIN (the same foresight sizing pods for MARGIN × the SLO instead of 0.9 ×:
    /// above 1 it trades SLO compliance for cost, which maps the best cost at a given
    /// compliance),
    /// dqn, ppo and hybrid (the shipped models), dqn:DIR, ppo:DIR and hybrid:DIR (models
    /// `train` wrote).
    #[arg(long, default_value = "hpa,tuned,oracle", env = "EDGE_AGENT_POLICY")]
    policy: String,
    /// Comma-separated scenarios: steady, gradual_ramp, sudden_spike, daily_pattern,
    /// idle_periods, flash_crowd, `all` (the six), or trace:PATH (a CSV of
    /// timestamp_or_index,count rows, per second or per minute).
    #[arg(long, default_value = "all", env = "EDGE_AGENT_SCENARIO")]
    scenario: String,
    /// Comma-separated seeds; each scenario is played once per seed.
    #[arg(long, default_value_t = DEFAULT_EVAL_SEED.to_string(), env = "EDGE_AGENT_SEED")]
    seed: String,
    /// Scenario length, e.g. 90m, 6h, 2d. Default: the pattern's own (2 h, or 24 h for
    /// daily_pattern, 6 h for idle_periods), or the whole trace.
    #[arg(long)]
    duration: Option<String>,
    /// Where a trace window starts, counted from its first row, e.g. 7d.
    #[arg(long)]
    start: Option<String>,
    /// Peak request rate the scenario is scaled to, req/s. Default: the rate that needs
    /// 80 % of max replicas at 70 % CPU (1,120 req/s with the default configuration).
    #[arg(long)]
    peak_rps: Option<f64>,
    /// Bucket length of an index-column trace when it cannot be inferred, e.g. 1m.
    #[arg(long)]
    trace_step: Option<String>,
    /// Environment configuration (TOML); see `edge-agent default-config`.
    #[arg(long, env = "EDGE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Output format: an aligned table for people, or a JSON array for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table, env = "EDGE_AGENT_FORMAT")]
    format: Format,
    /// Skip the tuned baseline's grid search and use this CPU target (0–1).
    #[arg(long)]
    tuned_target: Option<f64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn duration_arg(name: &str, value: Option<&String>) -> anyhow::Result<Option<u64>> {
    value
        .map(|v| parse_duration(v).with_context(|| format!("--{name}")))
        .transpose()
}

pub(crate) fn run(args: &EvaluateArgs) -> anyhow::Result<()> {
    let cfg = load_env_config(args.config.as_deref())?;
    let names = PolicyName::parse_list(&args.policy)
        .map_err(anyhow::Error::msg)
        .context("--policy")?;
    let policies = names
        .iter()
        .map(resolve_policy)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let specs = ScenarioSpec::parse_list(&args.scenario).context("--scenario")?;
    let seeds: Vec<u64> = args
        .seed
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .with_context(|| format!("--seed: `{s}` is not a whole number"))
        })
        .collect::<anyhow::Result<_>>()?;
    let options = ScenarioOptions {
        peak_rps: args.peak_rps,
        start_s: duration_arg("start", args.start.as_ref())?,
        duration_s: duration_arg("duration", args.duration.as_ref())?,
        trace_step_s: duration_arg("trace-step", args.trace_step.as_ref())?,
        ..ScenarioOptions::default()
    };
    let scenarios = specs
        .iter()
        .map(|spec| {
            Scenario::build(spec, &options, &cfg.sim).with_context(|| format!("scenario {spec}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let tuned = if policies.iter().any(|p| matches!(p, PolicySpec::Tuned)) {
        Some(tuned_target(&cfg, args.tuned_target)?)
    } else {
        None
    };
    let rows = Evaluation {
        cfg: &cfg,
        scenarios: &scenarios,
        seeds: &seeds,
        tuned: tuned.as_ref(),
    }
    .run(&policies)?;

    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => print!("{}", table::render(&rows)),
    }
    Ok(())
}

/// Loads the model a learned policy names.
fn resolve_policy(name: &PolicyName) -> anyhow::Result<PolicySpec> {
    Ok(match name {
        PolicyName::Hpa => PolicySpec::Hpa,
        PolicyName::Tuned => PolicySpec::Tuned,
        PolicyName::Oracle => PolicySpec::Oracle,
        PolicyName::OracleAt(margin) => PolicySpec::OracleAt(*margin),
        PolicyName::Learned(algo, dir) => {
            let (label, model) = crate::model_source::load_model(*algo, dir.as_deref())?;
            PolicySpec::Learned(Box::new(LearnedPolicy::new(label, model)))
        }
    })
}

fn tuned_target(cfg: &common::env::EnvConfig, fixed: Option<f64>) -> anyhow::Result<TunedTarget> {
    if let Some(target) = fixed {
        if !(target > 0.0 && target <= 1.0) {
            bail!("--tuned-target must be in (0, 1], got {target}");
        }
        return Ok(TunedTarget {
            target,
            candidates: Vec::new(),
        });
    }
    let training = PatternKind::ALL
        .iter()
        .map(|&k| {
            Scenario::build(
                &ScenarioSpec::Pattern(k),
                &ScenarioOptions::default(),
                &cfg.sim,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tuning = TuningConfig::default();
    let tuned = tune_hpa(cfg, &training, &tuning)?;
    for c in &tuned.candidates {
        tracing::debug!(
            target = c.target,
            cost = c.cost,
            slo_compliance = c.slo_compliance,
            error_rate = c.error_rate,
            meets_goal = c.meets_goal,
            "tuning candidate"
        );
    }
    tracing::info!(
        target = tuned.target,
        seeds = ?tuning.seeds,
        slo_goal = tuning.slo_goal,
        "tuned HPA target chosen on the six training scenarios"
    );
    Ok(tuned)
}
