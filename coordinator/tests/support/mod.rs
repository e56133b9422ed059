//! A scripted agent and an in-process fleet for the server tests: real QUIC with mutual
//! TLS on loopback, certificates minted in memory.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use common::proto::{
    DEFAULT_MAX_FRAME_BYTES, ErrorCode, GlobalModel, Hello, LocalMetrics, Message,
    ModelArchitecture, ModelKind, ModelPayload, RoundOffer, Update,
};
use common::transport::certs::{DevCa, IssuedCert};
use common::transport::{ClusterId, Credentials, Dialer, StreamError, TransportSettings};
use coordinator::server::{
    Coordinator, CoordinatorHandle, CoordinatorOptions, Event, ServerLimits,
};
use coordinator::{AggregationConfig, RoundPolicy, Strategy};
use tokio::sync::broadcast;

/// How long any one expected thing may take before the test gives up (a hang guard, not
/// a speed requirement).
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const PARAMS: usize = 6;

pub fn architecture() -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![2, 2])
}

/// Awaits `future`, failing the test if it hangs.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

/// A development CA with a server certificate for `localhost` and 127.0.0.1.
pub struct Pki {
    pub ca: DevCa,
    pub server: IssuedCert,
}

impl Pki {
    pub fn new() -> Self {
        let ca = DevCa::generate().unwrap();
        let server = ca
            .issue_server(&["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
        Self { ca, server }
    }

    pub fn client(&self, cluster: &str) -> Credentials {
        self.ca
            .issue_client(&ClusterId::new(cluster).unwrap())
            .unwrap()
            .credentials()
    }

    /// Writes `ca.pem`, `server.pem`, `server-key.pem` into `dir`.
    pub fn write_server_files(&self, dir: &std::path::Path) {
        std::fs::write(dir.join("ca.pem"), self.ca.cert_pem()).unwrap();
        std::fs::write(dir.join("server.pem"), self.server.cert_pem()).unwrap();
        std::fs::write(dir.join("server-key.pem"), self.server.key_pem()).unwrap();
    }
}

pub fn policy(min_agents: usize) -> RoundPolicy {
    RoundPolicy {
        participation: 1.0,
        min_agents,
        quorum: 1.0,
        grace: Duration::ZERO,
        deadline: Duration::from_secs(60),
        budget_env_steps: 10,
        interval: Duration::from_secs(3600),
        max_rounds: None,
    }
}

/// A coordinator in this process, with its registry in a temporary directory.
pub struct Fleet {
    pub pki: Pki,
    pub handle: CoordinatorHandle,
    pub events: broadcast::Receiver<Event>,
    pub registry: tempfile::TempDir,
}

impl Fleet {
    pub async fn start(rounds: RoundPolicy) -> Self {
        Self::start_with(rounds, architecture(), vec![1.0; PARAMS]).await
    }

    /// A fleet of another model than the tiny default.
    pub async fn start_with(
        rounds: RoundPolicy,
        architecture: ModelArchitecture,
        initial_weights: Vec<f32>,
    ) -> Self {
        let pki = Pki::new();
        let registry = tempfile::tempdir().unwrap();
        let options = CoordinatorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            registry: registry.path().to_owned(),
            architecture,
            initial_weights,
            aggregation: AggregationConfig {
                strategy: Strategy::FedAvg,
                clip_norm: None,
            },
            rounds,
            transport: TransportSettings::default(),
            limits: ServerLimits::default(),
            seed: 0,
        };
        let handle = Coordinator::start(options, &pki.ca.fleet_ca(), &pki.server.credentials())
            .await
            .unwrap();
        let events = handle.events();
        Self {
            pki,
            handle,
            events,
            registry,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// An agent of `cluster` with a certificate from the fleet CA.
    pub fn dialer(&self, cluster: &str) -> Dialer {
        dialer(&self.pki, &self.pki.client(cluster))
    }

    /// Connects `cluster` and says hello; returns the agent and the hello's answer.
    pub async fn join(&self, cluster: &str) -> (Agent, Message) {
        let agent = Agent::connect(self.dialer(cluster), self.addr()).await;
        let answer = agent.hello(cluster, architecture()).await;
        (agent, answer)
    }

    /// The next event `pick` accepts, skipping the others.
    pub async fn event<T>(&mut self, what: &str, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        within(what, async {
            loop {
                let event = self.events.recv().await.expect("coordinator events");
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        })
        .await
    }
}

pub fn dialer(pki: &Pki, identity: &Credentials) -> Dialer {
    Dialer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &pki.ca.fleet_ca(),
        identity,
        "localhost",
        TransportSettings::default(),
    )
    .unwrap()
}

/// A scripted agent: it does exactly what a test tells it, nothing on its own.
pub struct Agent {
    pub dialer: Dialer,
    pub connection: quinn::Connection,
}

impl Agent {
    pub async fn connect(dialer: Dialer, addr: SocketAddr) -> Self {
        let connection = within("connect", dialer.connect(addr)).await.unwrap();
        Self { dialer, connection }
    }

    pub async fn hello(&self, cluster: &str, architecture: ModelArchitecture) -> Message {
        self.try_hello(cluster, architecture).await.unwrap()
    }

    pub async fn try_hello(
        &self,
        cluster: &str,
        architecture: ModelArchitecture,
    ) -> Result<Message, StreamError> {
        let hello = Message::Hello(Hello {
            cluster_id: cluster.to_owned(),
            agent_version: "test".to_owned(),
            architecture,
            workload_tags: vec![format!("{cluster}-load")],
        });
        within(
            "hello answer",
            common::transport::request(&self.connection, &hello, DEFAULT_MAX_FRAME_BYTES),
        )
        .await
    }

    /// The next message the coordinator sends on a stream of its own.
    pub async fn receive(&self) -> Message {
        within(
            "message from the coordinator",
            common::transport::receive_uni(&self.connection, DEFAULT_MAX_FRAME_BYTES),
        )
        .await
        .unwrap()
    }

    pub async fn expect_offer(&self) -> RoundOffer {
        match self.receive().await {
            Message::RoundOffer(offer) => offer,
            other => panic!("expected an offer, got {other:?}"),
        }
    }

    pub async fn expect_model(&self) -> GlobalModel {
        match self.receive().await {
            Message::GlobalModel(model) => model,
            other => panic!("expected a global model, got {other:?}"),
        }
    }

    pub async fn expect_error(&self) -> ErrorCode {
        match self.receive().await {
            Message::Error(error) => error.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    pub async fn send(&self, message: &Message) {
        within(
            "send",
            common::transport::send_uni(&self.connection, message),
        )
        .await
        .unwrap();
    }

    pub async fn answer(&self, offer: &RoundOffer, values: Vec<f32>) {
        self.send(&Message::Update(update(
            offer.round,
            offer.base_version,
            values,
        )))
        .await;
    }

    /// Closes the connection as an agent that shuts down would.
    pub async fn leave(self) {
        within("leave", self.dialer.shutdown()).await;
    }
}

pub fn update(round: u64, base_version: u64, values: Vec<f32>) -> Update {
    Update {
        round,
        base_version,
        sample_count: 10,
        payload: ModelPayload::Delta(values),
        metrics: LocalMetrics {
            mean_reward: -0.5,
            episodes: 1,
            slo_compliance: 0.95,
            cost: 3.0,
        },
    }
}
