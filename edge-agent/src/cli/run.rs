//! `edge-agent run`: the control loop on a real cluster. Builds the policy, the safety
//! layer, the Prometheus source, the Kubernetes actuator, the experience log, the
//! `/metrics` endpoint and (when enabled) the leader election from the configuration file,
//! then runs [`ControlLoop`] until SIGTERM or Ctrl-C, finishing the step under way before
//! it exits and only then handing the Lease over.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use common::env::EnvConfig;
use common::policy::Hpa;
use common::rl::policy::LearnedPolicy;
use common::scorecard::PolicyName;
use tracing::{info, warn};

use crate::actuator::{KubeActuator, client_from_kubeconfig, infer_client, user_agent};
use crate::control::envelope::replay_envelope;
use crate::control::global_models::GlobalModels;
use crate::control::shell::{ControlLoop, unix_now_s};
use crate::control::step::{ControlStep, Decider};
use crate::control::store_models::StoreModels;
use crate::experience::Recorder;
use crate::federate_config::FederateConfig;
use crate::federation::{FederationClient, LocalTrainer};
use crate::leader::task::{LeaderTask, LeaseLocation};
use crate::metrics::PrometheusSource;
use crate::model_source::load_model;
use crate::observe::health::Health;
use crate::observe::metrics::AgentMetrics;
use crate::observe::server::{Observed, bind, serve};
use crate::run_config::RunConfig;
use crate::safety::envelope::TrainingEnvelope;
use crate::safety::layer::SafetyLayer;
use crate::twin::federated::{TwinSpec, keep_twin_fresh};
use crate::twin::gate::DEFAULT_GATE_SEEDS;
use crate::twin::global_gate::GlobalGate;
use crate::twin::timer::RetrainTimer;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML). `edge-agent default-run-config` prints every key
    /// with its default; unknown keys are refused.
    #[arg(long, env = "EDGE_AGENT_CONFIG")]
    config: PathBuf,
    /// Decide and record but never write, whatever `safety.shadow_mode` says: for running
    /// the agent beside the autoscaler that is really in charge.
    #[arg(long)]
    shadow: bool,
}

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<()> {
    let mut cfg = RunConfig::load(&args.config)?;
    if args.shadow {
        cfg.safety.shadow_mode = true;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_loop(cfg))
}

/// The decider `policy.model` names, and the workload model its observations are
/// normalised by: the one it was trained in (the HPA reads raw metrics, so the default).
/// The policy the loop starts with, and what goes with it.
struct Chosen {
    decider: Decider,
    /// The workload model observations are normalised by.
    sim: common::sim::SimConfig,
    label: String,
    envelope: Option<TrainingEnvelope>,
    /// The model store to watch, with `[twin] store`.
    store: Option<StoreModels>,
}

fn decider(cfg: &RunConfig) -> anyhow::Result<Chosen> {
    Ok(match cfg.policy_name()? {
        PolicyName::Learned(algo, dir) => {
            // With a model store, its `current` decides; `policy.model` while it has none.
            let promoted = match &cfg.twin.store {
                Some(store) => StoreModels::load_current(store, algo)
                    .with_context(|| format!("twin.store {}", store.display()))?,
                None => None,
            };
            let store = cfg.twin.store.as_ref().map(|store| {
                StoreModels::new(
                    store,
                    algo,
                    dir.clone(),
                    promoted.as_ref().map(|(version, ..)| version.clone()),
                )
            });
            let version = promoted
                .as_ref()
                .and_then(|(dir, ..)| crate::twin::store::version_number_of(dir))
                .unwrap_or(0);
            let (label, model) = match promoted {
                Some((_, label, model)) => (label, model),
                None => load_model(algo, dir.as_deref())?,
            };
            let sim = model.config.env.sim.clone();
            let envelope = match replay_envelope(&model) {
                Ok(e) => Some(e),
                Err(why) => {
                    warn!(
                        policy = %label,
                        "no training envelope ({why}): the out-of-distribution check is off"
                    );
                    None
                }
            };
            let decider = Decider::Learned {
                policy: Box::new(LearnedPolicy::new(label.clone(), model)),
                version,
                dqn_temperature: cfg.policy.dqn_confidence_temperature,
            };
            Chosen {
                decider,
                sim,
                label,
                envelope,
                store,
            }
        }
        _ => Chosen {
            decider: Decider::Baseline(Box::new(Hpa::new(cfg.safety.fallback.clone()))),
            sim: EnvConfig::default().sim,
            label: "hpa".to_owned(),
            envelope: None,
            store: None,
        },
    })
}

async fn run_loop(cfg: RunConfig) -> anyhow::Result<()> {
    let Chosen {
        decider,
        sim,
        label,
        envelope,
        store,
    } = decider(&cfg)?;
    let mut safety = SafetyLayer::new(cfg.safety.clone())
        .map_err(|e| anyhow::anyhow!("safety.{}: {}", e.field, e.reason))?;
    safety.set_envelope(envelope);
    let step = ControlStep::new(sim, decider, safety);

    let metrics = PrometheusSource::new(&cfg.prometheus, &cfg.metrics_target())?;
    let timeout = Duration::from_secs_f64(cfg.target.request_timeout_s);
    let election = cfg.leader_election()?;
    let agent = user_agent(election.as_ref().map(|e| e.election.identity.as_str()));
    let client = match &cfg.target.kubeconfig {
        Some(path) => client_from_kubeconfig(path, cfg.target.context.as_deref(), &agent).await?,
        None => infer_client(&agent).await?,
    };
    let actuator = KubeActuator::new(
        client.clone(),
        cfg.target.namespace.clone(),
        cfg.target.deployment.clone(),
        timeout,
    );

    // A full disk does not stop the agent: it decides without recording until there is
    // room (see `Recorder`).
    let experience = Recorder::open(&cfg.experience.dir, cfg.experience.retention())?;

    // A step is stalled when it has not finished within three intervals plus the time its
    // two reads may take.
    let stall_after_s =
        (3.0 * cfg.interval_s + cfg.prometheus.timeout_s + cfg.target.request_timeout_s).ceil()
            as u64
            + 30;
    let observed = Observed {
        metrics: Arc::new(AgentMetrics::new()),
        health: Arc::new(Health::new(unix_now_s(), stall_after_s)),
    };
    let listener = bind(cfg.observability.listen).await?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, observed.clone(), async {
        let _ = server_stopped.await;
    }));

    info!(
        namespace = %cfg.target.namespace,
        deployment = %cfg.target.deployment,
        policy = %label,
        prometheus = %cfg.prometheus.url,
        interval_s = cfg.interval_s,
        shadow = cfg.safety.shadow_mode,
        listen = %cfg.observability.listen,
        "control loop starting"
    );
    let control = ControlLoop::new(
        step,
        metrics,
        actuator,
        experience,
        observed.clone(),
        Duration::from_secs_f64(cfg.interval_s),
    );
    let control = match store {
        Some(store) => control.with_model_store(store),
        None => control,
    };
    let (control, leader) = match election {
        None => {
            observed.metrics.set_leader(true);
            (control, None)
        }
        Some(le) => {
            info!(
                namespace = %le.namespace,
                lease = %le.lease_name,
                identity = %le.election.identity,
                "leader election on: writing only while holding the Lease"
            );
            let (task, gate) = LeaderTask::new(
                client,
                LeaseLocation {
                    namespace: le.namespace,
                    name: le.lease_name,
                    timeout,
                },
                le.election,
                timeout,
                Arc::clone(&observed.metrics),
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(task.run(async move {
                let _ = stopped.await;
            }));
            (control.with_leader_gate(gate), Some((stop, task)))
        }
    };
    // Rebuilds the twin federated rounds train in as the recording grows.
    let mut twin_refresh = None;
    let (control, federation) = match &cfg.federation.config {
        None => (control, None),
        Some(path) => {
            let fed = FederateConfig::load(path)
                .with_context(|| format!("federation.config {}", path.display()))?;
            let train = fed.train_config();
            let gate_seeds = cfg
                .twin
                .gate_global_models
                .then(|| DEFAULT_GATE_SEEDS.to_vec());
            let spec = TwinSpec {
                algo: fed.algo,
                train: train.clone(),
                payload: fed.payload,
                experience: cfg.experience.dir.clone(),
                rate_window_s: cfg.prometheus.rate_window_s,
                gate_seeds,
            };
            let in_twin = if cfg.twin.federate_in_twin {
                match spec.build() {
                    Ok(twin) => {
                        let info = &twin.info;
                        info!(
                            recorded_s = info.recorded_s,
                            training_s = info.training_s,
                            capacity_rps = info.capacity_rps,
                            startup_delay_s = info.startup_delay_s,
                            episodes = info.episodes,
                            gate_held_back_s = twin.gate.as_ref().map(GlobalGate::held_back_s),
                            "federation rounds train in the twin calibrated from the recording"
                        );
                        Some(twin)
                    }
                    Err(e) => {
                        warn!(
                            error = %format!("{e:#}"),
                            "cannot train the rounds in the twin yet; training on the configured scenarios, and serving global models ungated, until the recording can calibrate it (tried every twin.check_every_s)"
                        );
                        None
                    }
                }
            } else {
                None
            };
            let trained_in_twin = in_twin.is_some();
            let (trainer, gate) = match in_twin {
                Some(twin) => (twin.trainer, twin.gate),
                None => (
                    LocalTrainer::new(fed.algo, train.clone(), fed.payload)
                        .context("local training set-up")?,
                    None,
                ),
            };
            // Global models run as this agent's rounds train them: in the twin, observed
            // through the twin's normalisation.
            let train = trainer.config().clone();
            let control = control.normalised_by(train.env.sim.clone());
            let (ca, credentials) = fed.load_tls()?;
            let client = FederationClient::new(fed.federation_config()?, credentials, ca, trainer)?;
            let (client, control) = if cfg.twin.federate_in_twin {
                let (trainers, replacements) = tokio::sync::mpsc::channel(1);
                let (updates, twin_updates) = tokio::sync::watch::channel(None);
                twin_refresh = Some(tokio::spawn(keep_twin_fresh(
                    spec,
                    trained_in_twin,
                    Duration::from_secs(cfg.twin.check_every_s),
                    Duration::from_secs_f64(cfg.twin.recalibrate_every_h * 3600.0),
                    trainers,
                    updates,
                )));
                (
                    client.with_trainer_replacements(replacements),
                    control.with_twin_updates(twin_updates),
                )
            } else {
                (client, control)
            };
            info!(
                cluster = %fed.cluster_id,
                coordinator = %fed.coordinator.address,
                gated = gate.is_some(),
                "federating: global models replace the policy as they arrive (with a gate, only those it finds better)"
            );
            let global = GlobalModels::new(client.model(), fed.algo, train);
            let global = match gate {
                Some(gate) => global.gated_by(gate),
                None => global,
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(client.run(async move {
                let _ = stopped.await;
            }));
            (control.with_global_models(global), Some((stop, task)))
        }
    };
    let timer = match (
        &cfg.twin.store,
        cfg.twin.retrain_every_h,
        cfg.policy_name()?,
    ) {
        (Some(store), Some(every_h), PolicyName::Learned(algo, _)) => {
            let timer = RetrainTimer {
                experience: cfg.experience.dir.clone(),
                store: store.clone(),
                algo: algo.name(),
                every_s: (every_h * 3600.0).round() as u64,
                check_every: Duration::from_secs(cfg.twin.check_every_s),
                timesteps: cfg.twin.retrain_timesteps,
                nice: cfg.twin.retrain_nice,
                rate_window_s: cfg.prometheus.rate_window_s,
            };
            info!(
                every_h,
                store = %store.display(),
                "retraining in the twin on a schedule of recorded traffic"
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(timer.run(async move {
                let _ = stopped.await;
            }));
            Some((stop, task))
        }
        _ => None,
    };
    control.run(shutdown_requested()).await;
    if let Some((stop, task)) = timer {
        let _ = stop.send(());
        task.await.context("the retrain timer panicked")?;
    }
    // Only now, with the last write made, may another agent take over.
    if let Some((stop, task)) = leader {
        let _ = stop.send(());
        task.await.context("the leader-election task panicked")?;
    }
    if let Some(refresh) = twin_refresh {
        refresh.abort();
    }
    if let Some((stop, task)) = federation {
        let _ = stop.send(());
        let trainer = task.await.context("the federation client task failed")??;
        info!(
            rounds_trained = trainer.rounds(),
            "federation client stopped"
        );
    }
    let _ = stop_server.send(());
    server
        .await
        .context("the /metrics server panicked")?
        .context("the /metrics server failed")?;
    Ok(())
}

/// Resolves on SIGTERM (what the kubelet sends) or Ctrl-C.
async fn shutdown_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the agent");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => info!("SIGTERM: finishing the current step, then exiting"),
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            info!("Ctrl-C: finishing the current step, then exiting");
        }
    }
}
