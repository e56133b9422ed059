//! `edge-agent retrain`: learn on the cluster's own workload. Reads the request rate the
//! agent recorded, trains a candidate from the model in service in the digital twin on the
//! older part of it (and seeded variations), judges candidate, current policy and HPA on
//! the most recent part, and promotes the candidate into the model store only if it is
//! cheaper at equal or better SLO compliance. Every verdict is appended to the store's
//! `decisions.jsonl` (except in a dry run, which leaves the store untouched).
//!
//! This file is the shell: arguments, files, clock and printing. The decisions are in
//! `crate::twin`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use common::rl::artifact::Algo;
use common::sim::SimConfig;
use serde::Serialize;

use crate::calibration::{CalibrationOptions, calibrate};
use crate::config::load_env_config;
use crate::experience::{ExperienceReader, Transition};
use crate::table;
use crate::twin::augment::{AugmentOptions, augment};
use crate::twin::gate::{DEFAULT_GATE_SEEDS, PolicyScore, Verdict, judge};
use crate::twin::offline::{OfflineSpec, fine_tune_offline, replayable};
use crate::twin::priority::{DEFAULT_NICE, lower_priority};
use crate::twin::recording::{
    DEFAULT_HELD_BACK_FRACTION, RateSample, RecordingOptions, RecordingSummary, sample_of,
    split_recording,
};
use crate::twin::retrain::{DEFAULT_EPISODE_S, RetrainSpec, train_candidate, twin_env};
use crate::twin::store::{DecisionRecord, Figures, ModelStore};

#[derive(Debug, Args)]
pub(crate) struct RetrainArgs {
    /// The experience directory the agent records into (`experience.dir` of `run`).
    #[arg(long)]
    experience: PathBuf,
    /// The model store: `current` and `previous` models and the decision log. Created if
    /// missing; while it holds no model, the current policy is the shipped default.
    #[arg(long)]
    store: PathBuf,
    /// Learner of the model in service: dqn, ppo, or hybrid (its DQN is retrained, its
    /// tuner kept).
    #[arg(long, value_enum)]
    algo: AlgoArg,
    /// The twin: an environment configuration whose `[sim]` is the calibrated cluster, as
    /// `edge-agent calibrate --out` writes it. Default: calibrate from the recording now,
    /// starting from `--config`.
    #[arg(long)]
    twin: Option<PathBuf>,
    /// Environment configuration the calibration starts from (what a recording cannot
    /// tell: replica bounds, price, SLO, memory limit). Default: the built-in defaults.
    #[arg(long, env = "EDGE_AGENT_CONFIG", conflicts_with = "twin")]
    config: Option<PathBuf>,
    /// The `rate()` window of the agent's queries, seconds (`prometheus.rate_window_s`
    /// of `run`), for the calibration.
    #[arg(long, default_value_t = 60, conflicts_with = "twin")]
    rate_window_s: u64,
    /// Environment steps (decisions) to train the candidate for.
    #[arg(long, default_value_t = 20_000)]
    timesteps: u64,
    /// Seed of training (learner, pod start-up jitter) and of the traffic variations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Share of recorded time, at its end, held back from training for the gate.
    #[arg(long, default_value_t = DEFAULT_HELD_BACK_FRACTION)]
    held_back: f64,
    /// Least recorded time to retrain on, e.g. 2h, 1d.
    #[arg(long, default_value = "2h")]
    min_recorded: String,
    /// Comma-separated seeds the gate plays the held-back traffic with.
    #[arg(long, default_value = "1,2,3")]
    gate_seeds: String,
    /// CPU niceness to train at (0 = normal priority, 19 = lowest); never lowered below
    /// the process's own.
    #[arg(long, default_value_t = DEFAULT_NICE, allow_negative_numbers = true)]
    nice: i32,
    /// After training in the twin, also fine-tune the candidate's DQN offline from the
    /// recorded transitions before the held-back slice: conservatively (learning rate
    /// 1e-5, a proximal term to the twin-trained weights, three passes), and only a DQN or
    /// a hybrid's DQN. Off by default: only actions the agent took are seen, rewards come
    /// from lagged metrics, and fallback decisions are learned as the policy's; the gate
    /// still judges the result.
    #[arg(long)]
    offline_dqn: bool,
    /// Judge the candidate and print the verdict, but change nothing in the store.
    #[arg(long)]
    dry_run: bool,
    /// Output format: an aligned table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgoArg {
    Dqn,
    Ppo,
    Hybrid,
}

impl From<AlgoArg> for Algo {
    fn from(a: AlgoArg) -> Self {
        match a {
            AlgoArg::Dqn => Algo::Dqn,
            AlgoArg::Ppo => Algo::Ppo,
            AlgoArg::Hybrid => Algo::Hybrid,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// What `--format json` prints.
#[derive(Debug, Serialize)]
struct Report<'a> {
    algo: &'static str,
    /// Where the current model came from: a store version or the shipped default.
    current_model: String,
    /// The twin's cluster: a file, or calibrated from the recording.
    twin: String,
    recording: RecordingSummary,
    training_s: u64,
    held_back_s: u64,
    training_series: Vec<String>,
    timesteps: u64,
    seed: u64,
    niceness: i32,
    /// Recorded transitions the candidate was fine-tuned on offline (`--offline-dqn`).
    offline_transitions: Option<usize>,
    dry_run: bool,
    promoted: bool,
    /// The store version the candidate became, when promoted.
    version: Option<String>,
    reason: &'a str,
    candidate: &'a PolicyScore,
    current: &'a PolicyScore,
    hpa: &'a PolicyScore,
}

/// The recorded request-rate samples of `dir`, oldest first.
fn read_samples(dir: &Path) -> anyhow::Result<Vec<RateSample>> {
    if !dir.is_dir() {
        bail!(
            "experience directory {} does not exist (or is not a directory); point --experience at the agent's `experience.dir`",
            dir.display()
        );
    }
    let mut samples = Vec::new();
    for t in ExperienceReader::open(dir)? {
        if let Some(s) = sample_of(&t?) {
            samples.push(s);
        }
    }
    Ok(samples)
}

/// The twin's cluster and where it came from: the file given, or the recording calibrated
/// now (refused, with what is missing, when the recording cannot pin it down).
fn load_twin(args: &RetrainArgs) -> anyhow::Result<(SimConfig, String)> {
    if let Some(path) = &args.twin {
        let env = load_env_config(Some(path)).context("--twin")?;
        return Ok((env.sim, path.display().to_string()));
    }
    let base = load_env_config(args.config.as_deref())?;
    let mut failure = None;
    let transitions = ExperienceReader::open(&args.experience)?
        .map_while(|r| r.map_err(|e| failure = Some(e)).ok());
    let opts = CalibrationOptions {
        rate_window_s: args.rate_window_s,
        ..CalibrationOptions::default()
    };
    let calibrated = calibrate(transitions, &base.sim, opts);
    if let Some(e) = failure {
        return Err(e).context("reading the recording to calibrate the twin");
    }
    let c = calibrated.context(
        "the twin cannot be calibrated from this recording (pass a calibrated --twin to retrain anyway)",
    )?;
    let source = format!(
        "calibrated from the recording: {:.1} req/s per pod, start-up {:.1} s",
        c.capacity.capacity_rps, c.startup.delay_s
    );
    Ok((c.sim, source))
}

fn parse_seeds(list: &str) -> anyhow::Result<Vec<u64>> {
    let seeds: Vec<u64> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .with_context(|| format!("--gate-seeds: `{s}` is not a whole number"))
        })
        .collect::<anyhow::Result<_>>()?;
    if seeds.is_empty() {
        bail!("--gate-seeds: at least one seed, e.g. {DEFAULT_GATE_SEEDS:?}");
    }
    Ok(seeds)
}

fn figures(s: &PolicyScore) -> Figures {
    Figures {
        cost: s.cost,
        slo_compliance: s.slo_compliance,
    }
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn run(args: &RetrainArgs) -> anyhow::Result<()> {
    // First, before any work and any other thread: training must yield to the workloads.
    let niceness = lower_priority(args.nice).context("--nice")?;
    let algo: Algo = args.algo.into();
    if !args.experience.is_dir() {
        bail!(
            "experience directory {} does not exist (or is not a directory); point --experience at the agent's `experience.dir`",
            args.experience.display()
        );
    }
    let (twin, twin_source) = load_twin(args)?;
    let seeds = parse_seeds(&args.gate_seeds)?;
    let min_recorded_s =
        common::traffic::parse_duration(&args.min_recorded).context("--min-recorded")?;
    let interval_s = u64::from(twin.decision_interval_s);
    let samples = read_samples(&args.experience)?;
    let recorded_until_s = samples.last().map(|s| s.at_s);
    let recording = split_recording(
        samples,
        &RecordingOptions {
            interval_s,
            max_gap_s: 4 * interval_s,
            held_back_fraction: args.held_back,
            min_recorded_s,
        },
    )
    .with_context(|| format!("recording in {}", args.experience.display()))?;
    let store = ModelStore::open(&args.store)?;
    let (source, current) = store.load_current(algo)?;
    tracing::info!(
        recorded_s = recording.summary.recorded_s,
        training_s = recording.training.len_s(),
        held_back_s = recording.held_back.len_s(),
        current = %source,
        twin = %twin_source,
        niceness,
        "retraining in the twin"
    );

    let series = augment(
        &recording.training,
        &AugmentOptions {
            seed: args.seed,
            ..AugmentOptions::default()
        },
    );
    let started = std::time::Instant::now();
    let candidate = train_candidate(
        &current,
        &twin,
        &series,
        &RetrainSpec {
            timesteps: args.timesteps,
            seed: args.seed,
            episode_s: DEFAULT_EPISODE_S,
        },
    )?;
    tracing::info!(
        timesteps = args.timesteps,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "candidate trained"
    );
    let (candidate, offline_transitions) = if args.offline_dqn {
        // Nothing from the held-back slice: the gate must judge on unseen traffic.
        let cut_s = recorded_until_s
            .unwrap_or(0)
            .saturating_sub(recording.held_back.len_s());
        let log: Vec<Transition> = ExperienceReader::open(&args.experience)?
            .filter(|t| {
                t.as_ref()
                    .map_or(true, |t| t.metrics.is_none_or(|m| m.timestamp_s < cut_s))
            })
            .collect::<Result<_, _>>()?;
        let env = twin_env(&candidate, &twin);
        let replayed = replayable(&log, &env.actions, &env.reward, env.sim.slo_s());
        let tuned = fine_tune_offline(
            &candidate,
            &replayed,
            &OfflineSpec {
                seed: args.seed,
                ..OfflineSpec::default()
            },
        )
        .context("--offline-dqn")?;
        tracing::info!(
            transitions = replayed.len(),
            "candidate fine-tuned offline from recorded transitions"
        );
        (tuned, Some(replayed.len()))
    } else {
        (candidate, None)
    };
    let verdict: Verdict = judge(
        &twin_env(&current, &twin),
        &recording.held_back,
        &candidate,
        &current,
        &seeds,
    )?;

    let promote = verdict.promote && !args.dry_run;
    let version = if promote {
        Some(store.promote(&candidate)?)
    } else {
        None
    };
    let reason = if args.dry_run && verdict.promote {
        format!("{} (dry run: not promoted)", verdict.reason)
    } else {
        verdict.reason.clone()
    };
    if !args.dry_run {
        store.append_decision(&DecisionRecord {
            at_s: unix_now_s(),
            algo,
            candidate: figures(&verdict.candidate),
            current: figures(&verdict.current),
            hpa: figures(&verdict.hpa),
            promoted: promote,
            version: version.clone(),
            reason: reason.clone(),
            recorded_until_s,
        })?;
    }

    match args.format {
        Format::Json => {
            let report = Report {
                algo: algo.name(),
                current_model: source.to_string(),
                twin: twin_source.clone(),
                recording: recording.summary,
                training_s: recording.training.len_s(),
                held_back_s: recording.held_back.len_s(),
                training_series: series.iter().map(|s| s.name().to_owned()).collect(),
                timesteps: args.timesteps,
                seed: args.seed,
                niceness,
                offline_transitions,
                dry_run: args.dry_run,
                promoted: promote,
                version,
                reason: &reason,
                candidate: &verdict.candidate,
                current: &verdict.current,
                hpa: &verdict.hpa,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Table => {
            println!(
                "held-back traffic: the last {} s of {} s recorded; current model: {source}\ntwin: {twin_source}",
                recording.held_back.len_s(),
                recording.summary.recorded_s
            );
            print!("{}", table::render(&verdict.rows()));
            let outcome = match (&version, args.dry_run) {
                (Some(v), _) => format!(
                    "PROMOTED as {}",
                    store.dir().join("versions").join(v).display()
                ),
                (None, true) => "NOT PROMOTED (dry run)".to_owned(),
                (None, false) => "NOT PROMOTED".to_owned(),
            };
            println!("verdict: {outcome}\nreason: {reason}");
        }
    }
    Ok(())
}
