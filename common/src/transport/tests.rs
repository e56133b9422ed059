//! Agents and a coordinator on loopback: who gets in, what a hello may claim, how fast a
//! silent peer is noticed, and what a reader refuses. Every wait is bounded by
//! [`BOUND`], so a regression fails instead of hanging the suite.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::{ConnectionError, WriteError};
use tokio::time::timeout;

use super::certs::{DevCa, IssuedCert};
use super::*;
use crate::proto::{
    CodecError, ErrorCode, GlobalModel, Hello, Message, ModelArchitecture, ModelKind,
    PROTOCOL_VERSION, encode,
};

const SERVER_NAME: &str = "coordinator.test";
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
/// The longest any step may take; the slowest legitimate one, noticing a dead peer, takes
/// at most 8 s with the default settings.
const BOUND: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match timeout(BOUND, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {BOUND:?}"),
    }
}

/// A fleet: its CA and a coordinator listening on loopback.
struct Fleet {
    ca: DevCa,
    listener: Listener,
    addr: SocketAddr,
}

impl Fleet {
    fn start(settings: TransportSettings) -> Self {
        let ca = DevCa::generate().unwrap();
        let server = ca.issue_server(&[SERVER_NAME.into()]).unwrap();
        let listener =
            Listener::bind(LOOPBACK, &ca.fleet_ca(), &server.credentials(), settings).unwrap();
        let addr = listener.local_addr().unwrap();
        Self { ca, listener, addr }
    }

    fn client_cert(&self, cluster: &str) -> IssuedCert {
        self.ca
            .issue_client(&ClusterId::new(cluster).unwrap())
            .unwrap()
    }

    /// An agent of `cluster` with a certificate from this fleet's CA.
    fn dialer(&self, cluster: &str, settings: TransportSettings) -> Dialer {
        self.dialer_with(&self.client_cert(cluster), settings)
    }

    fn dialer_with(&self, cert: &IssuedCert, settings: TransportSettings) -> Dialer {
        Dialer::bind(
            LOOPBACK,
            &self.ca.fleet_ca(),
            &cert.credentials(),
            SERVER_NAME,
            settings,
        )
        .unwrap()
    }

    /// The next attempt's handshake, as the coordinator sees it.
    async fn authenticate_next(&self) -> Result<AgentConnection, AcceptError> {
        let pending = bounded("accept", self.listener.accept()).await.unwrap();
        bounded("handshake", pending.authenticate()).await
    }
}

fn hello(cluster: &str) -> Hello {
    Hello {
        cluster_id: cluster.into(),
        agent_version: "0.1.0".into(),
        architecture: ModelArchitecture::dense(ModelKind::Dqn, vec![12, 256, 3]),
        workload_tags: vec!["web".into()],
    }
}

fn global_model() -> Message {
    Message::GlobalModel(GlobalModel {
        version: 7,
        architecture: ModelArchitecture::dense(ModelKind::Dqn, vec![12, 256, 3]),
        weights: vec![0.25; 4096],
        tags: vec!["web".into()],
    })
}

/// Sends `message` on a unidirectional stream of `from` and checks it arrives at `to`.
async fn push(from: &quinn::Connection, to: &quinn::Connection, message: Message, max: usize) {
    let (sent, received) = tokio::join!(
        send_uni(from, &message),
        bounded("push", receive_uni(to, max))
    );
    sent.unwrap();
    assert_eq!(received.unwrap(), message);
}

/// A client whose TLS the test shapes by hand, trusting the fleet CA for the server.
fn custom_dialer(fleet: &Fleet, shape: impl FnOnce(&mut rustls::ClientConfig)) -> Dialer {
    let builder = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(fleet.ca.fleet_ca().roots());
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![crate::proto::ALPN.to_vec()];
    shape(&mut config);
    let quic = quic_client_config(config, &TransportSettings::default()).unwrap();
    Dialer::with_config(LOOPBACK, quic, SERVER_NAME, "test CA").unwrap()
}

/// The agent's view of a refused handshake: either the handshake itself fails, or (TLS
/// 1.3 lets the client finish first) the connection is closed right after it.
async fn agent_sees_refusal(dialer: &Dialer, addr: SocketAddr) -> ConnectionError {
    match bounded("connect", dialer.connect(addr)).await {
        Err(ConnectError::Handshake { source, .. }) => source,
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(connection) => bounded("close", connection.closed()).await,
    }
}

#[tokio::test]
async fn an_agent_of_the_fleet_is_identified_by_its_certificate_and_its_hello_round_trips() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = fleet.dialer("eu-west-1", TransportSettings::default());
    let agent = tokio::spawn({
        let addr = fleet.addr;
        async move {
            let connection = dialer.connect(addr).await.unwrap();
            let reply = request(
                &connection,
                &Message::Hello(hello("eu-west-1")),
                crate::proto::DEFAULT_MAX_FRAME_BYTES,
            )
            .await
            .unwrap();
            dialer.shutdown().await;
            reply
        }
    });
    let agent_conn = fleet.authenticate_next().await.unwrap();
    assert_eq!(agent_conn.cluster_id().as_str(), "eu-west-1");
    let (received, mut send) = bounded("hello", agent_conn.receive_hello()).await.unwrap();
    assert_eq!(received, hello("eu-west-1"));
    write_message(&mut send, &global_model()).await.unwrap();
    let reply = bounded("reply", agent).await.unwrap();
    assert_eq!(reply, global_model());
    let closed = bounded("agent close", agent_conn.connection().closed()).await;
    assert!(
        matches!(&closed, ConnectionError::ApplicationClosed(c) if c.error_code == CLOSE_SHUTDOWN),
        "{closed:?}"
    );
}

#[tokio::test]
async fn messages_travel_on_unidirectional_streams_both_ways() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = fleet.dialer("alpha", TransportSettings::default());
    let (connection, agent_conn) =
        tokio::join!(async { dialer.connect(fleet.addr).await.unwrap() }, async {
            fleet.authenticate_next().await.unwrap()
        });
    let max = TransportSettings::default().max_frame_bytes;
    push(agent_conn.connection(), &connection, global_model(), max).await;
    push(
        &connection,
        agent_conn.connection(),
        Message::Hello(hello("alpha")),
        max,
    )
    .await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let fleet = Fleet::start(TransportSettings::default());
    let rogue_ca = DevCa::generate().unwrap();
    let rogue = rogue_ca
        .issue_client(&ClusterId::new("alpha").unwrap())
        .unwrap();
    // It trusts the real coordinator; only its own certificate is foreign.
    let dialer = fleet.dialer_with(&rogue, TransportSettings::default());
    let (agent_view, coordinator_view) = tokio::join!(
        agent_sees_refusal(&dialer, fleet.addr),
        fleet.authenticate_next()
    );
    let err = coordinator_view.unwrap_err();
    assert!(matches!(err, AcceptError::Handshake { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("not signed by the fleet CA at the in-memory development CA"),
        "{text}"
    );
    assert!(
        matches!(agent_view, ConnectionError::ConnectionClosed(_)),
        "{agent_view:?}"
    );
}

#[tokio::test]
async fn an_agent_refuses_a_coordinator_from_another_ca() {
    let fleet = Fleet::start(TransportSettings::default());
    let other_fleet = DevCa::generate().unwrap();
    let cert = other_fleet
        .issue_client(&ClusterId::new("alpha").unwrap())
        .unwrap();
    let dialer = Dialer::bind(
        LOOPBACK,
        &other_fleet.fleet_ca(),
        &cert.credentials(),
        SERVER_NAME,
        TransportSettings::default(),
    )
    .unwrap();
    let (agent_view, coordinator_view) =
        tokio::join!(dialer.connect(fleet.addr), fleet.authenticate_next());
    let err = agent_view.unwrap_err();
    assert!(
        err.to_string()
            .contains("coordinator's certificate is not signed by the fleet CA"),
        "{err}"
    );
    assert!(coordinator_view.is_err());
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = custom_dialer(&fleet, |_| {});
    let (agent_view, coordinator_view) = tokio::join!(
        agent_sees_refusal(&dialer, fleet.addr),
        fleet.authenticate_next()
    );
    let text = coordinator_view.unwrap_err().to_string();
    assert!(text.contains("presented no client certificate"), "{text}");
    assert!(
        matches!(agent_view, ConnectionError::ConnectionClosed(_)),
        "{agent_view:?}"
    );
}

#[tokio::test]
async fn the_server_certificate_cannot_stand_in_for_an_agent() {
    // It chains to the fleet CA, but is issued for serverAuth and names no cluster.
    let fleet = Fleet::start(TransportSettings::default());
    let server_cert = fleet.ca.issue_server(&[SERVER_NAME.into()]).unwrap();
    let dialer = fleet.dialer_with(&server_cert, TransportSettings::default());
    let (_, coordinator_view) = tokio::join!(
        agent_sees_refusal(&dialer, fleet.addr),
        fleet.authenticate_next()
    );
    let text = coordinator_view.unwrap_err().to_string();
    assert!(text.contains("clientAuth"), "{text}");
}

#[tokio::test]
async fn a_client_offering_another_protocol_version_is_refused() {
    let fleet = Fleet::start(TransportSettings::default());
    let cert = fleet.client_cert("alpha");
    let mut config = tls::client_config(&fleet.ca.fleet_ca(), &cert.credentials()).unwrap();
    let other = format!("rlas/{}", PROTOCOL_VERSION + 1);
    config.alpn_protocols = vec![other.into_bytes()];
    let quic = quic_client_config(config, &TransportSettings::default()).unwrap();
    let dialer = Dialer::with_config(LOOPBACK, quic, SERVER_NAME, "test CA").unwrap();
    let (agent_view, coordinator_view) =
        tokio::join!(dialer.connect(fleet.addr), fleet.authenticate_next());
    // The server answers the ClientHello with an alert: neither side gets a connection.
    let agent_err = agent_view.unwrap_err();
    assert!(
        agent_err
            .to_string()
            .contains("different protocol versions"),
        "{agent_err}"
    );
    let text = coordinator_view.unwrap_err().to_string();
    assert!(text.contains("different protocol versions"), "{text}");
}

#[tokio::test]
async fn a_hello_claiming_another_cluster_is_answered_with_an_error_and_a_close() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = fleet.dialer("alpha", TransportSettings::default());
    let agent = tokio::spawn({
        let addr = fleet.addr;
        async move {
            let connection = dialer.connect(addr).await.unwrap();
            let reply = request(
                &connection,
                &Message::Hello(hello("beta")),
                crate::proto::DEFAULT_MAX_FRAME_BYTES,
            )
            .await;
            (reply, connection.closed().await)
        }
    });
    let agent_conn = fleet.authenticate_next().await.unwrap();
    let err = bounded("hello", agent_conn.receive_hello())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            HelloError::Claim(IdentityError::ClaimMismatch { certified, claimed })
                if certified.as_str() == "alpha" && claimed == "beta"
        ),
        "{err:?}"
    );
    let (reply, closed) = bounded("agent", agent).await.unwrap();
    match reply.unwrap() {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::Unauthorized);
            assert!(e.message.contains("issued to cluster `alpha`"), "{e:?}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(
        matches!(&closed, ConnectionError::ApplicationClosed(c) if c.error_code == CLOSE_UNAUTHORIZED),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_connection_that_opens_with_something_else_than_a_hello_is_closed() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = fleet.dialer("alpha", TransportSettings::default());
    let agent = tokio::spawn({
        let addr = fleet.addr;
        async move {
            let connection = dialer.connect(addr).await.unwrap();
            let reply = request(&connection, &global_model(), 1024).await;
            (reply, connection.closed().await)
        }
    });
    let agent_conn = fleet.authenticate_next().await.unwrap();
    let err = bounded("hello", agent_conn.receive_hello())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HelloError::NotHello {
                got: "global model",
                ..
            }
        ),
        "{err:?}"
    );
    let (reply, closed) = bounded("agent", agent).await.unwrap();
    assert!(
        matches!(reply, Ok(Message::Error(ref e)) if e.code == ErrorCode::Invalid),
        "{reply:?}"
    );
    assert!(
        matches!(&closed, ConnectionError::ApplicationClosed(c) if c.error_code == CLOSE_PROTOCOL_VIOLATION),
        "{closed:?}"
    );
}

#[tokio::test]
async fn an_oversized_frame_is_refused_on_its_length_prefix() {
    let settings = TransportSettings {
        max_frame_bytes: 1024,
        ..TransportSettings::default()
    };
    let fleet = Fleet::start(settings);
    let dialer = fleet.dialer("alpha", settings);
    let (connection, agent_conn) =
        tokio::join!(async { dialer.connect(fleet.addr).await.unwrap() }, async {
            fleet.authenticate_next().await.unwrap()
        });
    // A header announcing 1 GiB, a few payload bytes, and no end of stream: a reader that
    // waited for the frame, or for the stream's end, would hang here.
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    let mut header = (1u32 << 30).to_be_bytes().to_vec();
    header.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    header.extend_from_slice(&[0; 16]);
    send.write_all(&header).await.unwrap();
    let (_, mut server_recv) = bounded("accept", agent_conn.connection().accept_bi())
        .await
        .unwrap();
    let refused = bounded(
        "refusal",
        read_message(&mut server_recv, settings.max_frame_bytes),
    )
    .await;
    let err = refused.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::Codec(CodecError::FrameTooLarge {
                len: 1_073_741_824,
                limit: 1024
            })
        ),
        "{err:?}"
    );
    // The sender learns it from the stop.
    assert_eq!(
        bounded("stop", send.stopped()).await.unwrap(),
        Some(STREAM_REFUSED)
    );
    assert!(matches!(
        send.write_all(&[0; 16]).await,
        Err(WriteError::Stopped(code)) if code == STREAM_REFUSED
    ));
    // The connection survives the refused stream.
    let max = settings.max_frame_bytes;
    push(
        &connection,
        agent_conn.connection(),
        Message::Hello(hello("alpha")),
        max,
    )
    .await;
}

#[tokio::test]
async fn a_stream_with_more_than_one_frame_or_a_cut_frame_is_refused() {
    let fleet = Fleet::start(TransportSettings::default());
    let dialer = fleet.dialer("alpha", TransportSettings::default());
    let (connection, agent_conn) =
        tokio::join!(async { dialer.connect(fleet.addr).await.unwrap() }, async {
            fleet.authenticate_next().await.unwrap()
        });
    let frame = encode(&Message::Hello(hello("alpha"))).unwrap();
    let max = TransportSettings::default().max_frame_bytes;
    type Expected = fn(&CodecError) -> bool;
    let cases: [(Vec<u8>, Expected); 3] = [
        ([frame.clone(), frame.clone()].concat(), |e| {
            matches!(e, CodecError::TrailingBytes { .. })
        }),
        (frame[..frame.len() - 1].to_vec(), |e| {
            matches!(e, CodecError::Truncated { .. })
        }),
        (Vec::new(), |e| {
            matches!(e, CodecError::Truncated { got: 0, .. })
        }),
    ];
    for (bytes, expected) in cases {
        let mut send = connection.open_uni().await.unwrap();
        send.write_all(&bytes).await.unwrap();
        send.finish().unwrap();
        let err = bounded("read", receive_uni(agent_conn.connection(), max))
            .await
            .unwrap_err();
        match &err {
            StreamError::Codec(codec) => assert!(expected(codec), "{err:?}"),
            other => panic!("expected a codec error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_silent_agent_is_noticed_within_the_idle_timeout() {
    let settings = TransportSettings::default();
    let fleet = Arc::new(Fleet::start(settings));
    // The agent lives on a runtime of its own, so it can be killed without a word: when
    // the runtime goes, its endpoint's driver is dropped and nothing, not even a close, is
    // sent again.
    let client_fleet = fleet.clone();
    let killed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let parts = runtime.block_on(async {
            let dialer = client_fleet.dialer("alpha", settings);
            let connection = dialer.connect(client_fleet.addr).await.unwrap();
            // Wait until the coordinator has this connection and its hello.
            let (mut send, mut recv) = connection.open_bi().await.unwrap();
            write_message(&mut send, &Message::Hello(hello("alpha")))
                .await
                .unwrap();
            let reply = read_message(&mut recv, settings.max_frame_bytes).await;
            (dialer, connection, reply)
        });
        runtime.shutdown_background();
        parts
    });
    let agent_conn = fleet.authenticate_next().await.unwrap();
    let (_, mut send) = bounded("hello", agent_conn.receive_hello()).await.unwrap();
    write_message(&mut send, &global_model()).await.unwrap();
    let (dialer, connection, reply) = tokio::task::spawn_blocking(move || killed.join())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.unwrap(), global_model());
    // The agent is dead now. The coordinator finds out from the idle timeout alone.
    let closed = bounded("noticing the dead agent", agent_conn.connection().closed()).await;
    assert_eq!(closed, ConnectionError::TimedOut);
    drop((connection, dialer));
}

#[tokio::test]
async fn keep_alives_hold_an_idle_connection_open_past_the_idle_timeout() {
    // Short enough to keep the test quick, with room for a loaded machine to stall the
    // runtime for two seconds without a false failure.
    let settings = TransportSettings {
        keep_alive_interval: Duration::from_millis(250),
        idle_timeout: Duration::from_millis(2500),
        ..TransportSettings::default()
    };
    let fleet = Fleet::start(settings);
    let dialer = fleet.dialer("alpha", settings);
    let (connection, agent_conn) =
        tokio::join!(async { dialer.connect(fleet.addr).await.unwrap() }, async {
            fleet.authenticate_next().await.unwrap()
        });
    // Two idle timeouts without a message.
    tokio::time::sleep(2 * settings.idle_timeout).await;
    assert_eq!(connection.close_reason(), None);
    assert_eq!(agent_conn.connection().close_reason(), None);
    push(
        &connection,
        agent_conn.connection(),
        Message::Hello(hello("alpha")),
        1024,
    )
    .await;
}

#[test]
fn settings_that_would_kill_idle_connections_are_refused() {
    let tls = || {
        let ca = DevCa::generate().unwrap();
        let server = ca.issue_server(&[SERVER_NAME.into()]).unwrap();
        tls::server_config(&ca.fleet_ca(), &server.credentials()).unwrap()
    };
    for (keep_alive, idle) in [(6, 6), (7, 6), (0, 6)] {
        let settings = TransportSettings {
            keep_alive_interval: Duration::from_secs(keep_alive),
            idle_timeout: Duration::from_secs(idle),
            ..TransportSettings::default()
        };
        let err = quic_server_config(tls(), &settings).unwrap_err();
        assert!(matches!(err, EndpointError::Settings { .. }), "{err:?}");
    }
    let settings = TransportSettings {
        max_concurrent_streams: 0,
        ..TransportSettings::default()
    };
    assert!(quic_server_config(tls(), &settings).is_err());
}

/// Small receive windows throttle a sender, they do not truncate: a model many windows
/// long arrives whole, and windows that could never carry a stream are refused.
#[tokio::test]
async fn small_receive_windows_still_carry_a_large_message() {
    let ca = DevCa::generate().unwrap();
    let server = ca.issue_server(&[SERVER_NAME.into()]).unwrap();
    let settings = TransportSettings::default();
    let bad = ReceiveWindows {
        stream: 64 * 1024,
        connection: 1024,
    };
    assert!(matches!(
        Listener::bind_with_receive_windows(
            LOOPBACK,
            &ca.fleet_ca(),
            &server.credentials(),
            settings,
            bad
        ),
        Err(EndpointError::Settings { .. })
    ));
    let windows = ReceiveWindows {
        stream: 16 * 1024,
        connection: 16 * 1024,
    };
    let listener = Listener::bind_with_receive_windows(
        LOOPBACK,
        &ca.fleet_ca(),
        &server.credentials(),
        settings,
        windows,
    )
    .unwrap();
    let fleet = Fleet {
        addr: listener.local_addr().unwrap(),
        listener,
        ca,
    };
    let dialer = fleet.dialer("alpha", settings);
    let (agent, coordinator) = tokio::join!(dialer.connect(fleet.addr), fleet.authenticate_next());
    let (agent, coordinator) = (agent.unwrap(), coordinator.unwrap());
    let model = Message::GlobalModel(GlobalModel {
        version: 1,
        architecture: ModelArchitecture::dense(ModelKind::Dqn, vec![12, 256, 3]),
        weights: (0..250_000).map(|i| i as f32).collect(),
        tags: vec![],
    });
    push(
        &agent,
        coordinator.connection(),
        model,
        crate::proto::DEFAULT_MAX_FRAME_BYTES,
    )
    .await;
}
