//! Aggregation through its public API, with numbers worked out by hand.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};

use common::proto::{ErrorCode, LocalMetrics, ModelArchitecture, ModelKind, ModelPayload, Update};

use super::rejection::{Reason, Rejection};
use super::round::{AggregationConfig, Aggregator, ConfigError, RoundSpec};
use super::strategy::Strategy;

const ROUND: u64 = 7;
const BASE_VERSION: u64 = 3;

fn metrics() -> LocalMetrics {
    LocalMetrics {
        mean_reward: -0.5,
        episodes: 4,
        slo_compliance: 0.97,
        cost: 1.25,
    }
}

fn spec(base: &[f32], participants: &[&str]) -> RoundSpec {
    RoundSpec {
        round: ROUND,
        base_version: BASE_VERSION,
        architecture: ModelArchitecture {
            kind: ModelKind::Dqn,
            layers: vec![base.len() as u32],
            parameter_count: base.len() as u64,
        },
        base_weights: base.into(),
        participants: participants.iter().map(|&p| p.to_owned()).collect(),
    }
}

fn aggregator(
    strategy: Strategy,
    clip_norm: Option<f64>,
    base: &[f32],
    who: &[&str],
) -> Aggregator {
    Aggregator::new(
        AggregationConfig {
            strategy,
            clip_norm,
        },
        spec(base, who),
    )
    .expect("valid configuration")
}

fn update(sample_count: u64, payload: ModelPayload) -> Update {
    Update {
        round: ROUND,
        base_version: BASE_VERSION,
        sample_count,
        payload,
        metrics: metrics(),
    }
}

fn delta(values: &[f32]) -> ModelPayload {
    ModelPayload::Delta(values.to_vec())
}

fn assert_close(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (j, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= 1e-5 * e.abs().max(1.0),
            "coordinate {j}: got {a}, expected {e} (all: {actual:?})"
        );
    }
}

/// Runs a round where cluster `c<i>` sends `deltas[i]` with `samples[i]`.
fn run<D: AsRef<[f32]>>(
    strategy: Strategy,
    clip: Option<f64>,
    base: &[f32],
    deltas: &[(D, u64)],
) -> Vec<f32> {
    let names: Vec<String> = (0..deltas.len()).map(|i| format!("c{i}")).collect();
    let who: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut agg = aggregator(strategy, clip, base, &who);
    for (name, (d, samples)) in names.iter().zip(deltas) {
        agg.offer(name, &update(*samples, delta(d.as_ref())))
            .expect("accepted");
    }
    agg.finish().expect("something arrived").weights
}

#[test]
fn fedavg_weights_each_update_by_its_sample_count() {
    // Base [1, −1]. `a` (1 sample) sends full weights [3, 1], i.e. Δ = [2, 2]; `b`
    // (3 samples) sends Δ = [−2, 2]. Σ wΔ / Σ w = ([2, 2] + 3·[−2, 2]) / 4 = [−1, 2],
    // so the new weights are [0, 1].
    let mut agg = aggregator(Strategy::FedAvg, None, &[1.0, -1.0], &["a", "b"]);
    agg.offer("a", &update(1, ModelPayload::Weights(vec![3.0, 1.0])))
        .unwrap();
    agg.offer("b", &update(3, delta(&[-2.0, 2.0]))).unwrap();
    assert_eq!(agg.accepted(), 2);
    let result = agg.finish().unwrap();
    assert_close(&result.weights, &[0.0, 1.0]);
    assert_eq!(result.total_samples, 4);
    assert_eq!((result.round, result.base_version), (ROUND, BASE_VERSION));
    let who: Vec<(&str, u64)> = result
        .contributions
        .iter()
        .map(|c| (c.cluster_id.as_str(), c.sample_count))
        .collect();
    assert_eq!(who, [("a", 1), ("b", 3)]);
    // ‖[2, 2]‖ = ‖[−2, 2]‖ = 2√2; no bound, so nothing clipped.
    for c in &result.contributions {
        assert!((c.delta_norm - 8.0_f64.sqrt()).abs() < 1e-12);
        assert!(!c.clipped);
        assert_eq!(c.metrics, metrics());
    }
}

/// Weights become deltas in f64, which holds the difference of two f32 exactly while their
/// magnitudes are within 2²⁹ of each other, true of any trained network's neighbouring
/// versions; so one contributor's weights come back bit for bit.
#[test]
fn a_single_full_weights_update_is_reproduced_exactly() {
    let weights = vec![0.1_f32, -7.25, 1e-3, 3.0e7];
    let mut agg = aggregator(Strategy::FedAvg, None, &[0.5, 0.5, -0.5, 2.0], &["a"]);
    agg.offer("a", &update(10, ModelPayload::Weights(weights.clone())))
        .unwrap();
    assert_eq!(agg.finish().unwrap().weights, weights);
}

#[test]
fn trimmed_mean_drops_the_extremes_of_each_coordinate() {
    // Coordinate 0 gets Δ ∈ {−50, 1, 2, 6, 100}, coordinate 1 gets {0, 0, 0, 0, 10}.
    let deltas: [(&[f32], u64); 5] = [
        (&[-50.0, 0.0], 1),
        (&[1.0, 0.0], 1),
        (&[2.0, 10.0], 1),
        (&[6.0, 0.0], 1),
        (&[100.0, 0.0], 1),
    ];
    // ⌊0.2·5⌋ = 1 value dropped at each end: mean(1, 2, 6) = 3 and mean(0, 0, 0) = 0.
    let trimmed = run(
        Strategy::TrimmedMean { trim_fraction: 0.2 },
        None,
        &[10.0, 0.0],
        &deltas,
    );
    assert_close(&trimmed, &[13.0, 0.0]);
    // Trimming nothing is the plain mean: 59/5 = 11.8 and 10/5 = 2.
    let untrimmed = run(
        Strategy::TrimmedMean { trim_fraction: 0.0 },
        None,
        &[10.0, 0.0],
        &deltas,
    );
    assert_close(&untrimmed, &[21.8, 2.0]);
    // With four updates ⌊0.2·4⌋ = 0: nothing is trimmed yet, (−50 + 1 + 2 + 6)/4 = −10.25.
    let four = run(
        Strategy::TrimmedMean { trim_fraction: 0.2 },
        None,
        &[10.0, 0.0],
        &deltas[..4],
    );
    assert_close(&four, &[-0.25, 2.5]);
}

#[test]
fn median_takes_the_middle_value_and_ignores_sample_counts() {
    // Odd count: Δ ∈ {5, 1, 3} → 3.
    let odd = run(
        Strategy::Median,
        None,
        &[1.0],
        &[(&[5.0], 1), (&[1.0], 1), (&[3.0], 1)],
    );
    assert_close(&odd, &[4.0]);
    // Even count: Δ ∈ {4, 1, 3, 10} → (3 + 4)/2 = 3.5, even though the update of 10
    // claims a thousand times the samples of the others (FedAvg would give ≈ 9.99).
    let even: [(&[f32], u64); 4] = [(&[4.0], 1), (&[1.0], 1), (&[3.0], 1), (&[10.0], 1000)];
    assert_close(&run(Strategy::Median, None, &[0.0], &even), &[3.5]);
    assert_close(
        &run(Strategy::FedAvg, None, &[0.0], &even),
        &[(4.0 + 1.0 + 3.0 + 10_000.0) / 1003.0],
    );
}

/// Three honest agents report Δ = [1, 1], [2, 2], [3, 3]; a hostile one reports
/// [m, −m] for a huge m, all with one sample.
fn with_hostile(m: f32) -> [([f32; 2], u64); 4] {
    [
        ([1.0, 1.0], 1),
        ([2.0, 2.0], 1),
        ([3.0, 3.0], 1),
        ([m, -m], 1),
    ]
}

#[test]
fn a_hostile_update_drags_plain_fedavg_but_not_the_bounded_strategies() {
    let base = [0.0, 0.0];
    // Plain FedAvg follows the attacker: ((1 + 2 + 3 + 1000)/4, (6 − 1000)/4).
    let plain = run(Strategy::FedAvg, None, &base, &with_hostile(1000.0));
    assert_close(&plain, &[251.5, -248.5]);

    // Clipped to ‖Δ‖ ≤ 5 the attacker's Δ becomes 5/√2·[1, −1] ≈ [3.5355, −3.5355]
    // (the honest ones, at most 3√2 ≈ 4.24, are untouched): ((6 + 3.5355)/4, (6 − 3.5355)/4).
    let c = 5.0 / 2.0_f64.sqrt();
    let clipped = run(Strategy::FedAvg, Some(5.0), &base, &with_hostile(1000.0));
    assert_close(&clipped, &[(6.0 + c) / 4.0, (6.0 - c) / 4.0]);

    // Median: coordinate 0 sorted {1, 2, 3, m} → 2.5; coordinate 1 {−m, 1, 2, 3} → 1.5.
    let median = run(Strategy::Median, None, &base, &with_hostile(1000.0));
    assert_close(&median, &[2.5, 1.5]);
    // Trimmed mean with ⌊0.25·4⌋ = 1 dropped per end: the same middle pair.
    let trimmed = Strategy::TrimmedMean {
        trim_fraction: 0.25,
    };
    assert_close(
        &run(trimmed, None, &base, &with_hostile(1000.0)),
        &[2.5, 1.5],
    );

    // However large the attack, the bounded strategies give the same answer; plain
    // FedAvg moves by m/4.
    let huge = 1.0e30;
    for (strategy, clip, expected) in [
        (Strategy::FedAvg, Some(5.0), &clipped),
        (Strategy::Median, None, &median),
        (trimmed, None, &median),
    ] {
        let result = run(strategy, clip, &base, &with_hostile(huge));
        assert_close(
            &result,
            &expected.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        );
    }
    let dragged = run(Strategy::FedAvg, None, &base, &with_hostile(huge));
    assert!(dragged[0] > 2.0e29, "{dragged:?}");
}

/// The attack the federation issue names: ten agents train on similar data, so their
/// deltas are one shared direction plus noise; one of them sends its delta scaled ×1000.
/// Trimmed mean (10 % per end, so one value per end of each coordinate) must stay within
/// 0.25 × ‖honest mean‖ (L2) of the mean of the nine honest deltas; plain FedAvg is
/// dragged about 100 × ‖honest mean‖ away.
#[test]
fn one_agent_in_ten_scaled_by_1000_moves_trimmed_mean_a_bounded_distance_but_not_fedavg() {
    use rand::{RngExt, SeedableRng};
    const PARAMS: usize = 1_000;
    const AGENTS: usize = 10;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(4);
    let shared: Vec<f32> = (0..PARAMS).map(|_| rng.random_range(-0.01..0.01)).collect();
    let mut deltas: Vec<(Vec<f32>, u64)> = (0..AGENTS)
        .map(|_| {
            let d = shared
                .iter()
                .map(|g| g + rng.random_range(-0.002..0.002))
                .collect();
            (d, 500)
        })
        .collect();
    let honest_mean: Vec<f64> = (0..PARAMS)
        .map(|j| {
            deltas[..AGENTS - 1]
                .iter()
                .map(|(d, _)| f64::from(d[j]))
                .sum::<f64>()
                / (AGENTS - 1) as f64
        })
        .collect();
    for w in &mut deltas[AGENTS - 1].0 {
        *w *= 1000.0;
    }
    let base = vec![0.0_f32; PARAMS];
    let distance = |weights: &[f32]| {
        weights
            .iter()
            .zip(&honest_mean)
            .map(|(&w, &h)| (f64::from(w) - h).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let scale = honest_mean.iter().map(|h| h * h).sum::<f64>().sqrt();

    let trimmed = run(
        Strategy::TrimmedMean { trim_fraction: 0.1 },
        None,
        &base,
        &deltas,
    );
    let fedavg = run(Strategy::FedAvg, None, &base, &deltas);
    let (t, f) = (distance(&trimmed), distance(&fedavg));
    assert!(
        t <= 0.25 * scale,
        "trimmed mean {t} from the honest mean (‖honest‖ = {scale})"
    );
    assert!(
        f >= 50.0 * scale,
        "FedAvg only {f} from the honest mean (‖honest‖ = {scale})"
    );
}

#[test]
fn clipping_applies_to_full_weights_as_a_delta_against_the_base() {
    // Base [1, 1], weights [4, 5]: Δ = [3, 4], ‖Δ‖ = 5, clipped to 1 → [0.6, 0.8].
    let mut agg = aggregator(Strategy::FedAvg, Some(1.0), &[1.0, 1.0], &["a"]);
    agg.offer("a", &update(2, ModelPayload::Weights(vec![4.0, 5.0])))
        .unwrap();
    let result = agg.finish().unwrap();
    assert_close(&result.weights, &[1.6, 1.8]);
    assert_eq!(result.contributions[0].delta_norm, 5.0);
    assert!(result.contributions[0].clipped);

    // Under the bound nothing changes, for the median too.
    let under = run(
        Strategy::Median,
        Some(10.0),
        &[1.0, 1.0],
        &[(&[3.0, 4.0], 1)],
    );
    assert_close(&under, &[4.0, 5.0]);
    let over = run(
        Strategy::Median,
        Some(1.0),
        &[1.0, 1.0],
        &[(&[3.0, 4.0], 1)],
    );
    assert_close(&over, &[1.6, 1.8]);
}

#[test]
fn each_kind_of_bad_update_is_refused_with_its_reason_and_counted() {
    let base = [3.0e38_f32, 0.0];
    let mut agg = aggregator(Strategy::FedAvg, None, &base, &["a", "b"]);
    let good = || update(5, delta(&[0.0, 1.0]));
    let cases: Vec<(&str, Update, Rejection, &str, ErrorCode)> = vec![
        (
            "intruder",
            good(),
            Rejection::UnknownCluster,
            "unknown_cluster",
            ErrorCode::Unauthorized,
        ),
        (
            "a",
            Update {
                round: ROUND - 1,
                ..good()
            },
            Rejection::WrongRound {
                expected: ROUND,
                got: ROUND - 1,
            },
            "wrong_round",
            ErrorCode::WrongRound,
        ),
        (
            "a",
            Update {
                base_version: BASE_VERSION - 1,
                ..good()
            },
            Rejection::StaleBase {
                expected: BASE_VERSION,
                got: BASE_VERSION - 1,
            },
            "stale_base",
            ErrorCode::StaleBase,
        ),
        (
            "a",
            Update {
                sample_count: 0,
                ..good()
            },
            Rejection::ZeroSamples,
            "zero_samples",
            ErrorCode::Invalid,
        ),
        (
            "a",
            update(5, delta(&[0.0, 1.0, 2.0])),
            Rejection::WrongLength {
                expected: 2,
                got: 3,
            },
            "wrong_length",
            ErrorCode::Invalid,
        ),
        (
            "a",
            update(5, delta(&[0.0, f32::NAN])),
            Rejection::NonFinite { index: 1 },
            "non_finite",
            ErrorCode::Invalid,
        ),
        (
            "a",
            update(5, ModelPayload::Weights(vec![f32::NEG_INFINITY, 0.0])),
            Rejection::NonFinite { index: 0 },
            "non_finite",
            ErrorCode::Invalid,
        ),
        // 3e38 + 3e38 is finite in f64 but not in f32: the model would hold +∞.
        (
            "a",
            update(5, delta(&[3.0e38, 0.0])),
            Rejection::Overflow { index: 0 },
            "non_finite",
            ErrorCode::Invalid,
        ),
        // Full weights of −3e38 against a base of 3e38: a delta of −6e38.
        (
            "a",
            update(5, ModelPayload::Weights(vec![-3.0e38, 0.0])),
            Rejection::Overflow { index: 0 },
            "non_finite",
            ErrorCode::Invalid,
        ),
        (
            "a",
            Update {
                metrics: LocalMetrics {
                    cost: f64::INFINITY,
                    ..metrics()
                },
                ..good()
            },
            Rejection::NonFiniteMetric { name: "cost" },
            "non_finite",
            ErrorCode::Invalid,
        ),
    ];
    for (cluster, u, expected, label, code) in cases {
        let got = agg.offer(cluster, &u).expect_err(label);
        assert_eq!(got, expected);
        assert_eq!(got.as_str(), label);
        assert_eq!(got.error_code(), code);
    }
    // None of that counted as a contribution, so `a` may still send a good update;
    // a second one is a duplicate.
    agg.offer("a", &good()).unwrap();
    assert_eq!(agg.offer("a", &good()), Err(Rejection::Duplicate));
    assert_eq!(Rejection::Duplicate.as_str(), "duplicate");

    let counts = agg.rejections();
    let tally: Vec<(&str, u64)> = counts.iter().map(|(r, n)| (r.as_str(), n)).collect();
    assert_eq!(
        tally,
        [
            ("unknown_cluster", 1),
            ("duplicate", 1),
            ("wrong_round", 1),
            ("stale_base", 1),
            ("zero_samples", 1),
            ("wrong_length", 1),
            ("non_finite", 5),
        ]
    );
    assert_eq!(counts.total(), 11);
    assert_eq!(counts.get(Reason::NonFinite), 5);

    // Only the good update shaped the result.
    let result = agg.finish().unwrap();
    assert_eq!(result.weights, [3.0e38, 1.0]);
    assert_eq!(result.contributions.len(), 1);
    assert_eq!(result.total_samples, 5);
}

#[test]
fn a_round_where_nothing_was_accepted_publishes_nothing() {
    let mut agg = aggregator(Strategy::Median, None, &[0.0], &["a"]);
    assert!(agg.offer("b", &update(1, delta(&[1.0]))).is_err());
    assert_eq!(agg.rejections().total(), 1);
    assert_eq!(agg.accepted(), 0);
    assert!(agg.finish().is_none());
}

#[test]
fn streaming_fedavg_holds_one_model_whatever_the_number_of_agents() {
    let n = 1000;
    let base = vec![0.5_f32; n];
    let names: Vec<String> = (0..64).map(|i| format!("edge-{i}")).collect();
    let who: Vec<&str> = names.iter().map(String::as_str).collect();

    let mut fedavg = aggregator(Strategy::FedAvg, Some(100.0), &base, &who);
    assert_eq!(fedavg.held_model_floats(), n);
    let mut median = aggregator(Strategy::Median, None, &base, &who);
    for (i, name) in names.iter().enumerate() {
        let u = update(1 + i as u64, delta(&vec![i as f32 * 0.01; n]));
        fedavg.offer(name, &u).unwrap();
        median.offer(name, &u).unwrap();
        assert_eq!(fedavg.held_model_floats(), n, "after {} agents", i + 1);
        assert_eq!(median.held_model_floats(), n * (i + 1));
    }
    // Agent i sends Δ = 0.01·i with weight i + 1 (all below the clip bound):
    // Σ i(i+1) / Σ (i+1) over i < 64 = (85,344 + 2,016) / 2,080 = 42, so Δ̄ = 0.42.
    let result = fedavg.finish().unwrap();
    assert_close(&result.weights, &vec![0.92; n]);
}

#[test]
fn impossible_configurations_are_refused() {
    let new = |strategy, clip_norm, base: &[f32], params: u64| {
        let mut s = spec(base, &["a"]);
        s.architecture.parameter_count = params;
        Aggregator::new(
            AggregationConfig {
                strategy,
                clip_norm,
            },
            s,
        )
        .map(|_| ())
    };
    let half = Strategy::TrimmedMean { trim_fraction: 0.5 };
    assert_eq!(
        new(half, None, &[0.0], 1),
        Err(ConfigError::TrimFraction(0.5))
    );
    let nan = Strategy::TrimmedMean {
        trim_fraction: f64::NAN,
    };
    assert!(matches!(
        new(nan, None, &[0.0], 1),
        Err(ConfigError::TrimFraction(_))
    ));
    assert_eq!(
        new(Strategy::Median, Some(0.0), &[0.0], 1),
        Err(ConfigError::ClipNorm(0.0))
    );
    assert!(matches!(
        new(Strategy::FedAvg, Some(f64::INFINITY), &[0.0], 1),
        Err(ConfigError::ClipNorm(_))
    ));
    assert_eq!(
        new(Strategy::FedAvg, None, &[0.0, 1.0], 3),
        Err(ConfigError::BaseLength {
            expected: 3,
            got: 2
        })
    );
}

/// A `tracing` writer into memory, to read what an operator would see.
#[derive(Debug, Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_rejection_is_logged_with_the_cluster_and_the_reason() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut agg = aggregator(Strategy::FedAvg, None, &[0.0], &["edge-eu-1"]);
        let stale = Update {
            base_version: 1,
            ..update(1, delta(&[1.0]))
        };
        let _ = agg.offer("edge-eu-1", &stale);
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("cluster=\"edge-eu-1\""), "{log}");
    assert!(log.contains("reason=\"stale_base\""), "{log}");
    assert!(log.contains("trained from version 1"), "{log}");
}

#[test]
fn reason_labels_are_distinct() {
    let labels: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), Reason::ALL.len());
}
