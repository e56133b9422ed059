//! `coordinator simulate`: the whole system on one machine, with no Kubernetes. A
//! coordinator and one edge agent per simulated cluster run as real peers on loopback
//! (QUIC, mutual TLS, a PKI minted for the run), each cluster serving different traffic;
//! the agents train locally on their clusters' simulators and federate for a number of
//! rounds. Then the run answers the two questions federation exists for:
//!
//! - does the federated model serve each cluster better than the same agent trained
//!   alone on the same budget? Every cluster's held-out episodes are played by the
//!   federated model, the lone agent's model, the HPA and the clairvoyant oracle;
//! - does a new workload get to HPA-level cost sooner from the global model than from
//!   scratch? A pattern no cluster trained on is raced both ways.
//!
//! Everything is seeded: the same command gives the same training and the same tables,
//! up to the order in which concurrent agents' updates reach the coordinator (FedAvg
//! sums in arrival order, so the last bits of the weights can differ between runs).

mod fleet;
mod report;
mod solo;
mod workloads;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::defaults;
use common::rl::fleet_model::{architecture, fresh_weights, network_weights};
use common::rl::transfer::{
    Exploration, RaceSpec, Score, Start, Workload, evaluate_hpa, evaluate_oracle, evaluate_weights,
    steps_to_reach,
};
use edge_agent::federation::PayloadForm;

use crate::aggregate::strategy::Strategy;
pub(crate) use report::Report;
use report::{ClusterRow, PolicyScores, RoundRow, Settings, Timings, TransferRow, mean};
use workloads::Cluster;

/// Where the fleet's first global model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StartModel {
    /// Freshly initialised weights: shows what federation learns from nothing.
    Fresh,
    /// The shipped trained model: shows federation refining a good policy.
    Shipped,
}

/// Everything a simulation run is configured by.
#[derive(Debug, Clone)]
pub(crate) struct SimulationSpec {
    pub(crate) clusters: usize,
    pub(crate) rounds: u64,
    pub(crate) budget: u64,
    pub(crate) algo: Algo,
    pub(crate) start: StartModel,
    pub(crate) strategy: Strategy,
    pub(crate) seed: u64,
    pub(crate) eval_seeds: Vec<u64>,
    pub(crate) holdout: String,
    /// Steps each transfer racer may train; 0 skips the race.
    pub(crate) transfer_budget: u64,
    pub(crate) transfer_eval_every: u64,
    /// Fine-tune only the head of the global model in the race.
    pub(crate) transfer_freeze: bool,
    /// Skip training the agents alone.
    pub(crate) skip_alone: bool,
    /// FedProx's μ for the federated agents (DQN); 0 is plain FedAvg.
    pub(crate) proximal_mu: f64,
    /// What the federated agents' updates carry.
    pub(crate) payload: PayloadForm,
    pub(crate) registry: PathBuf,
}

/// How far the run has got, for a progress display.
#[derive(Debug, Clone)]
pub(crate) enum Progress<'a> {
    /// A federated round closed.
    Round(&'a RoundRow),
    /// One of the lone agents finished a local round.
    Alone,
    /// A new phase started.
    Phase(&'static str),
}

/// Runs the simulation. `progress` hears about every round and phase.
pub(crate) fn run(
    spec: &SimulationSpec,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        spec.proximal_mu == 0.0 || spec.algo != Algo::Ppo,
        "--proximal-mu applies to DQN agents (and a hybrid's DQN); PPO agents have no proximal term"
    );
    let cfg = TrainConfig::default();
    let clusters = workloads::fleet(spec.clusters, &spec.holdout, &cfg.env.sim)?;
    let holdout = workloads::scenario(&spec.holdout, &cfg.env.sim)?;
    let arch = architecture(spec.algo, &cfg);
    // The workloads the first global model has already trained on: a transfer to one
    // of them is no transfer to a new workload, and the report says so.
    let (initial, seen_by_start) = match spec.start {
        StartModel::Fresh => (fresh_weights(spec.algo, &cfg, spec.seed), Vec::new()),
        StartModel::Shipped => {
            let shipped = defaults::load(spec.algo).context("the shipped model")?;
            (
                network_weights(&shipped.network),
                shipped.config.training.scenarios,
            )
        }
    };
    let mut seconds = Timings::default();

    progress(Progress::Phase("federated training"));
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut fleet_cfg = cfg.clone();
    fleet_cfg.dqn.proximal_mu = spec.proximal_mu;
    let fleet_spec = fleet::FleetSpec {
        algo: spec.algo,
        cfg: fleet_cfg,
        architecture: arch,
        initial_weights: initial.clone(),
        rounds: spec.rounds,
        budget: spec.budget,
        strategy: spec.strategy,
        payload: spec.payload,
        registry: spec.registry.clone(),
        seed: spec.seed,
    };
    let mut round_rows = Vec::new();
    let outcome = runtime.block_on(fleet::run(fleet_spec, &clusters, |summary| {
        let row = RoundRow {
            round: summary.round,
            version: summary.version,
            participants: summary.participants,
            accepted: summary.accepted,
            local_cost: summary.metrics.map(|m| m.cost),
            local_slo_compliance: summary.metrics.map(|m| m.slo_compliance),
            seconds: summary.duration.as_secs_f64(),
        };
        progress(Progress::Round(&row));
        round_rows.push(row);
    }))?;
    drop(runtime);
    seconds.federation = started.elapsed().as_secs_f64();

    let configs: Vec<TrainConfig> = (0..clusters.len())
        .map(|i| fleet::agent_config(&cfg, i, spec.rounds, spec.budget, spec.seed))
        .collect();
    let alone = if spec.skip_alone {
        None
    } else {
        progress(Progress::Phase("training each agent alone"));
        let started = Instant::now();
        let weights = solo::train_alone(
            spec.algo,
            &configs,
            &clusters,
            &initial,
            spec.rounds,
            spec.budget,
            &|| progress(Progress::Alone),
        )?;
        seconds.alone = started.elapsed().as_secs_f64();
        Some(weights)
    };

    progress(Progress::Phase("evaluating on held-out episodes"));
    let started = Instant::now();
    let rows = clusters
        .iter()
        .enumerate()
        .map(|(i, cluster)| {
            let scores = judge(
                spec,
                &cfg,
                cluster,
                &outcome.weights,
                alone.as_ref().map(|a| a[i].as_slice()),
            )?;
            Ok(ClusterRow {
                cluster: cluster.id.to_string(),
                workload: cluster.workload.clone(),
                scores,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    seconds.evaluation = started.elapsed().as_secs_f64();
    let fleet_mean = fleet_mean(&rows).context("no cluster to average over")?;

    let transfer = if spec.transfer_budget == 0 {
        None
    } else {
        progress(Progress::Phase("transfer race on the held-out workload"));
        let started = Instant::now();
        let race = |start: Start<'_>| {
            let race_spec = RaceSpec {
                training: vec![holdout.clone()],
                evaluation: Workload {
                    scenarios: vec![holdout.clone()],
                    seeds: spec.eval_seeds.clone(),
                },
                budget: spec.transfer_budget,
                eval_every: spec.transfer_eval_every,
                slo_tolerance: 0.01,
                seed: spec.seed.wrapping_add(7_919),
                stop_when_reached: false,
            };
            steps_to_reach(spec.algo, &cfg, &start, &race_spec)
        };
        let tuned = race(Start::Base {
            weights: &outcome.weights,
            freeze: spec.transfer_freeze,
            exploration: Exploration::FINE_TUNE,
        })?;
        let scratch = race(Start::Scratch)?;
        seconds.transfer = started.elapsed().as_secs_f64();
        let curve = |r: &common::rl::transfer::Race| {
            r.curve
                .iter()
                .map(|p| (p.steps, p.score.cost, p.score.slo_compliance))
                .collect()
        };
        Some(TransferRow {
            workload: spec.holdout.clone(),
            seen_by_start: seen_by_start.contains(&spec.holdout),
            budget: spec.transfer_budget,
            eval_every: spec.transfer_eval_every,
            hpa: tuned.hpa,
            frozen_extractor: spec.transfer_freeze,
            fine_tuned_steps: tuned.reached_at,
            scratch_steps: scratch.reached_at,
            fine_tuned_curve: curve(&tuned),
            scratch_curve: curve(&scratch),
        })
    };

    Ok(Report {
        settings: Settings {
            algo: spec.algo.name().to_owned(),
            clusters: spec.clusters,
            rounds: spec.rounds,
            budget_per_round: spec.budget,
            start: format!("{:?}", spec.start).to_lowercase(),
            strategy: spec.strategy.to_string(),
            proximal_mu: spec.proximal_mu,
            update_precision: match spec.payload {
                PayloadForm::HalfDelta => "f16",
                PayloadForm::Delta | PayloadForm::Weights => "f32",
            }
            .to_owned(),
            seed: spec.seed,
            eval_seeds: spec.eval_seeds.clone(),
            final_version: outcome.version,
        },
        rounds: round_rows,
        clusters: rows,
        fleet_mean,
        transfer,
        seconds,
    })
}

/// Plays each policy on `cluster`'s held-out episodes.
fn judge(
    spec: &SimulationSpec,
    cfg: &TrainConfig,
    cluster: &Cluster,
    federated: &[f32],
    alone: Option<&[f32]>,
) -> anyhow::Result<PolicyScores> {
    let workload = Workload {
        scenarios: vec![cluster.scenario.clone()],
        seeds: spec.eval_seeds.clone(),
    };
    let learned = |w: &[f32]| evaluate_weights(spec.algo, cfg, w, &workload);
    Ok(PolicyScores {
        federated: learned(federated)?,
        alone: alone.map(learned).transpose()?,
        hpa: evaluate_hpa(&cfg.env, &workload)?,
        oracle: evaluate_oracle(&cfg.env, &workload)?,
    })
}

fn fleet_mean(rows: &[ClusterRow]) -> Option<PolicyScores> {
    let pick = |f: fn(&PolicyScores) -> Option<Score>| {
        let all: Option<Vec<Score>> = rows.iter().map(|r| f(&r.scores)).collect();
        all.and_then(mean)
    };
    Some(PolicyScores {
        federated: pick(|s| Some(s.federated))?,
        alone: pick(|s| s.alone),
        hpa: pick(|s| Some(s.hpa))?,
        oracle: pick(|s| Some(s.oracle))?,
    })
}
