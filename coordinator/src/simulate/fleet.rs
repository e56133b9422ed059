//! The federated half of the simulation: a coordinator and one edge agent per cluster, all
//! in this process but talking over real QUIC with mutual TLS on loopback, with a
//! development PKI minted for the run. Nothing here is simulated except the clusters'
//! traffic: the agents train on their own simulators and federate exactly as deployed
//! agents would.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use common::proto::ModelArchitecture;
use common::rl::artifact::{Algo, TrainConfig};
use common::transport::TransportSettings;
use common::transport::certs::DevCa;
use edge_agent::federation::{
    BackoffConfig, FederationClient, FederationConfig, LocalTrainer, PayloadForm,
};
use tokio::sync::broadcast::error::RecvError;

use super::workloads::Cluster;
use crate::aggregate::round::AggregationConfig;
use crate::aggregate::strategy::Strategy;
use crate::registry::store::Registry;
use crate::round::{RoundPolicy, RoundSummary};
use crate::server::{Coordinator, CoordinatorOptions, Event, ServerLimits};

/// What the federated run is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct FleetSpec {
    /// The learner every agent runs.
    pub(crate) algo: Algo,
    /// The agents' training configuration (scenarios and seed are set per cluster).
    pub(crate) cfg: TrainConfig,
    /// The fleet's model shape.
    pub(crate) architecture: ModelArchitecture,
    /// Global version 1.
    pub(crate) initial_weights: Vec<f32>,
    /// Rounds to run.
    pub(crate) rounds: u64,
    /// Environment steps each agent trains per round.
    pub(crate) budget: u64,
    /// How updates are combined.
    pub(crate) strategy: Strategy,
    /// What the agents' updates carry.
    pub(crate) payload: PayloadForm,
    /// Where the coordinator keeps its versions.
    pub(crate) registry: PathBuf,
    /// Seed of sampling and of every agent's training.
    pub(crate) seed: u64,
}

/// What the federated run produced.
#[derive(Debug, Clone)]
pub(crate) struct FleetOutcome {
    /// The last published global model.
    pub(crate) version: u64,
    /// Its weights.
    pub(crate) weights: Vec<f32>,
}

/// The training configuration of `cluster`'s agent: its own traffic, its own seed, and
/// the whole run's step count so DQN's exploration decays over the run, not one round.
pub(crate) fn agent_config(
    base: &TrainConfig,
    cluster_index: usize,
    rounds: u64,
    budget: u64,
    seed: u64,
) -> TrainConfig {
    let mut cfg = base.clone();
    cfg.training.timesteps = rounds.saturating_mul(budget).max(1);
    cfg.training.seed = seed
        .wrapping_mul(1_000)
        .wrapping_add(cluster_index as u64 + 1);
    cfg
}

/// Runs the federation to its last round, calling `on_round` as each closes.
pub(crate) async fn run(
    spec: FleetSpec,
    clusters: &[Cluster],
    mut on_round: impl FnMut(&RoundSummary),
) -> anyhow::Result<FleetOutcome> {
    let ca = DevCa::generate().context("cannot mint the simulation's CA")?;
    let server_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let server_cert = ca
        .issue_server(&server_names)
        .context("cannot mint the coordinator's certificate")?;
    let transport = TransportSettings::default();
    let rounds = RoundPolicy {
        participation: 1.0,
        min_agents: clusters.len(),
        quorum: 1.0,
        grace: Duration::ZERO,
        // Generous: local training shares the CPU with every other agent, and a round
        // that closes on its deadline only loses the slow agents' updates.
        deadline: Duration::from_secs(600),
        budget_env_steps: spec.budget,
        interval: Duration::ZERO,
        max_rounds: Some(spec.rounds),
    };
    let options = CoordinatorOptions {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        registry: spec.registry.clone(),
        architecture: spec.architecture.clone(),
        initial_weights: spec.initial_weights.clone(),
        aggregation: AggregationConfig {
            strategy: spec.strategy,
            clip_norm: None,
        },
        rounds,
        transport,
        limits: ServerLimits::default(),
        seed: spec.seed,
    };
    let coordinator = Coordinator::start(options, &ca.fleet_ca(), &server_cert.credentials())
        .await
        .context("cannot start the coordinator")?;
    let mut events = coordinator.events();
    let address = coordinator.local_addr().to_string();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut agents = Vec::with_capacity(clusters.len());
    for (i, cluster) in clusters.iter().enumerate() {
        let cert = ca
            .issue_client(&cluster.id)
            .with_context(|| format!("cannot mint {}'s certificate", cluster.id))?;
        let cfg = agent_config(&spec.cfg, i, spec.rounds, spec.budget, spec.seed);
        let trainer = LocalTrainer::with_scenarios(
            spec.algo,
            cfg,
            vec![cluster.scenario.clone()],
            spec.payload,
        )
        .with_context(|| format!("cannot set up {}'s trainer", cluster.id))?;
        let config = FederationConfig {
            coordinator: address.clone(),
            server_name: "localhost".to_owned(),
            cluster_id: cluster.id.clone(),
            workload_tags: vec![cluster.workload.clone()],
            backoff: BackoffConfig::default(),
            backoff_seed: spec.seed.wrapping_add(i as u64),
            transport,
        };
        let client = FederationClient::new(config, cert.credentials(), ca.fleet_ca(), trainer)
            .with_context(|| format!("cannot set up {}'s federation client", cluster.id))?;
        let mut stopped = stopped.clone();
        agents.push(tokio::spawn(client.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }

    let finished = loop {
        match events.recv().await {
            Ok(Event::RoundClosed(summary)) => on_round(&summary),
            Ok(Event::Finished) => break Ok(()),
            Ok(Event::AgentRefused { cluster_id, reason }) => {
                break Err(anyhow::anyhow!(
                    "the coordinator refused {cluster_id}: {reason}"
                ));
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "progress display fell behind the coordinator");
            }
            Err(RecvError::Closed) => {
                break Err(anyhow::anyhow!(
                    "the coordinator stopped before its last round"
                ));
            }
        }
    };
    let _ = stop.send(true);
    for agent in agents {
        match agent.await {
            Ok(Ok(_trainer)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "an agent ended with an error"),
            Err(e) => tracing::warn!(error = %e, "an agent task failed"),
        }
    }
    let version = coordinator.current_version();
    coordinator.shutdown().await;
    finished?;

    let registry = Registry::inspect(&spec.registry)?;
    let weights = registry.load_weights(version)?;
    Ok(FleetOutcome { version, weights })
}
