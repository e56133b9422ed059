//! The coordinator server over real QUIC with mutual TLS on loopback, driven by scripted
//! agents: the federation conversation, refusals, and rounds that must not stall.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use common::proto::{ALPN, ErrorCode, Message, ModelArchitecture, ModelKind};
use common::transport::TransportSettings;
use coordinator::server::Event;
use coordinator::{CloseReason, Reason, RoundPolicy};
use support::{Agent, Fleet, PARAMS, architecture, dialer, policy, within};

#[tokio::test]
async fn an_agent_gets_the_model_an_offer_and_after_its_update_the_next_model() {
    let mut fleet = Fleet::start(policy(1)).await;
    let (agent, answer) = fleet.join("alpha").await;
    let Message::GlobalModel(model) = answer else {
        panic!("hello answered with {answer:?}");
    };
    assert_eq!(model.version, 1);
    assert_eq!(model.weights, vec![1.0; PARAMS]);
    assert_eq!(model.architecture, architecture());

    let offer = agent.expect_offer().await;
    assert_eq!((offer.round, offer.base_version), (1, 1));
    assert_eq!(offer.budget.env_steps, 10);
    agent.answer(&offer, vec![0.5; PARAMS]).await;

    let next = agent.expect_model().await;
    assert_eq!(next.version, 2);
    assert_eq!(next.weights, vec![1.5; PARAMS]);
    assert_eq!(next.tags, ["alpha-load"]);
    let summary = fleet
        .event("round closed", |e| match e {
            Event::RoundClosed(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(summary.version, Some(2));
    assert_eq!(summary.accepted, 1);
    assert_eq!(fleet.handle.current_version(), 2);
    fleet.handle.shutdown().await;
}

#[tokio::test]
async fn the_last_rounds_model_reaches_the_agent_when_the_coordinator_stops_right_after() {
    let rounds = RoundPolicy {
        max_rounds: Some(1),
        ..policy(1)
    };
    // A million parameters: 4 MB take a while to cross even loopback.
    let big = ModelArchitecture::dense(ModelKind::Dqn, vec![1000, 1000]);
    let params = big.parameter_count as usize;
    let fleet = Fleet::start_with(rounds, big.clone(), vec![1.0; params]).await;
    let agent = Agent::connect(fleet.dialer("alpha"), fleet.addr()).await;
    agent.hello("alpha", big).await;
    let offer = agent.expect_offer().await;
    agent.answer(&offer, vec![0.5; params]).await;
    // What `coordinator serve` does: shut down as soon as the last round is done, while
    // its model may still be on the way to the agent.
    within("the rounds to finish", fleet.handle.finished()).await;
    let stopped = tokio::spawn(fleet.handle.shutdown());
    let last = agent.expect_model().await;
    assert_eq!(last.version, 2);
    assert_eq!(last.weights, vec![1.5; params]);
    within("the shutdown", stopped).await.unwrap();
}

#[tokio::test]
async fn an_agent_that_disconnects_mid_round_does_not_stall_it() {
    let mut fleet = Fleet::start(RoundPolicy {
        deadline: Duration::from_secs(2),
        ..policy(3)
    })
    .await;
    let (a, _) = fleet.join("a").await;
    let (b, _) = fleet.join("b").await;
    let (c, _) = fleet.join("c").await;
    let offer = a.expect_offer().await;
    b.expect_offer().await;
    c.expect_offer().await;
    a.answer(&offer, vec![2.0; PARAMS]).await;
    b.leave().await;
    // c stays connected and silent: only the deadline can close the round.
    let summary = fleet
        .event("round closed", |e| match e {
            Event::RoundClosed(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(summary.closed_by, CloseReason::Deadline);
    assert_eq!(
        (summary.participants, summary.accepted, summary.departed),
        (3, 1, 1)
    );
    assert_eq!(summary.version, Some(2));
    // The silent agent still gets the result.
    let model = c.expect_model().await;
    assert_eq!((model.version, model.weights), (2, vec![3.0; PARAMS]));
    fleet.handle.shutdown().await;
}

#[tokio::test]
async fn nan_wrong_length_and_stale_updates_are_answered_with_errors_and_counted() {
    let mut fleet = Fleet::start(policy(1)).await;
    let (agent, _) = fleet.join("alpha").await;
    let offer = agent.expect_offer().await;

    let mut nan = vec![0.1; PARAMS];
    nan[3] = f32::NAN;
    agent.answer(&offer, nan).await;
    assert_eq!(agent.expect_error().await, ErrorCode::Invalid);
    agent.answer(&offer, vec![0.1; PARAMS + 1]).await;
    assert_eq!(agent.expect_error().await, ErrorCode::Invalid);
    agent
        .send(&Message::Update(support::update(
            offer.round,
            0,
            vec![0.1; PARAMS],
        )))
        .await;
    assert_eq!(agent.expect_error().await, ErrorCode::StaleBase);

    let mut rejected = Vec::new();
    for _ in 0..3 {
        rejected.push(
            fleet
                .event("rejection", |e| match e {
                    Event::UpdateRejected {
                        cluster_id, reason, ..
                    } => Some((cluster_id, reason)),
                    _ => None,
                })
                .await,
        );
    }
    assert_eq!(
        rejected,
        [
            ("alpha".to_owned(), Reason::NonFinite),
            ("alpha".to_owned(), Reason::WrongLength),
            ("alpha".to_owned(), Reason::StaleBase),
        ]
    );

    // The round is still open for a good update, and its record counts the refusals.
    agent.answer(&offer, vec![0.1; PARAMS]).await;
    let summary = fleet
        .event("round closed", |e| match e {
            Event::RoundClosed(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.rejections.get(Reason::NonFinite), 1);
    assert_eq!(summary.rejections.get(Reason::WrongLength), 1);
    assert_eq!(summary.rejections.get(Reason::StaleBase), 1);
    assert_eq!(summary.rejections.total(), 3);
    fleet.handle.shutdown().await;
}

#[tokio::test]
async fn a_late_update_after_its_round_closed_is_refused_as_wrong_round() {
    let mut fleet = Fleet::start(RoundPolicy {
        deadline: Duration::from_secs(1),
        ..policy(1)
    })
    .await;
    let (agent, _) = fleet.join("alpha").await;
    let offer = agent.expect_offer().await;
    fleet
        .event("round closed", |e| {
            matches!(e, Event::RoundClosed(_)).then_some(())
        })
        .await;
    agent.answer(&offer, vec![0.1; PARAMS]).await;
    assert_eq!(agent.expect_error().await, ErrorCode::WrongRound);
    let reason = fleet
        .event("rejection", |e| match e {
            Event::UpdateRejected { reason, .. } => Some(reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Reason::WrongRound);
    assert_eq!(fleet.handle.current_version(), 1, "nothing was published");
    fleet.handle.shutdown().await;
}

#[tokio::test]
async fn an_agent_with_another_model_shape_is_refused_and_disconnected() {
    let mut fleet = Fleet::start(policy(1)).await;
    let agent = Agent::connect(fleet.dialer("alpha"), fleet.addr()).await;
    let other = ModelArchitecture::dense(ModelKind::Dqn, vec![2, 3]);
    match agent.hello("alpha", other).await {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::IncompatibleArchitecture);
            assert!(e.message.contains("layers"), "{}", e.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    within("close", agent.connection.closed()).await;
    let refused = fleet
        .event("refusal", |e| match e {
            Event::AgentRefused { cluster_id, .. } => Some(cluster_id),
            Event::AgentJoined { cluster_id, .. } => panic!("{cluster_id} joined"),
            _ => None,
        })
        .await;
    assert_eq!(refused, "alpha");
    fleet.handle.shutdown().await;
}

/// The transport tests cover each refusal at the listener; these check that the server
/// wires them up: nobody without the fleet's certificate, or claiming another cluster,
/// joins, and a legitimate agent still does afterwards.
#[tokio::test]
async fn clients_without_the_fleets_certificate_or_with_a_false_claim_never_join() {
    let mut fleet = Fleet::start(policy(5)).await;

    // A certificate from another CA.
    let stranger_pki = support::Pki::new();
    let stranger = dialer(&fleet.pki, &stranger_pki.client("alpha"));
    match tokio::time::timeout(support::PATIENCE, stranger.connect(fleet.addr())).await {
        Ok(Ok(connection)) => {
            let agent = Agent {
                dialer: stranger,
                connection,
            };
            assert!(agent.try_hello("alpha", architecture()).await.is_err());
        }
        Ok(Err(_)) => {}
        Err(_) => panic!("the handshake neither failed nor finished"),
    }

    // No certificate at all.
    let connection = connect_without_certificate(&fleet).await;
    if let Some(connection) = connection {
        let hello = Message::Hello(common::proto::Hello {
            cluster_id: "alpha".into(),
            agent_version: "test".into(),
            architecture: architecture(),
            workload_tags: vec![],
        });
        assert!(
            within(
                "refusal",
                common::transport::request(&connection, &hello, 1 << 20)
            )
            .await
            .is_err()
        );
    }

    // The fleet's certificate for beta, claiming alpha.
    let liar = Agent::connect(fleet.dialer("beta"), fleet.addr()).await;
    match liar.try_hello("alpha", architecture()).await {
        Ok(Message::Error(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("expected a refusal, got {other:?}"),
    }

    let (_honest, answer) = fleet.join("gamma").await;
    assert!(matches!(answer, Message::GlobalModel(_)));
    let joined = fleet
        .event("join", |e| match e {
            Event::AgentJoined { cluster_id, .. } => Some(cluster_id),
            _ => None,
        })
        .await;
    assert_eq!(joined, "gamma", "only the honest agent joined");
    fleet.handle.shutdown().await;
}

/// A client that trusts the fleet CA but presents no certificate; `None` if the
/// handshake already fails on its side.
async fn connect_without_certificate(fleet: &Fleet) -> Option<quinn::Connection> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(fleet.pki.ca.cert_der().clone())
        .expect("the CA is a valid anchor");
    let mut tls =
        rustls::ClientConfig::builder_with_provider(common::transport::tls::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let config = common::transport::quic_client_config(tls, &TransportSettings::default())
        .expect("a QUIC client configuration");
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("a client socket");
    endpoint.set_default_client_config(config);
    let connecting = endpoint
        .connect(fleet.addr(), "localhost")
        .expect("a connection attempt");
    within("handshake", connecting).await.ok()
}

#[tokio::test]
async fn an_oversized_or_overlong_message_is_refused_and_the_agent_told() {
    let fleet = Fleet::start(policy(5)).await;
    let (agent, _) = fleet.join("alpha").await;
    let mut send = agent.connection.open_uni().await.unwrap();
    // A length prefix announcing 4 GiB: refused on its first four bytes.
    let _ = send.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 2, 3]).await;
    let _ = send.finish();
    assert_eq!(agent.expect_error().await, ErrorCode::Invalid);

    let mut frame = common::proto::encode(&Message::Error(common::proto::ErrorMessage::new(
        ErrorCode::Internal,
        "cannot train",
    )))
    .unwrap();
    frame.extend_from_slice(b"and then some");
    let mut send = agent.connection.open_uni().await.unwrap();
    let _ = send.write_all(&frame).await;
    let _ = send.finish();
    assert_eq!(agent.expect_error().await, ErrorCode::Invalid);

    // The connection is still good for the next message.
    agent
        .send(&Message::Update(support::update(1, 1, vec![0.0; PARAMS])))
        .await;
    assert_eq!(agent.expect_error().await, ErrorCode::WrongRound);
    fleet.handle.shutdown().await;
}
