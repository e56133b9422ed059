//! The round engine with fake time: every scenario is a script of inputs and the actions
//! they must produce.

use std::sync::Arc;
use std::time::Duration;

use common::proto::{
    ErrorCode, ErrorMessage, LocalMetrics, ModelArchitecture, ModelKind, ModelPayload, Update,
};

use super::*;
use crate::aggregate::rejection::{Reason, Rejection};
use crate::aggregate::round::AggregationConfig;
use crate::aggregate::strategy::Strategy;

const PARAMS: usize = 6;

fn arch() -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![2, 2])
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn policy() -> RoundPolicy {
    RoundPolicy {
        participation: 1.0,
        min_agents: 1,
        quorum: 1.0,
        grace: secs(2.0),
        deadline: secs(60.0),
        budget_env_steps: 500,
        interval: secs(10.0),
        max_rounds: None,
    }
}

fn engine_with(policy: RoundPolicy) -> RoundEngine {
    let config = EngineConfig {
        policy,
        aggregation: AggregationConfig {
            strategy: Strategy::FedAvg,
            clip_norm: None,
        },
        architecture: arch(),
        seed: 7,
    };
    let fleet = FleetModel {
        version: 1,
        weights: Arc::from(vec![1.0_f32; PARAMS]),
    };
    RoundEngine::new(config, fleet, 1, Duration::ZERO).unwrap()
}

fn join(cluster: &str, connection: u64, holds: Option<u64>) -> AgentJoin {
    AgentJoin {
        cluster_id: cluster.to_owned(),
        connection: ConnectionId(connection),
        holds,
        workload_tags: vec![format!("{cluster}-load")],
    }
}

/// Joins `clusters` (all holding version 1) at t = 0 and returns the actions of the last
/// join, which with `min_agents` = their number opens the round.
fn join_all(engine: &mut RoundEngine, clusters: &[&str]) -> Vec<Action> {
    let mut last = Vec::new();
    for (i, c) in clusters.iter().enumerate() {
        last = engine.joined(Duration::ZERO, join(c, i as u64, Some(1)));
    }
    last
}

fn delta(round: u64, base: u64, value: f32, samples: u64) -> Update {
    Update {
        round,
        base_version: base,
        sample_count: samples,
        payload: ModelPayload::Delta(vec![value; PARAMS]),
        metrics: LocalMetrics {
            mean_reward: -1.0,
            episodes: 2,
            slo_compliance: 0.9,
            cost: 10.0,
        },
    }
}

fn sends(actions: &[Action]) -> Vec<(String, Outgoing)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                cluster_id,
                message,
            } => Some((cluster_id.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

fn offers(actions: &[Action]) -> Vec<String> {
    sends(actions)
        .into_iter()
        .filter(|(_, m)| matches!(m, Outgoing::Offer(_)))
        .map(|(c, _)| c)
        .collect()
}

fn publication(actions: &[Action]) -> Option<&Publication> {
    actions.iter().find_map(|a| match a {
        Action::Publish(p) => Some(p),
        _ => None,
    })
}

fn closed(actions: &[Action]) -> Option<&RoundSummary> {
    actions.iter().find_map(|a| match a {
        Action::RoundClosed(s) => Some(s),
        _ => None,
    })
}

fn errors_to(actions: &[Action], cluster: &str) -> Vec<ErrorCode> {
    sends(actions)
        .into_iter()
        .filter_map(|(c, m)| match m {
            Outgoing::Error(e) if c == cluster => Some(e.code),
            _ => None,
        })
        .collect()
}

#[test]
fn no_round_opens_before_min_agents_are_connected() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 3,
        ..policy()
    });
    assert!(engine.joined(secs(0.0), join("a", 0, Some(1))).is_empty());
    assert!(engine.joined(secs(1.0), join("b", 1, Some(1))).is_empty());
    assert_eq!(
        engine.next_wakeup(),
        None,
        "nothing to wait for with 2 of 3 agents"
    );
    assert!(engine.tick(secs(100.0)).is_empty());
    let actions = engine.joined(secs(101.0), join("c", 2, Some(1)));
    assert_eq!(offers(&actions), ["a", "b", "c"]);
    assert_eq!(engine.open_round(), Some(1));
    let Some(Action::RoundOpened {
        round,
        base_version,
        participants,
    }) = actions.first()
    else {
        panic!("the first action announces the round: {actions:?}");
    };
    assert_eq!((*round, *base_version), (1, 1));
    assert_eq!(participants, &["a", "b", "c"]);
}

#[test]
fn an_offer_names_the_base_budget_and_time_left() {
    let mut engine = engine_with(policy());
    let actions = engine.joined(secs(3.0), join("a", 0, Some(1)));
    let sent = sends(&actions);
    let [(_, Outgoing::Offer(offer))] = sent.as_slice() else {
        panic!("expected exactly one offer: {sent:?}");
    };
    assert_eq!(offer.round, 1);
    assert_eq!(offer.base_version, 1);
    assert_eq!(offer.budget.env_steps, 500);
    assert_eq!(offer.deadline_ms, 60_000);
}

#[test]
fn the_base_model_precedes_an_offer_to_an_agent_that_lacks_it() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 3,
        ..policy()
    });
    engine.joined(secs(0.0), join("fresh", 0, None));
    engine.joined(secs(0.0), join("tuned", 1, Some(9)));
    let actions = engine.joined(secs(0.0), join("current", 2, Some(1)));
    let sent = sends(&actions);
    for cluster in ["fresh", "tuned"] {
        let mine: Vec<&Outgoing> = sent
            .iter()
            .filter(|(c, _)| c == cluster)
            .map(|(_, m)| m)
            .collect();
        assert!(
            matches!(
                mine.as_slice(),
                [Outgoing::GlobalModel { version: 1 }, Outgoing::Offer(_)]
            ),
            "{cluster}: {mine:?}"
        );
    }
    let current: Vec<&Outgoing> = sent
        .iter()
        .filter(|(c, _)| c == "current")
        .map(|(_, m)| m)
        .collect();
    assert!(
        matches!(current.as_slice(), [Outgoing::Offer(_)]),
        "{current:?}"
    );
}

#[test]
fn a_round_answered_by_everyone_closes_at_once_and_publishes_the_fedavg() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    assert_eq!(
        engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 100)),
        [Action::Accepted {
            cluster_id: "a".to_owned(),
            round: 1
        }],
        "accepted at once; nothing else until b answers"
    );
    let actions = engine.update(secs(2.0), "b", &delta(1, 1, 4.0, 300));
    let publication = publication(&actions).expect("all answered: publish");
    assert_eq!(publication.round, 1);
    assert_eq!(publication.parent, 1);
    // Base 1 plus the sample-weighted mean delta (100·1 + 300·4) / 400 = 3.25.
    assert_eq!(&*publication.weights, &[4.25_f32; PARAMS]);
    assert_eq!(publication.tags, ["a-load", "b-load"]);
    assert_eq!(publication.contributions.len(), 2);
    assert!(
        closed(&actions).is_none(),
        "not reported before it is published"
    );
    assert_eq!(engine.next_wakeup(), None, "nothing opens while publishing");

    let actions = engine.published(secs(2.5), 2);
    let summary = closed(&actions).expect("reported once published");
    assert_eq!(summary.version, Some(2));
    assert_eq!(summary.outcome(), RoundOutcome::Published);
    assert_eq!(summary.closed_by, CloseReason::AllAnswered);
    assert_eq!((summary.participants, summary.accepted), (2, 2));
    assert_eq!(summary.total_samples, 400);
    assert_eq!(summary.duration, secs(2.5));
    let metrics = summary.metrics.expect("contributors' metrics");
    assert_eq!(metrics.slo_compliance, 0.9);
    assert_eq!(metrics.episodes, 4);
    let pushed: Vec<_> = sends(&actions);
    assert_eq!(
        pushed,
        [
            ("a".to_owned(), Outgoing::GlobalModel { version: 2 }),
            ("b".to_owned(), Outgoing::GlobalModel { version: 2 }),
        ]
    );
    assert_eq!(engine.fleet().version, 2);
    assert_eq!(&*engine.fleet().weights, &[4.25_f32; PARAMS]);

    // The next round waits out the interval, then builds on version 2 without resending it.
    assert_eq!(engine.next_wakeup(), Some(secs(12.5)));
    assert!(engine.tick(secs(12.4)).is_empty());
    let actions = engine.tick(secs(12.5));
    assert_eq!(offers(&actions), ["a", "b"]);
    assert!(sends(&actions).iter().all(|(_, m)| matches!(
        m,
        Outgoing::Offer(o) if o.round == 2 && o.base_version == 2
    )));
}

#[test]
fn a_quorum_closes_the_round_early_after_the_grace() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 4,
        quorum: 0.5,
        ..policy()
    });
    join_all(&mut engine, &["a", "b", "c", "d"]);
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    assert_eq!(
        engine.next_wakeup(),
        Some(secs(60.0)),
        "one of four is no quorum"
    );
    let actions = engine.update(secs(3.0), "b", &delta(1, 1, 1.0, 10));
    assert!(publication(&actions).is_none(), "the grace has not passed");
    assert_eq!(engine.next_wakeup(), Some(secs(5.0)));
    assert!(publication(&engine.tick(secs(4.9))).is_none());
    let actions = engine.tick(secs(5.0));
    assert!(publication(&actions).is_some());
    let summary = closed(&engine.published(secs(5.0), 2))
        .cloned()
        .expect("closed");
    assert_eq!(summary.closed_by, CloseReason::Quorum);
    assert_eq!((summary.accepted, summary.participants), (2, 4));
}

#[test]
fn a_participant_that_disconnects_is_not_waited_for() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    let actions = engine.left(secs(2.0), "b", ConnectionId(1));
    assert!(publication(&actions).is_some(), "nobody left to wait for");
    let summary = closed(&engine.published(secs(2.0), 2)).cloned().unwrap();
    assert_eq!(summary.closed_by, CloseReason::AllAnswered);
    assert_eq!((summary.accepted, summary.departed), (1, 1));
}

#[test]
fn the_deadline_closes_a_round_with_a_disconnected_and_a_silent_participant() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 3,
        ..policy()
    });
    join_all(&mut engine, &["a", "b", "c"]);
    engine.update(secs(1.0), "a", &delta(1, 1, 2.0, 10));
    assert!(engine.left(secs(2.0), "b", ConnectionId(1)).is_empty());
    assert_eq!(engine.next_wakeup(), Some(secs(60.0)));
    assert!(engine.tick(secs(59.999)).is_empty());
    let actions = engine.tick(secs(60.0));
    let publication = publication(&actions).expect("the deadline closes the round");
    assert_eq!(&*publication.weights, &[3.0_f32; PARAMS]);
    let actions = engine.published(secs(60.0), 2);
    let summary = closed(&actions).unwrap();
    assert_eq!(summary.closed_by, CloseReason::Deadline);
    assert_eq!(
        (summary.participants, summary.accepted, summary.departed),
        (3, 1, 1)
    );
    // Only the agents still connected get the new model.
    let pushed: Vec<String> = sends(&actions).into_iter().map(|(c, _)| c).collect();
    assert_eq!(pushed, ["a", "c"]);
}

#[test]
fn a_round_without_a_valid_update_publishes_nothing_and_the_next_keeps_the_base() {
    let mut engine = engine_with(policy());
    engine.joined(secs(0.0), join("a", 0, Some(1)));
    let mut nan = delta(1, 1, 0.0, 10);
    nan.payload = ModelPayload::Delta(vec![f32::NAN; PARAMS]);
    let refused = engine.update(secs(1.0), "a", &nan);
    assert!(
        !refused.iter().any(|a| matches!(a, Action::Accepted { .. })),
        "{refused:?}"
    );
    let actions = engine.tick(secs(60.0));
    assert!(publication(&actions).is_none());
    let summary = closed(&actions).expect("closed without publishing");
    assert_eq!(summary.version, None);
    assert_eq!(summary.outcome(), RoundOutcome::Empty);
    assert_eq!(summary.accepted, 0);
    assert_eq!(summary.rejections.get(Reason::NonFinite), 1);
    assert_eq!(summary.metrics, None);
    let actions = engine.tick(secs(70.0));
    let sent = sends(&actions);
    assert!(
        matches!(sent.as_slice(), [(_, Outgoing::Offer(o))] if o.round == 2 && o.base_version == 1),
        "{sent:?}"
    );
}

#[test]
fn a_late_update_for_a_closed_round_is_refused_as_wrong_round() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    engine.tick(secs(60.0));
    engine.published(secs(60.0), 2);

    // Between rounds.
    let actions = engine.update(secs(61.0), "b", &delta(1, 1, 1.0, 10));
    assert_eq!(errors_to(&actions, "b"), [ErrorCode::WrongRound]);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Rejected { cluster_id, rejection: Rejection::NoOpenRound { got: 1 } } if cluster_id == "b"
    )));

    // And while the next round is open, where it is counted in that round.
    engine.tick(secs(70.0));
    assert_eq!(engine.open_round(), Some(2));
    let actions = engine.update(secs(71.0), "b", &delta(1, 1, 1.0, 10));
    assert_eq!(errors_to(&actions, "b"), [ErrorCode::WrongRound]);
    engine.update(secs(72.0), "a", &delta(2, 2, 1.0, 10));
    engine.update(secs(73.0), "b", &delta(2, 2, 1.0, 10));
    let summary = closed(&engine.published(secs(73.0), 3)).cloned().unwrap();
    assert_eq!(summary.rejections.get(Reason::WrongRound), 1);
    assert_eq!(summary.rejections.total(), 1);
    assert_eq!(summary.accepted, 2);
    assert_eq!(engine.rejections().get(Reason::WrongRound), 2);
}

#[test]
fn an_update_from_a_cluster_not_offered_the_round_is_refused() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 4,
        participation: 0.5,
        ..policy()
    });
    let actions = join_all(&mut engine, &["a", "b", "c", "d"]);
    let offered = offers(&actions);
    assert_eq!(offered.len(), 2);
    let outsider = ["a", "b", "c", "d"]
        .into_iter()
        .find(|c| !offered.iter().any(|o| o == c))
        .unwrap();
    let actions = engine.update(secs(1.0), outsider, &delta(1, 1, 1.0, 10));
    assert_eq!(errors_to(&actions, outsider), [ErrorCode::Unauthorized]);
    let actions = engine.update(secs(1.0), "stranger", &delta(1, 1, 1.0, 10));
    assert_eq!(errors_to(&actions, "stranger"), [ErrorCode::Unauthorized]);
    for c in &offered {
        engine.update(secs(2.0), c, &delta(1, 1, 1.0, 10));
    }
    let summary = closed(&engine.published(secs(2.0), 2)).cloned().unwrap();
    assert_eq!(summary.rejections.get(Reason::UnknownCluster), 2);
    assert_eq!(summary.accepted, 2);
}

#[test]
fn stale_nan_and_wrong_length_updates_are_refused_and_counted() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    let stale = delta(1, 0, 1.0, 10);
    let mut nan = delta(1, 1, 1.0, 10);
    nan.payload = ModelPayload::Weights(vec![1.0, f32::INFINITY, 1.0, 1.0, 1.0, 1.0]);
    let mut short = delta(1, 1, 1.0, 10);
    short.payload = ModelPayload::Delta(vec![0.5; PARAMS - 1]);
    let cases = [
        (stale, ErrorCode::StaleBase),
        (nan, ErrorCode::Invalid),
        (short, ErrorCode::Invalid),
    ];
    for (update, code) in &cases {
        let actions = engine.update(secs(1.0), "a", update);
        assert_eq!(errors_to(&actions, "a"), [*code]);
    }
    // A refusal does not count as an answer: `a` may still send a good update.
    assert_eq!(engine.open_round(), Some(1));
    engine.update(secs(2.0), "a", &delta(1, 1, 1.0, 10));
    let actions = engine.update(secs(3.0), "b", &delta(1, 1, 1.0, 10));
    assert!(publication(&actions).is_some());
    let summary = closed(&engine.published(secs(3.0), 2)).cloned().unwrap();
    assert_eq!(summary.rejections.get(Reason::StaleBase), 1);
    assert_eq!(summary.rejections.get(Reason::NonFinite), 1);
    assert_eq!(summary.rejections.get(Reason::WrongLength), 1);
    assert_eq!(summary.rejections.total(), 3);
    assert_eq!(summary.accepted, 2);
}

#[test]
fn a_participant_that_reports_an_error_counts_as_answered() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    let actions = engine.agent_error(
        secs(2.0),
        "b",
        &ErrorMessage::new(ErrorCode::Internal, "out of memory"),
    );
    assert!(publication(&actions).is_some());
    let summary = closed(&engine.published(secs(2.0), 2)).cloned().unwrap();
    assert_eq!((summary.accepted, summary.agent_errors), (1, 1));
}

#[test]
fn a_participant_that_reconnects_mid_round_is_offered_it_again() {
    let mut engine = engine_with(RoundPolicy {
        min_agents: 2,
        ..policy()
    });
    join_all(&mut engine, &["a", "b"]);
    // The new connection's hello comes in before the old one is noticed dead.
    let actions = engine.joined(secs(10.0), join("b", 5, Some(1)));
    let sent = sends(&actions);
    assert!(
        matches!(sent.as_slice(), [(c, Outgoing::Offer(o))] if c == "b" && o.round == 1 && o.deadline_ms == 50_000),
        "{sent:?}"
    );
    // The old connection's end changes nothing.
    assert!(engine.left(secs(11.0), "b", ConnectionId(1)).is_empty());
    assert_eq!(engine.connected(), 2);
    engine.update(secs(12.0), "a", &delta(1, 1, 1.0, 10));
    assert_eq!(engine.open_round(), Some(1), "still waiting for b");
    let actions = engine.update(secs(13.0), "b", &delta(1, 1, 1.0, 10));
    assert!(publication(&actions).is_some());
}

#[test]
fn a_failed_publication_closes_the_round_without_a_version() {
    let mut engine = engine_with(policy());
    engine.joined(secs(0.0), join("a", 0, Some(1)));
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    let actions = engine.publish_failed(secs(1.0), "disk full");
    let summary = closed(&actions).unwrap();
    assert_eq!(summary.version, None);
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.outcome(), RoundOutcome::Failed);
    assert!(sends(&actions).is_empty(), "no model to push");
    assert_eq!(engine.fleet().version, 1);
    let sent = sends(&engine.tick(secs(11.0)));
    assert!(
        matches!(sent.as_slice(), [(_, Outgoing::Offer(o))] if o.round == 2 && o.base_version == 1),
        "{sent:?}"
    );
}

#[test]
fn max_rounds_stops_the_engine() {
    let mut engine = engine_with(RoundPolicy {
        max_rounds: Some(2),
        interval: Duration::ZERO,
        ..policy()
    });
    engine.joined(secs(0.0), join("a", 0, Some(1)));
    engine.update(secs(1.0), "a", &delta(1, 1, 1.0, 10));
    let actions = engine.published(secs(1.0), 2);
    assert_eq!(
        offers(&actions),
        ["a"],
        "interval 0: the next round opens at once"
    );
    engine.update(secs(2.0), "a", &delta(2, 2, 1.0, 10));
    let actions = engine.published(secs(2.0), 3);
    assert!(
        matches!(actions.last(), Some(Action::Finished)),
        "{actions:?}"
    );
    assert!(engine.is_finished());
    assert!(engine.tick(secs(1000.0)).is_empty());
    assert!(
        engine
            .joined(secs(1000.0), join("b", 1, Some(3)))
            .is_empty()
    );
}

#[test]
fn participants_are_sampled_reproducibly_from_the_seed() {
    let run = || {
        let mut engine = engine_with(RoundPolicy {
            min_agents: 10,
            participation: 0.3,
            ..policy()
        });
        let clusters: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let names: Vec<&str> = clusters.iter().map(String::as_str).collect();
        offers(&join_all(&mut engine, &names))
    };
    let first = run();
    assert_eq!(first.len(), 3);
    assert_eq!(first, run());
}

#[test]
fn an_invalid_policy_or_starting_model_is_refused() {
    let config = |policy| EngineConfig {
        policy,
        aggregation: AggregationConfig {
            strategy: Strategy::FedAvg,
            clip_norm: None,
        },
        architecture: arch(),
        seed: 0,
    };
    let fleet = |n| FleetModel {
        version: 1,
        weights: Arc::from(vec![0.0_f32; n]),
    };
    for bad in [
        RoundPolicy {
            participation: 0.0,
            ..policy()
        },
        RoundPolicy {
            quorum: 1.5,
            ..policy()
        },
        RoundPolicy {
            min_agents: 0,
            ..policy()
        },
        RoundPolicy {
            max_rounds: Some(0),
            ..policy()
        },
    ] {
        assert!(matches!(
            RoundEngine::new(config(bad), fleet(PARAMS), 1, Duration::ZERO),
            Err(EngineError::Policy(_))
        ));
    }
    assert!(matches!(
        RoundEngine::new(config(policy()), fleet(PARAMS + 1), 1, Duration::ZERO),
        Err(EngineError::FleetWeights {
            expected: 6,
            got: 7
        })
    ));
}
