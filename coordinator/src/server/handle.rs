//! Starting a coordinator and controlling it while it runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use common::transport::{Credentials, FleetCa, Listener, ReceiveWindows};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::connection::{self, Shared};
use super::engine_task::{EngineTask, Reports};
use super::error::ServerError;
use super::event::Event;
use super::frames::{self, FleetFrame};
use super::options::CoordinatorOptions;
use super::receive::ReceiveBudget;
use crate::admin::Observed;
use crate::admin::health::{Task, TaskGuard};
use crate::registry::manifest::rfc3339;
use crate::registry::store::{NewVersion, Registry};
use crate::round::{ConnectionId, EngineConfig, FleetModel, RoundEngine};

/// Events kept for a slow subscriber before it starts missing some.
const EVENT_BUFFER: usize = 1024;

/// Messages from connection tasks queued for the engine task; beyond this, readers wait.
const COMMAND_BUFFER: usize = 256;

/// The federation coordinator; [`start`](Self::start) runs one.
#[derive(Debug)]
pub struct Coordinator;

impl Coordinator {
    /// Opens the registry (publishing `options.initial_weights` as version 1 if it is
    /// empty, resuming from its newest fleet version and round otherwise), starts
    /// listening, and runs rounds in the current tokio runtime until
    /// [`CoordinatorHandle::shutdown`]. Its metrics and health are
    /// [`CoordinatorHandle::observed`].
    pub async fn start(
        options: CoordinatorOptions,
        ca: &FleetCa,
        identity: &Credentials,
    ) -> Result<CoordinatorHandle, ServerError> {
        Self::start_observed(options, ca, identity, Observed::default()).await
    }

    /// [`start`](Self::start), reporting to `observed`, which the caller may already be
    /// serving: `coordinator serve` answers probes while the registry is still opening.
    pub async fn start_observed(
        options: CoordinatorOptions,
        ca: &FleetCa,
        identity: &Credentials,
        observed: Observed,
    ) -> Result<CoordinatorHandle, ServerError> {
        let CoordinatorOptions {
            listen,
            registry,
            architecture,
            initial_weights,
            aggregation,
            rounds,
            transport,
            limits,
            seed,
        } = options;
        let mut registry = Registry::open(registry)?;
        let (fleet, tags) = resume_or_seed(&mut registry, &architecture, initial_weights)?;
        let next_round = registry.last_round().map_or(1, |r| r + 1);
        let origin = tokio::time::Instant::now();
        let engine = RoundEngine::new(
            EngineConfig {
                policy: rounds,
                aggregation,
                architecture: architecture.clone(),
                seed,
            },
            fleet.clone(),
            next_round,
            std::time::Duration::ZERO,
        )?;
        let fleet_frame = FleetFrame {
            version: fleet.version,
            bytes: frames::global_model(fleet.version, &architecture, &fleet.weights, &tags)?,
        };
        let windows = ReceiveWindows {
            stream: limits.receive_window_bytes,
            connection: limits.receive_window_bytes,
        };
        let listener = Arc::new(Listener::bind_with_receive_windows(
            listen, ca, identity, transport, windows,
        )?);
        let local_addr =
            listener
                .local_addr()
                .map_err(|source| common::transport::EndpointError::Bind {
                    addr: listen,
                    source,
                })?;
        observed.metrics.set_model_version(fleet.version);
        observed.metrics.set_round(next_round.saturating_sub(1));
        observed.health.listening();
        tracing::info!(
            %local_addr,
            version = fleet.version,
            next_round,
            parameters = architecture.parameter_count,
            udp_receive_buffer_bytes = listener.receive_buffer_bytes(),
            "coordinator listening"
        );
        if listener.receive_buffer_bytes() < common::transport::socket::RECEIVE_BUFFER_BYTES {
            tracing::warn!(
                granted = listener.receive_buffer_bytes(),
                asked = common::transport::socket::RECEIVE_BUFFER_BYTES,
                "the kernel granted a smaller UDP receive buffer than asked: when many agents answer at once, packets may be dropped and rounds slowed; raise net.core.rmem_max"
            );
        }

        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (version_tx, version) = watch::channel(fleet.version);
        let (finished_tx, finished) = watch::channel(false);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (commands, commands_rx) = mpsc::channel(COMMAND_BUFFER);

        let task = EngineTask {
            engine,
            registry: Some(registry),
            architecture,
            fleet_frame,
            origin,
            reports: Reports {
                events: events.clone(),
                version: version_tx,
                finished: finished_tx,
            },
            outboxes: HashMap::new(),
            observed: observed.clone(),
        };
        let engine_task = tokio::spawn(task.run(commands_rx, shutdown_rx.clone()));
        let (writers_tx, writers) = watch::channel(0_usize);
        let shared = Arc::new(Shared {
            commands,
            budget: ReceiveBudget::new(limits.receive_budget_bytes),
            transport,
            limits,
            writers: Arc::new(writers_tx),
        });
        let accept_task = tokio::spawn(accept(
            listener.clone(),
            shared,
            shutdown_rx,
            TaskGuard::new(observed.health.clone(), Task::Endpoint),
        ));
        Ok(CoordinatorHandle {
            local_addr,
            events,
            version,
            finished,
            shutdown,
            listener,
            engine_task,
            accept_task,
            writers,
            observed,
        })
    }
}

/// The fleet model to start from: the registry's newest fleet version, or the initial
/// weights published as the first version. Returns it with its workload tags.
fn resume_or_seed(
    registry: &mut Registry,
    architecture: &common::proto::ModelArchitecture,
    initial_weights: Vec<f32>,
) -> Result<(FleetModel, Vec<String>), ServerError> {
    if let Some(latest) = registry.latest_fleet() {
        let version = latest.version;
        latest
            .architecture
            .check_compatible(architecture)
            .map_err(|e| ServerError::RegistryArchitecture {
                version,
                reason: e.to_string(),
            })?;
        let tags = latest.tags.clone();
        let weights = registry.load_weights(version)?;
        tracing::info!(version, "resuming from the registry");
        return Ok((
            FleetModel {
                version,
                weights: weights.into(),
            },
            tags,
        ));
    }
    let manifest = registry.publish(NewVersion {
        parent: None,
        round: None,
        architecture: architecture.clone(),
        weights: initial_weights,
        contributors: Vec::new(),
        tags: Vec::new(),
        created_at: rfc3339(SystemTime::now()).unwrap_or_default(),
        fine_tuned_for: None,
    })?;
    let version = manifest.version;
    tracing::info!(version, "empty registry: published the initial model");
    let weights = registry.load_weights(version)?;
    Ok((
        FleetModel {
            version,
            weights: weights.into(),
        },
        Vec::new(),
    ))
}

/// Accepts connections until shutdown; each runs in a task of its own, so a slow
/// handshake holds up nobody else. The tasks end with the listener's connections.
async fn accept(
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    _alive: TaskGuard,
) {
    let mut connections = JoinSet::new();
    let mut next_id = 0_u64;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            pending = listener.accept() => {
                let Some(pending) = pending else { break };
                let id = ConnectionId(next_id);
                next_id += 1;
                connections.spawn(connection::serve(pending, id, shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Connection tasks end once the listener closes their connections; give them the
    // chance to report, then drop whatever remains.
    drop(shared);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// The longest shutdown waits for agents to acknowledge what was sent to them.
pub(crate) const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A running coordinator. Dropping the handle also stops it, but abruptly: agents only
/// notice at their idle timeout; [`shutdown`](Self::shutdown) closes their connections in
/// order.
#[derive(Debug)]
pub struct CoordinatorHandle {
    local_addr: SocketAddr,
    events: broadcast::Sender<Event>,
    version: watch::Receiver<u64>,
    finished: watch::Receiver<bool>,
    shutdown: watch::Sender<bool>,
    listener: Arc<Listener>,
    engine_task: JoinHandle<()>,
    accept_task: JoinHandle<()>,
    /// How many connections still have messages to deliver.
    writers: watch::Receiver<usize>,
    observed: Observed,
}

impl CoordinatorHandle {
    /// The address agents connect to (with the port chosen if the options said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Everything that happens from now on. A subscriber that falls more than 1,024
    /// events behind misses the oldest (and is told so by the receiver).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Its metrics and health, as the admin port serves them.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// The newest fleet version.
    pub fn current_version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Waits until the configured `max_rounds` have run; never returns without a limit.
    pub async fn finished(&self) {
        let mut finished = self.finished.clone();
        // The sender lives in the engine task; if it stops first, so do the rounds.
        let _ = finished.wait_for(|f| *f).await;
    }

    /// Stops taking connections and rounds, lets every agent receive what was already
    /// sent to it (the model of the last round, say; for at most 2 s),
    /// closes every agent connection (agents see an orderly close and reconnect at once
    /// to whoever listens next), and waits for the tasks to end. A round still open is
    /// abandoned, unpublished.
    pub async fn shutdown(self) {
        self.observed.health.stopping();
        let _ = self.shutdown.send(true);
        // The engine first: when it stops it drops the agents' queues, and each writer
        // then finishes what was queued and waits for the agent's acknowledgement.
        let _ = self.engine_task.await;
        let mut writers = self.writers;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, writers.wait_for(|n| *n == 0))
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                connections = *writers.borrow(),
                "agents did not acknowledge every message in time; closing anyway"
            );
        }
        self.listener.shutdown().await;
        let _ = self.accept_task.await;
        tracing::info!("coordinator stopped");
    }
}
