//! `edge-agent train`: train a DQN, PPO or hybrid policy on the simulator and write a model
//! directory.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use common::rl::artifact::{Algo, Manifest, TrainConfig, TrainedModel, TrainedNetwork};
use common::rl::device::backend_name;
use common::rl::dqn::{EpisodeStats, train_dqn};
use common::rl::episodes::EpisodeCycle;
use common::rl::fleet_model::architecture;
use common::rl::hybrid::train_hybrid;
use common::rl::ppo::train_ppo;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use indicatif::{ProgressBar, ProgressStyle};

use crate::curve;

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Learner: dqn (double DQN), ppo, or hybrid (a DQN whose reward weight and replica
    /// floor a PPO tuner sets once per simulated hour; configured by [dqn] and [hybrid]).
    #[arg(long, value_enum)]
    algo: AlgoArg,
    /// Training configuration (TOML: [training], [env.*], [dqn], [ppo], [hybrid]); every key is
    /// optional and defaults to the seed's hyperparameters. Unknown keys are refused.
    #[arg(long, env = "EDGE_AGENT_TRAIN_CONFIG")]
    config: Option<PathBuf>,
    /// Environment steps (15 s decisions) to train for; overrides training.timesteps.
    #[arg(long)]
    timesteps: Option<u64>,
    /// Comma-separated training scenarios (as for `evaluate`); overrides training.scenarios.
    #[arg(long)]
    scenario: Option<String>,
    /// Seed of the learner and the training traffic; overrides training.seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory to write the model, its configuration and its training curve into.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgoArg {
    Dqn,
    Ppo,
    Hybrid,
}

fn load_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut cfg: TrainConfig = match &args.config {
        None => TrainConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("invalid configuration in {}", path.display()))?
        }
    };
    if let Some(t) = args.timesteps {
        cfg.training.timesteps = t;
    }
    if let Some(s) = &args.scenario {
        cfg.training.scenarios = s
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect();
    }
    if let Some(seed) = args.seed {
        cfg.training.seed = seed;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Recent episode returns, for the progress line.
#[derive(Debug, Default)]
struct Recent(VecDeque<f64>);

impl Recent {
    fn mean(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.iter().sum::<f64>() / self.0.len() as f64)
    }
}

pub(crate) fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = load_config(args)?;
    let algo = match args.algo {
        AlgoArg::Dqn => Algo::Dqn,
        AlgoArg::Ppo => Algo::Ppo,
        AlgoArg::Hybrid => Algo::Hybrid,
    };
    let specs = ScenarioSpec::parse_list(&cfg.training.scenarios.join(","))
        .context("training.scenarios")?;
    let scenarios = specs
        .iter()
        .map(|s| {
            Scenario::build(s, &ScenarioOptions::default(), &cfg.env.sim)
                .with_context(|| format!("scenario {s}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut episodes = EpisodeCycle::new(cfg.env.clone(), scenarios, cfg.training.seed)?;
    let actions = cfg.env.actions.len();
    let timesteps = cfg.training.timesteps;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;

    let bar = ProgressBar::new(timesteps);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}")
            .expect("static template"),
    );
    let started = Instant::now();
    let log_every = (timesteps / 20).max(1);
    let mut recent = Recent::default();
    let mut seen = 0;
    let mut progress = |steps: u64, stats: &[EpisodeStats], extra: String| {
        for s in &stats[seen..] {
            if recent.0.len() == 10 {
                recent.0.pop_front();
            }
            recent.0.push_back(s.episode_return);
        }
        seen = stats.len();
        if steps.is_multiple_of(256) {
            bar.set_position(steps);
            let ret = recent
                .mean()
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.2}"));
            bar.set_message(format!("return(last 10) {ret}  {extra}"));
        }
        // Without a terminal the bar is hidden: log a line every 5 % instead, so a run
        // under CI or nohup still shows it is alive and learning.
        if bar.is_hidden() && steps.is_multiple_of(log_every) {
            let ret = recent
                .mean()
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.2}"));
            let rate = steps as f64 / started.elapsed().as_secs_f64();
            tracing::info!(
                steps,
                steps_per_second = format!("{rate:.0}"),
                recent_return = ret,
                "{extra}"
            );
        }
    };
    let (network, stats) = match algo {
        Algo::Dqn => {
            let (learner, stats) = train_dqn(
                cfg.dqn.clone(),
                &mut episodes,
                actions,
                timesteps,
                cfg.training.seed,
                |l, s| progress(l.steps(), s, format!("ε {:.2}", l.epsilon())),
            );
            (TrainedNetwork::Dqn(learner.network()), stats)
        }
        Algo::Ppo => {
            let (learner, stats) = train_ppo(
                cfg.ppo.clone(),
                &mut episodes,
                actions,
                timesteps,
                cfg.training.seed,
                |l, s| {
                    let extra = l.last_update().map_or_else(String::new, |u| {
                        format!("entropy {:.2}  kl {:.4}", u.entropy, u.approx_kl)
                    });
                    progress(l.steps(), s, extra)
                },
            );
            (TrainedNetwork::Ppo(learner.network()), stats)
        }
        Algo::Hybrid => {
            let (learner, stats) = train_hybrid(
                cfg.dqn.clone(),
                cfg.hybrid.clone(),
                &mut episodes,
                timesteps,
                cfg.training.seed,
                |l, s| {
                    let o = l.outputs();
                    let extra = format!(
                        "ε {:.2}  latency×{:.2}  u* {:.2}  tuner updates {}",
                        l.dqn().epsilon(),
                        o.latency_weight_multiplier,
                        o.utilization_target,
                        l.tuner().updates()
                    );
                    progress(l.steps(), s, extra)
                },
            );
            (TrainedNetwork::Hybrid(Box::new(learner.network())), stats)
        }
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();

    // The manifest describes the network a fleet would federate (a hybrid's DQN).
    let arch = architecture(algo, &cfg);
    let layers = arch.layers.iter().map(|&l| l as usize).collect();
    let parameter_count = usize::try_from(arch.parameter_count)?;
    let model = TrainedModel {
        network,
        actions: cfg.env.actions.clone(),
        manifest: Manifest {
            algo,
            layers,
            parameter_count,
            timesteps,
            seed: cfg.training.seed,
            backend: backend_name().to_owned(),
            trained_by: format!("edge-agent {}", env!("CARGO_PKG_VERSION")),
        },
        config: cfg,
    };
    model.save(&args.out)?;
    curve::write(&args.out, &stats)?;
    tracing::info!(
        out = %args.out.display(),
        algo = algo.name(),
        timesteps,
        episodes = stats.len(),
        seconds = format!("{elapsed:.1}"),
        steps_per_second = format!("{:.0}", timesteps as f64 / elapsed),
        "training finished"
    );
    Ok(())
}
