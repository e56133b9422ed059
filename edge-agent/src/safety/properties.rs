//! Property tests of the layer's two promises, whatever the policy and the world do: a
//! write never leaves `[min_replicas, max_replicas]`, and the confirmed writes never add or
//! remove more pods within any 60 s window than the per-minute limits allow.
//!
//! Each case draws a configuration and a run of control intervals: irregular gaps, metrics
//! present, missing or stale, random observations (some outside the training envelope),
//! random proposals and confidences, and writes and scrapes that fail at random so the
//! breakers open, probe and close. The test plays the cluster: `spec.replicas` changes only
//! by a write the layer asked for and the actuator confirmed.

use common::env::{OBSERVATION_LEN, Observation};
use proptest::prelude::*;

use super::config::{BreakerConfig, SafetyConfig};
use super::envelope::TrainingEnvelope;
use super::layer::{Proposal, SafetyLayer};
use super::test_support::Scene;

/// One control interval as the world and the policy play it.
#[derive(Debug, Clone)]
struct Interval {
    gap_s: u64,
    metrics: MetricsCase,
    cpu: f64,
    observation: [f32; OBSERVATION_LEN],
    proposed: u32,
    confidence: Option<f64>,
    write_succeeds: bool,
}

#[derive(Debug, Clone, Copy)]
enum MetricsCase {
    Fresh,
    Missing,
    Stale,
    ScrapeFails,
}

fn interval() -> impl Strategy<Value = Interval> {
    (
        1u64..=120,
        prop_oneof![
            6 => Just(MetricsCase::Fresh),
            1 => Just(MetricsCase::Missing),
            1 => Just(MetricsCase::Stale),
            1 => Just(MetricsCase::ScrapeFails),
        ],
        0.0f64..3.0,
        prop::array::uniform12(0.0f32..=1.0),
        0u32..=60,
        prop::option::of(0.0f64..=1.0),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(gap_s, metrics, cpu, observation, proposed, confidence, write_succeeds)| Interval {
                gap_s,
                metrics,
                cpu,
                observation,
                proposed,
                confidence,
                write_succeeds,
            },
        )
}

fn config() -> impl Strategy<Value = SafetyConfig> {
    (
        0u32..=5,
        1u32..=30,
        0u64..=240,
        0u64..=240,
        1u32..=8,
        1u32..=8,
        prop::bool::weighted(0.1),
        1u32..=4,
        1u64..=300,
    )
        .prop_map(
            |(min, span, up_cd, down_cd, added, removed, shadow, failures, open_s)| SafetyConfig {
                min_replicas: min,
                max_replicas: min + span,
                scale_up_cooldown_s: up_cd,
                scale_down_cooldown_s: down_cd,
                max_added_per_minute: added,
                max_removed_per_minute: removed,
                shadow_mode: shadow,
                breaker: BreakerConfig {
                    failure_threshold: failures,
                    open_duration_s: open_s,
                },
                ..SafetyConfig::default()
            },
        )
}

/// A confirmed write: when, and by how much `spec.replicas` moved.
#[derive(Debug, Clone, Copy)]
struct Applied {
    at_s: u64,
    delta: i64,
}

/// Pods added (or removed) by the writes in the 60 s window ending at `now_s`.
fn moved_within(applied: &[Applied], now_s: u64, sign: i64) -> i64 {
    applied
        .iter()
        .filter(|a| a.at_s + 60 > now_s)
        .map(|a| (a.delta * sign).max(0))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn writes_stay_within_bounds_and_rate_limits(
        config in config(),
        start in 0u32..=40,
        intervals in prop::collection::vec(interval(), 1..120),
    ) {
        let mut layer = SafetyLayer::new(config.clone()).expect("drawn configs are valid");
        layer.set_envelope(Some(TrainingEnvelope {
            low: [0.1; OBSERVATION_LEN],
            high: [0.9; OBSERVATION_LEN],
        }));
        // The cluster may start outside the bounds (set by hand before the agent ran); the
        // first write brings it inside, which is a bounds move, not a rate-limited one.
        let mut spec = start;
        let mut now_s = 1_000;
        let mut applied: Vec<Applied> = Vec::new();
        for step in intervals {
            now_s += step.gap_s;
            let mut scene = Scene::new(now_s, spec, step.cpu);
            scene.observation = Observation(step.observation);
            let scrape = match step.metrics {
                MetricsCase::Fresh => Ok(()),
                MetricsCase::Missing => {
                    scene = scene.without_metrics();
                    Ok(())
                }
                MetricsCase::Stale => {
                    scene = scene.scraped_at(now_s.saturating_sub(config.metrics_max_age_s + 1));
                    Ok(())
                }
                MetricsCase::ScrapeFails => {
                    scene = scene.without_metrics();
                    Err("connection refused".to_owned())
                }
            };
            layer.record_metrics(now_s, scrape);
            let proposal = Proposal {
                replicas: step.proposed,
                confidence: step.confidence,
            };
            let d = layer.decide(&scene.view(config.min_replicas, config.max_replicas), proposal);

            // Only a held count (a breaker open, nothing to do) may sit outside the bounds.
            prop_assert!(
                (config.min_replicas..=config.max_replicas).contains(&d.replicas)
                    || (!d.apply && d.replicas == spec),
                "decided {} outside [{}, {}] from {spec}", d.replicas,
                config.min_replicas, config.max_replicas,
            );
            if !d.apply {
                continue;
            }
            prop_assert!(!config.shadow_mode, "shadow mode asked for a write");
            prop_assert!(
                (config.min_replicas..=config.max_replicas).contains(&d.replicas),
                "write of {} outside [{}, {}]", d.replicas, config.min_replicas, config.max_replicas,
            );
            if step.write_succeeds {
                layer.record_actuation(now_s, Ok(()));
                let from = spec.clamp(config.min_replicas, config.max_replicas);
                applied.push(Applied { at_s: now_s, delta: i64::from(d.replicas) - i64::from(from) });
                spec = d.replicas;
                let added = moved_within(&applied, now_s, 1);
                let removed = moved_within(&applied, now_s, -1);
                prop_assert!(
                    added <= i64::from(config.max_added_per_minute),
                    "{added} pods added within 60 s (limit {})", config.max_added_per_minute,
                );
                prop_assert!(
                    removed <= i64::from(config.max_removed_per_minute),
                    "{removed} pods removed within 60 s (limit {})", config.max_removed_per_minute,
                );
            } else {
                layer.record_actuation(now_s, Err("the API answered 500".to_owned()));
            }
        }
    }
}
