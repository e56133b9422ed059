//! The federation client against a scripted coordinator over real QUIC with mutual TLS on
//! loopback. The coordinator side is written out step by step from the conversation the
//! design fixes (hello and its answer on one bidirectional stream, then one message per
//! unidirectional stream), so these tests check the client against the contract rather
//! than against another implementation of it. Every wait is bounded by [`BOUND`], far
//! above what any step needs, so a regression fails instead of hanging.

// The house rule allows unwrap in tests; clippy only sees `#[test]` functions as tests,
// not the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::proto::{
    ErrorCode, GlobalModel, Hello, Message, ModelArchitecture, ModelKind, ModelPayload, RoundOffer,
    TrainingBudget,
};
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::fleet_model::{architecture, fresh_weights};
use common::transport::certs::DevCa;
use common::transport::{
    AgentConnection, ClusterId, Listener, TransportSettings, receive_uni, send_uni, write_message,
};
use edge_agent::federation::{
    BackoffConfig, ClientSetupError, ClientStats, FederationClient, FederationConfig, Jitter,
    LocalTrainer, PayloadForm,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const SERVER_NAME: &str = "coordinator.test";
const BOUND: Duration = Duration::from_secs(30);
const MAX_FRAME: usize = 16 * 1024 * 1024;

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match timeout(BOUND, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not happen within {BOUND:?}"),
    }
}

/// Short timeouts so a vanished coordinator is noticed, and retried, quickly.
fn transport() -> TransportSettings {
    TransportSettings {
        keep_alive_interval: Duration::from_millis(250),
        idle_timeout: Duration::from_millis(1_500),
        ..TransportSettings::default()
    }
}

/// A small DQN, so a round of a few hundred steps trains in a blink.
fn train_config() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.training.scenarios = vec!["sudden_spike".into()];
    cfg.training.seed = 11;
    cfg.training.timesteps = 5_000;
    cfg.dqn.hidden = vec![16, 16];
    cfg.dqn.dropout = vec![0.0, 0.0];
    cfg.dqn.learning_starts = 32;
    cfg.dqn.batch_size = 16;
    cfg
}

fn global_model(version: u64) -> GlobalModel {
    let cfg = train_config();
    GlobalModel {
        version,
        architecture: architecture(Algo::Dqn, &cfg),
        weights: fresh_weights(Algo::Dqn, &cfg, version),
        tags: Vec::new(),
    }
}

fn offer(round: u64, base_version: u64, env_steps: u64, deadline_ms: u64) -> Message {
    Message::RoundOffer(RoundOffer {
        round,
        base_version,
        budget: TrainingBudget { env_steps },
        deadline_ms,
    })
}

/// A fleet CA, the coordinator's certificate, and agents issued from it.
struct Fleet {
    ca: DevCa,
    server: common::transport::certs::IssuedCert,
}

impl Fleet {
    fn new() -> Self {
        let ca = DevCa::generate().unwrap();
        let server = ca.issue_server(&[SERVER_NAME.into()]).unwrap();
        Self { ca, server }
    }

    /// A scripted coordinator on `addr` (port 0 for any). Binding the port a stopped
    /// coordinator used can fail for a moment while its socket closes, so it is retried.
    async fn coordinator(&self, addr: SocketAddr) -> Listener {
        bounded("binding the coordinator", async {
            loop {
                match Listener::bind(
                    addr,
                    &self.ca.fleet_ca(),
                    &self.server.credentials(),
                    transport(),
                ) {
                    Ok(listener) => return listener,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await
    }

    fn client(&self, cluster: &str, addr: SocketAddr) -> FederationClient {
        let cert = self
            .ca
            .issue_client(&ClusterId::new(cluster).unwrap())
            .unwrap();
        let config = FederationConfig {
            coordinator: addr.to_string(),
            server_name: SERVER_NAME.into(),
            cluster_id: ClusterId::new(cluster).unwrap(),
            workload_tags: vec!["web".into()],
            backoff: BackoffConfig {
                base_ms: 50,
                factor: 2.0,
                cap_ms: 400,
                jitter: Jitter::Equal,
                reset_after_ms: 60_000,
            },
            backoff_seed: 1,
            transport: transport(),
        };
        let trainer = LocalTrainer::new(Algo::Dqn, train_config(), PayloadForm::Weights).unwrap();
        FederationClient::new(config, cert.credentials(), self.ca.fleet_ca(), trainer).unwrap()
    }
}

/// A running client and what the test watches of it.
struct Agent {
    model: watch::Receiver<Option<Arc<GlobalModel>>>,
    stats: watch::Receiver<ClientStats>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<LocalTrainer, edge_agent::federation::ClientError>>,
}

impl Agent {
    fn start(client: FederationClient) -> Self {
        let model = client.model();
        let stats = client.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(client.run(async move {
            let _ = stopped.await;
        }));
        Self {
            model,
            stats,
            stop,
            task,
        }
    }

    fn model_version(&self) -> Option<u64> {
        self.model.borrow().as_ref().map(|m| m.version)
    }

    async fn wait_stats(
        &mut self,
        what: &str,
        done: impl FnMut(&ClientStats) -> bool,
    ) -> ClientStats {
        bounded(what, self.stats.wait_for(done))
            .await
            .unwrap()
            .clone()
    }

    async fn wait_model(&mut self, version: u64) {
        bounded(
            &format!("model v{version}"),
            self.model
                .wait_for(|m| m.as_ref().is_some_and(|m| m.version == version)),
        )
        .await
        .unwrap();
    }

    async fn stop(self) -> LocalTrainer {
        let _ = self.stop.send(());
        bounded("client shutdown", self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

/// The coordinator's side of a connection: the next agent, authenticated, with its hello
/// (already checked against the certificate by `receive_hello`) answered with `reply`.
async fn accept(listener: &Listener, reply: Message) -> (AgentConnection, Hello) {
    let pending = bounded("an agent connecting", listener.accept())
        .await
        .unwrap();
    let connection = bounded("the handshake", pending.authenticate())
        .await
        .unwrap();
    let (hello, mut send) = bounded("the hello", connection.receive_hello())
        .await
        .unwrap();
    write_message(&mut send, &reply).await.unwrap();
    (connection, hello)
}

async fn next_from(agent: &AgentConnection) -> Message {
    bounded(
        "a message from the agent",
        receive_uni(agent.connection(), MAX_FRAME),
    )
    .await
    .unwrap()
}

fn loopback() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_names_the_certified_cluster_and_an_offer_is_answered_with_an_update() {
    let fleet = Fleet::new();
    let listener = fleet.coordinator(loopback()).await;
    let mut agent = Agent::start(fleet.client("alpha", listener.local_addr().unwrap()));
    let base = global_model(1);
    let (conn, hello) = accept(&listener, Message::GlobalModel(base.clone())).await;

    assert_eq!(conn.cluster_id().as_str(), "alpha");
    assert_eq!(hello.cluster_id, "alpha");
    assert_eq!(hello.architecture, architecture(Algo::Dqn, &train_config()));
    assert_eq!(hello.architecture.kind, ModelKind::Dqn);
    assert_eq!(hello.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.workload_tags, ["web"]);
    agent.wait_model(1).await;

    send_uni(conn.connection(), &offer(3, 1, 200, 60_000))
        .await
        .unwrap();
    let Message::Update(update) = next_from(&conn).await else {
        panic!("expected an update");
    };
    assert_eq!((update.round, update.base_version), (3, 1));
    assert_eq!(update.sample_count, 200);
    let ModelPayload::Weights(weights) = &update.payload else {
        panic!("expected full weights");
    };
    assert_eq!(weights.len() as u64, hello.architecture.parameter_count);
    assert!(weights.iter().all(|w| w.is_finite()));
    assert_ne!(weights, &base.weights, "training changed nothing");
    assert!((0.0..=1.0).contains(&update.metrics.slo_compliance));
    let stats = agent
        .wait_stats("the update counted", |s| s.updates_sent == 1)
        .await;
    assert_eq!((stats.rounds_joined, stats.connections), (1, 1));

    let trainer = agent.stop().await;
    assert_eq!(trainer.rounds(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_survives_the_coordinator_going_away_and_the_client_reconnects() {
    let fleet = Fleet::new();
    let listener = fleet.coordinator(loopback()).await;
    let addr = listener.local_addr().unwrap();
    let mut agent = Agent::start(fleet.client("alpha", addr));
    let (conn, _) = accept(&listener, Message::GlobalModel(global_model(1))).await;
    agent.wait_model(1).await;
    agent.wait_stats("connected", |s| s.connected).await;

    // The coordinator goes away.
    drop(conn);
    listener.shutdown().await;
    drop(listener);
    agent.wait_stats("the loss noticed", |s| !s.connected).await;
    let before = agent.stats.borrow().connection_attempts;
    // It keeps trying (each attempt at a silent port times out), and keeps its model.
    let away = agent
        .wait_stats("two failed attempts", |s| {
            s.connection_attempts >= before + 2
        })
        .await;
    assert_eq!(away.connections, 1);
    assert!(!away.connected);
    assert_eq!(
        agent.model_version(),
        Some(1),
        "the model was dropped while away"
    );

    // The coordinator comes back on the same address with a newer model.
    let listener = fleet.coordinator(addr).await;
    let (conn, hello) = accept(&listener, Message::GlobalModel(global_model(2))).await;
    assert_eq!(hello.cluster_id, "alpha");
    agent.wait_model(2).await;
    let back = agent
        .wait_stats("reconnected", |s| s.connections == 2 && s.connected)
        .await;
    assert!(back.connection_attempts >= before + 2, "{back:?}");

    // And takes part in rounds again.
    send_uni(conn.connection(), &offer(1, 2, 50, 60_000))
        .await
        .unwrap();
    assert!(matches!(next_from(&conn).await, Message::Update(u) if u.base_version == 2));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_model_is_refused_and_the_previous_one_kept() {
    let fleet = Fleet::new();
    let listener = fleet.coordinator(loopback()).await;
    let mut agent = Agent::start(fleet.client("alpha", listener.local_addr().unwrap()));
    let (conn, _) = accept(&listener, Message::GlobalModel(global_model(1))).await;
    agent.wait_model(1).await;

    let ppo = ModelArchitecture::dense(ModelKind::Ppo, vec![12, 16, 3]);
    let foreign = GlobalModel {
        version: 2,
        weights: vec![0.1; ppo.parameter_count as usize],
        architecture: ppo,
        tags: Vec::new(),
    };
    send_uni(conn.connection(), &Message::GlobalModel(foreign))
        .await
        .unwrap();
    let stats = agent
        .wait_stats("the refusal", |s| s.models_refused == 1)
        .await;
    assert_eq!(stats.models_accepted, 1);
    assert_eq!(agent.model_version(), Some(1));

    // An offer built on the refused model cannot be trained: the agent says so…
    send_uni(conn.connection(), &offer(5, 2, 50, 60_000))
        .await
        .unwrap();
    let Message::Error(error) = next_from(&conn).await else {
        panic!("expected an error for a base the agent does not hold");
    };
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(
        error.message.contains("base version 2"),
        "{}",
        error.message
    );
    // …and carries on with the model it kept.
    send_uni(conn.connection(), &offer(6, 1, 50, 60_000))
        .await
        .unwrap();
    assert!(
        matches!(next_from(&conn).await, Message::Update(u) if (u.round, u.base_version) == (6, 1))
    );
    assert_eq!(agent.model_version(), Some(1));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_whose_deadline_passes_first_gets_no_update_and_the_next_one_does() {
    let fleet = Fleet::new();
    let listener = fleet.coordinator(loopback()).await;
    let mut agent = Agent::start(fleet.client("alpha", listener.local_addr().unwrap()));
    let (conn, _) = accept(&listener, Message::GlobalModel(global_model(1))).await;
    agent.wait_model(1).await;

    // A million steps cannot train in 50 ms: the agent gives up at the deadline…
    send_uni(conn.connection(), &offer(1, 1, 1_000_000, 50))
        .await
        .unwrap();
    send_uni(conn.connection(), &offer(2, 1, 100, 60_000))
        .await
        .unwrap();
    // …so the first thing it sends answers the second offer.
    let Message::Update(update) = next_from(&conn).await else {
        panic!("expected an update");
    };
    assert_eq!((update.round, update.sample_count), (2, 100));
    let stats = agent
        .wait_stats("the miss counted", |s| s.updates_sent == 1)
        .await;
    assert_eq!((stats.rounds_joined, stats.rounds_missed), (2, 1));
    agent.stop().await;
}

#[tokio::test]
async fn a_certificate_of_another_cluster_is_refused_before_connecting() {
    let fleet = Fleet::new();
    let cert = fleet
        .ca
        .issue_client(&ClusterId::new("alpha").unwrap())
        .unwrap();
    let config = FederationConfig {
        coordinator: "127.0.0.1:9".into(),
        server_name: SERVER_NAME.into(),
        cluster_id: ClusterId::new("beta").unwrap(),
        workload_tags: Vec::new(),
        backoff: BackoffConfig::default(),
        backoff_seed: 0,
        transport: transport(),
    };
    let trainer = LocalTrainer::new(Algo::Dqn, train_config(), PayloadForm::Weights).unwrap();
    let err = FederationClient::new(config, cert.credentials(), fleet.ca.fleet_ca(), trainer)
        .unwrap_err();
    assert!(
        matches!(&err, ClientSetupError::ClusterMismatch { certified, configured, .. }
            if certified.as_str() == "alpha" && configured.as_str() == "beta"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`alpha`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_trainer_trains_the_next_round_and_one_for_another_network_is_refused() {
    let fleet = Fleet::new();
    let listener = fleet.coordinator(loopback()).await;
    let (replace, replacements) = tokio::sync::mpsc::channel(2);
    let client = fleet
        .client("alpha", listener.local_addr().unwrap())
        .with_trainer_replacements(replacements);
    let mut agent = Agent::start(client);
    let (conn, _) = accept(&listener, Message::GlobalModel(global_model(1))).await;
    agent.wait_model(1).await;

    // As a recalibrated twin would arrive: first a trainer whose network does not fit the
    // fleet's, then one that does and sends deltas instead of the original's weights.
    let mut other = train_config();
    other.dqn.hidden = vec![8];
    other.dqn.dropout = vec![0.0];
    replace
        .send(LocalTrainer::new(Algo::Dqn, other, PayloadForm::Weights).unwrap())
        .await
        .unwrap();
    replace
        .send(LocalTrainer::new(Algo::Dqn, train_config(), PayloadForm::Delta).unwrap())
        .await
        .unwrap();
    send_uni(conn.connection(), &offer(1, 1, 100, 60_000))
        .await
        .unwrap();
    let Message::Update(update) = next_from(&conn).await else {
        panic!("expected an update");
    };
    assert!(
        matches!(update.payload, ModelPayload::Delta(_)),
        "the replacement trained the round"
    );
    let trainer = agent.stop().await;
    assert_eq!(trainer.rounds(), 1);
}
