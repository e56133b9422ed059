//! The federation client's public face and its reconnect loop: connect, converse until
//! the connection ends (see [`session`](super::session)), wait out the backoff, connect
//! again; until shut down.
//!
//! Whatever happens to the connection, the agent keeps the last good global model: it is
//! published on a [`watch`] channel that the autoscaling loop reads at every decision, and
//! a watch channel keeps its value when nothing new arrives. Losing the coordinator
//! therefore only pauses learning, never autoscaling.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::proto::{GlobalModel, Hello};
use common::transport::{
    ClusterId, Credentials, Dialer, EndpointError, FleetCa, IdentityError, PeerIdentity,
    TransportSettings,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffConfig, BackoffConfigError};
use super::models::HeldModels;
use super::session::{Session, SessionEnd};
use super::trainer::LocalTrainer;

/// Where and as whom to connect. Built by the caller (the `federate` command reads it from
/// its configuration file; the coordinator's `simulate` command fills it in directly).
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// The coordinator, `host:port`; the host may be a DNS name, resolved at every attempt
    /// so a rescheduled coordinator is found at its new address.
    pub coordinator: String,
    /// The name the coordinator's certificate must carry (one of its SANs).
    pub server_name: String,
    /// This agent's cluster; must be the one its client certificate names.
    pub cluster_id: ClusterId,
    /// Labels of the workload, sent in the hello so the coordinator can pick a fine-tuned
    /// model for it.
    pub workload_tags: Vec<String>,
    /// The reconnect schedule.
    pub backoff: BackoffConfig,
    /// Seed of the backoff's jitter; give every agent of a fleet its own.
    pub backoff_seed: u64,
    /// Keep-alive, idle timeout and frame limit; should match the coordinator's.
    pub transport: TransportSettings,
}

/// The client cannot be set up; nothing was attempted yet.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// The client certificate names no usable cluster.
    #[error("the client certificate from {origin} is unusable: {source}")]
    Identity {
        /// Where the certificate came from.
        origin: String,
        /// Why.
        source: IdentityError,
    },
    /// The certificate belongs to another cluster than the configured one; the
    /// coordinator would refuse every hello.
    #[error(
        "the client certificate from {origin} is issued to cluster `{certified}` but the agent is configured as `{configured}`; use the certificate issued to `{configured}` or set the cluster id to `{certified}`"
    )]
    ClusterMismatch {
        /// Where the certificate came from.
        origin: String,
        /// The certificate's cluster.
        certified: ClusterId,
        /// The configured cluster.
        configured: ClusterId,
    },
    /// The backoff settings are invalid.
    #[error(transparent)]
    Backoff(#[from] BackoffConfigError),
}

/// The client stopped for a reason other than being shut down.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local UDP endpoint could not be created.
    #[error("cannot create the agent's QUIC endpoint: {0}")]
    Endpoint(#[from] EndpointError),
    /// Local training panicked, taking the trainer with it.
    #[error("local training panicked: {0}")]
    TrainerPanicked(String),
}

/// Counters for progress displays and tests; each is a running total since the client
/// started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Connection attempts, successful or not.
    pub connection_attempts: u64,
    /// Connections whose hello the coordinator answered with a model.
    pub connections: u64,
    /// Whether a connection is up now.
    pub connected: bool,
    /// Global models accepted.
    pub models_accepted: u64,
    /// Global models refused (wrong architecture, bad weights).
    pub models_refused: u64,
    /// Version of the current model, if any.
    pub model_version: Option<u64>,
    /// Round offers the agent started training for.
    pub rounds_joined: u64,
    /// Updates sent.
    pub updates_sent: u64,
    /// Offers not answered because their deadline passed first.
    pub rounds_missed: u64,
    /// Offers answered with an error (base not held, training failed).
    pub rounds_declined: u64,
    /// Errors the coordinator sent (e.g. a rejected update).
    pub coordinator_errors: u64,
}

/// A federated agent's connection to the coordinator, with its local trainer.
///
/// ```no_run
/// # async fn example(
/// #     config: edge_agent::federation::FederationConfig,
/// #     credentials: common::transport::Credentials,
/// #     ca: common::transport::FleetCa,
/// #     trainer: edge_agent::federation::LocalTrainer,
/// # ) -> anyhow::Result<()> {
/// let client = edge_agent::federation::FederationClient::new(config, credentials, ca, trainer)?;
/// let model = client.model(); // the autoscaling loop reads this
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let agent = tokio::spawn(client.run(async move {
///     let _ = stopped.await;
/// }));
/// // … later:
/// let _ = stop.send(());
/// let trainer = agent.await??;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FederationClient {
    config: FederationConfig,
    credentials: Credentials,
    ca: FleetCa,
    trainer: LocalTrainer,
    backoff: Backoff,
    model: watch::Sender<Option<Arc<GlobalModel>>>,
    stats: watch::Sender<ClientStats>,
    replacements: Option<mpsc::Receiver<LocalTrainer>>,
}

impl FederationClient {
    /// Checks that the certificate belongs to the configured cluster and the backoff
    /// settings are valid. Does no I/O.
    pub fn new(
        config: FederationConfig,
        credentials: Credentials,
        ca: FleetCa,
        trainer: LocalTrainer,
    ) -> Result<Self, ClientSetupError> {
        let origin = credentials.origin().to_owned();
        let identity = PeerIdentity::from_certificate(credentials.leaf()).map_err(|source| {
            ClientSetupError::Identity {
                origin: origin.clone(),
                source,
            }
        })?;
        if identity.cluster_id() != &config.cluster_id {
            return Err(ClientSetupError::ClusterMismatch {
                origin,
                certified: identity.cluster_id().clone(),
                configured: config.cluster_id.clone(),
            });
        }
        let backoff = Backoff::new(config.backoff.clone(), config.backoff_seed)?;
        Ok(Self {
            config,
            credentials,
            ca,
            trainer,
            backoff,
            model: watch::channel(None).0,
            stats: watch::channel(ClientStats::default()).0,
            replacements: None,
        })
    }

    /// Trains each round with the newest trainer `replacements` has delivered by then (for
    /// another network's trainer: refused, logged): an agent whose digital twin was
    /// recalibrated trains its next rounds in the new twin. The learner state of the
    /// trainer replaced (a DQN's replay buffer, say) goes with it.
    pub fn with_trainer_replacements(mut self, replacements: mpsc::Receiver<LocalTrainer>) -> Self {
        self.replacements = Some(replacements);
        self
    }

    /// The current global model: `None` until the first one arrives, then always the last
    /// one accepted, through disconnects and refused models alike.
    pub fn model(&self) -> watch::Receiver<Option<Arc<GlobalModel>>> {
        self.model.subscribe()
    }

    /// The running counters.
    pub fn stats(&self) -> watch::Receiver<ClientStats> {
        self.stats.subscribe()
    }

    /// The hello this agent opens every connection with.
    pub fn hello(&self) -> Hello {
        Hello {
            cluster_id: self.config.cluster_id.as_str().to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            architecture: self.trainer.architecture().clone(),
            workload_tags: self.config.workload_tags.clone(),
        }
    }

    /// Connects, takes part in rounds and reconnects after every loss, until `shutdown`
    /// completes. Returns the trainer, with everything it learned, for further use.
    ///
    /// Needs a multi-threaded tokio runtime: training runs on its blocking pool.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<LocalTrainer, ClientError> {
        let (stop_tx, stop) = watch::channel(false);
        let watcher = tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let hello = self.hello();
        let Self {
            config,
            credentials,
            ca,
            trainer,
            mut backoff,
            model,
            stats,
            replacements,
        } = self;
        let mut session = Session {
            held: HeldModels::new(trainer.architecture().clone()),
            trainer: Some(trainer),
            hello,
            max_frame_bytes: config.transport.max_frame_bytes,
            model,
            stats,
            stop,
            replacements,
        };
        let mut dialer: Option<(bool, Dialer)> = None;
        let result = loop {
            if session.stopping() {
                break Ok(());
            }
            session.stats.send_modify(|s| s.connection_attempts += 1);
            let end = match resolve(&config.coordinator).await {
                Err(reason) => SessionEnd::Unreachable { reason },
                Ok(addr) => {
                    let dialer = match bind_for(&mut dialer, addr, &config, &credentials, &ca) {
                        Ok(dialer) => dialer,
                        Err(e) => break Err(e.into()),
                    };
                    session.converse(dialer, addr).await
                }
            };
            session.stats.send_modify(|s| s.connected = false);
            let delay = match end {
                SessionEnd::Shutdown => break Ok(()),
                SessionEnd::TrainerLost(reason) => break Err(ClientError::TrainerPanicked(reason)),
                SessionEnd::Unreachable { reason } => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        coordinator = %config.coordinator,
                        retry_in = ?delay,
                        "cannot reach the coordinator: {reason}"
                    );
                    delay
                }
                SessionEnd::Lost { reason, since } => {
                    let delay = backoff.after_connection(Instant::now() - since);
                    tracing::warn!(
                        coordinator = %config.coordinator,
                        retry_in = ?delay,
                        model_version = ?session.held.current().map(|m| m.version),
                        "connection to the coordinator lost: {reason}; autoscaling goes on with the current model"
                    );
                    delay
                }
            };
            if session.sleep_or_stop(delay).await {
                break Ok(());
            }
        };
        watcher.abort();
        if let Some((_, dialer)) = dialer {
            // Bounded: a close that cannot be delivered must not hold up the shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(2), dialer.shutdown()).await;
        }
        result?;
        session
            .trainer
            .ok_or_else(|| ClientError::TrainerPanicked("the trainer was not returned".into()))
    }
}

/// The coordinator's address, resolved now.
async fn resolve(coordinator: &str) -> Result<std::net::SocketAddr, String> {
    match tokio::net::lookup_host(coordinator).await {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{coordinator}` resolves to no address")),
        Err(e) => Err(format!(
            "cannot resolve `{coordinator}`: {e}; give the address as host:port"
        )),
    }
}

/// The dialer for `addr`'s address family, (re)bound if the family changed.
fn bind_for<'a>(
    slot: &'a mut Option<(bool, Dialer)>,
    addr: std::net::SocketAddr,
    config: &FederationConfig,
    credentials: &Credentials,
    ca: &FleetCa,
) -> Result<&'a Dialer, EndpointError> {
    let v6 = addr.is_ipv6();
    if slot.as_ref().is_none_or(|(family, _)| *family != v6) {
        let local: std::net::SocketAddr = if v6 {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let dialer = Dialer::bind(
            local,
            ca,
            credentials,
            config.server_name.clone(),
            config.transport,
        )?;
        *slot = Some((v6, dialer));
    }
    Ok(&slot.as_ref().expect("bound just above").1)
}
