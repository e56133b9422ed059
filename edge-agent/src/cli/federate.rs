//! `edge-agent federate`: take part in federated training while autoscaling a simulated
//! cluster with the newest global model (the HPA rule until the first one arrives, the
//! last good one while the coordinator is unreachable).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use common::proto::GlobalModel;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::federate_config::FederateConfig;
use crate::federation::{ClientStats, FederationClient, LocalTrainer};
use crate::simulated_cluster::{DecidedBy, SimulatedCluster};

#[derive(Debug, Args)]
pub(crate) struct FederateArgs {
    /// The agent's configuration (TOML); `edge-agent default-federate-config` prints every
    /// key with its default. Only `cluster_id` is required.
    #[arg(long, env = "EDGE_AGENT_FEDERATE_CONFIG")]
    config: PathBuf,
    /// Stop after this many autoscaling decisions instead of running until Ctrl-C.
    #[arg(long)]
    intervals: Option<u64>,
}

pub(crate) fn run(args: &FederateArgs) -> anyhow::Result<()> {
    let cfg = FederateConfig::load(&args.config)?;
    let train = cfg.train_config();
    let trainer =
        LocalTrainer::new(cfg.algo, train.clone(), cfg.payload).context("local training set-up")?;
    let cluster = SimulatedCluster::new(
        cfg.algo,
        train,
        cfg.autoscale_scenarios()?,
        cfg.autoscale.seed,
        cfg.hpa.clone(),
    )?;
    let (ca, credentials) = cfg.load_tls()?;
    let client = FederationClient::new(cfg.federation_config()?, credentials, ca, trainer)?;
    tracing::info!(
        cluster = %cfg.cluster_id,
        coordinator = %cfg.coordinator.address,
        algo = cfg.algo.name(),
        parameters = client.hello().architecture.parameter_count,
        "starting the federated agent"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(federate(&cfg, client, cluster, args.intervals))
}

async fn federate(
    cfg: &FederateConfig,
    client: FederationClient,
    cluster: SimulatedCluster,
    intervals: Option<u64>,
) -> anyhow::Result<()> {
    let model = client.model();
    let stats = client.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(client.run(async move {
        let _ = stopped.await;
    }));
    let pace =
        Duration::from_secs_f64(f64::from(cfg.env.sim.decision_interval_s) / cfg.autoscale.speedup);
    tokio::select! {
        () = autoscale(cluster, model, stats, pace, cfg.autoscale.log_every, intervals) => {}
        signal = tokio::signal::ctrl_c() => {
            signal.context("cannot listen for Ctrl-C")?;
            tracing::info!("interrupted; shutting down");
        }
    }
    let _ = stop.send(());
    let trainer = agent.await.context("the federation client task failed")??;
    tracing::info!(rounds_trained = trainer.rounds(), "federated agent stopped");
    Ok(())
}

/// Steps the simulated cluster at `pace`, `intervals` times or forever, with whatever
/// model the client holds at each decision.
async fn autoscale(
    mut cluster: SimulatedCluster,
    model: watch::Receiver<Option<Arc<GlobalModel>>>,
    stats: watch::Receiver<ClientStats>,
    pace: Duration,
    log_every: u64,
    intervals: Option<u64>,
) {
    let mut ticker = tokio::time::interval(pace);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut done = 0u64;
    while intervals.is_none_or(|n| done < n) {
        ticker.tick().await;
        // Clone the Arc out so the channel is not borrowed across the step.
        let current = model.borrow().clone();
        let decision = cluster.step(current.as_ref());
        done += 1;
        if done.is_multiple_of(log_every) || intervals == Some(done) {
            let meter = cluster.take_meter();
            let s = stats.borrow().clone();
            let policy = match decision.decided_by {
                DecidedBy::Model(v) => format!("global-v{v}"),
                DecidedBy::Hpa => "hpa (no model yet)".to_owned(),
            };
            tracing::info!(
                decisions = done,
                scenario = %decision.scenario,
                sim_time_s = decision.now_s,
                policy,
                replicas = decision.replicas,
                p95_ms = format!("{:.0}", decision.p95_s * 1000.0),
                window = meter.intervals(),
                slo_compliance = format!("{:.3}", meter.slo_compliance()),
                cost = format!("{:.4}", meter.cost(&cluster.config().env.sim)),
                connected = s.connected,
                rounds_joined = s.rounds_joined,
                updates_sent = s.updates_sent,
                "autoscaling"
            );
        }
    }
}
