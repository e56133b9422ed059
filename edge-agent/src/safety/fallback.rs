//! When the policy's proposal cannot be trusted and the HPA rule decides instead.
//!
//! The checks run in a fixed order and the first that fails is the reason: missing
//! metrics, stale metrics, an out-of-distribution observation, low confidence. One reason
//! per fallback keeps `rl_agent_fallback_total{reason}` a count of fallbacks, and the
//! earlier checks explain the later ones (an observation built without metrics is bound
//! to look unusual).

use common::policy::ClusterView;

use super::config::SafetyConfig;
use super::decision::{Override, OverrideKind};
use super::envelope::TrainingEnvelope;

/// Why the policy is not trusted with this decision, or `None` when it is. `envelope` is
/// the range the running policy was trained on; without one, the distribution check is
/// skipped. `confidence` is the policy's own, `None` for policies that have none.
pub(crate) fn distrust(
    config: &SafetyConfig,
    envelope: Option<&TrainingEnvelope>,
    view: &ClusterView<'_>,
    confidence: Option<f64>,
) -> Option<Override> {
    let Some(metrics) = view.metrics else {
        return Some(Override::new(
            OverrideKind::MetricsMissing,
            "no metrics: nothing scraped yet or the query failed",
        ));
    };
    // A scrape stamped in the future (clock skew) is as fresh as it gets.
    let age_s = view.now_s.saturating_sub(metrics.timestamp_s);
    if age_s > config.metrics_max_age_s {
        return Some(Override::new(
            OverrideKind::MetricsStale,
            format!(
                "newest scrape at t={} is {age_s} s old (max {} s)",
                metrics.timestamp_s, config.metrics_max_age_s
            ),
        ));
    }
    if let Some(x) = envelope.and_then(|e| e.excursion(view.observation, config.envelope_tolerance))
    {
        return Some(Override::new(
            OverrideKind::OutOfDistribution,
            format!(
                "observation[{}] = {} outside the training range [{}, {}] ± {}",
                x.index, x.value, x.low, x.high, config.envelope_tolerance
            ),
        ));
    }
    match confidence {
        // A network that emits something other than a probability is broken, whatever the
        // threshold.
        Some(c) if !(0.0..=1.0).contains(&c) => Some(Override::new(
            OverrideKind::LowConfidence,
            format!("confidence {c} is not within [0, 1]"),
        )),
        Some(c) if c < config.min_confidence => Some(Override::new(
            OverrideKind::LowConfidence,
            format!(
                "confidence {c} below min_confidence {}",
                config.min_confidence
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use common::env::OBSERVATION_LEN;

    use super::*;
    use crate::safety::test_support::Scene;

    const T0: u64 = 1000;

    fn kind(
        envelope: Option<&TrainingEnvelope>,
        scene: &Scene,
        confidence: Option<f64>,
    ) -> Option<OverrideKind> {
        distrust(
            &SafetyConfig::default(),
            envelope,
            &scene.view(1, 20),
            confidence,
        )
        .map(|o| o.kind)
    }

    /// Trained on 0.4–0.6 in every entry.
    fn envelope() -> TrainingEnvelope {
        TrainingEnvelope {
            low: [0.4; OBSERVATION_LEN],
            high: [0.6; OBSERVATION_LEN],
        }
    }

    #[test]
    fn fresh_metrics_in_range_and_confident_are_trusted() {
        let scene = Scene::new(T0, 4, 0.7);
        let e = envelope();
        assert_eq!(kind(Some(&e), &scene, Some(0.9)), None);
        // No confidence at all (e.g. the HPA) and no envelope: nothing to check.
        assert_eq!(kind(None, &scene, None), None);
    }

    #[test]
    fn missing_metrics() {
        let scene = Scene::new(T0, 4, 0.7).without_metrics();
        assert_eq!(
            kind(None, &scene, Some(0.9)),
            Some(OverrideKind::MetricsMissing)
        );
    }

    #[test]
    fn stale_after_exactly_60_s() {
        // Scraped at 940: 60 s old, still fresh. At 939: 61 s, stale.
        let fresh = Scene::new(T0, 4, 0.7).scraped_at(940);
        assert_eq!(kind(None, &fresh, None), None);
        let stale = Scene::new(T0, 4, 0.7).scraped_at(939);
        let o = distrust(&SafetyConfig::default(), None, &stale.view(1, 20), None).unwrap();
        assert_eq!(o.kind, OverrideKind::MetricsStale);
        assert_eq!(o.detail, "newest scrape at t=939 is 61 s old (max 60 s)");
        // From the future: fresh.
        let skewed = Scene::new(T0, 4, 0.7).scraped_at(T0 + 5);
        assert_eq!(kind(None, &skewed, None), None);
    }

    #[test]
    fn out_of_distribution_names_the_entry() {
        let e = envelope();
        // 0.66 is beyond 0.6 + 0.05.
        let scene = Scene::new(T0, 4, 0.7).with_entry(7, 0.66);
        let o = distrust(&SafetyConfig::default(), Some(&e), &scene.view(1, 20), None).unwrap();
        assert_eq!(o.kind, OverrideKind::OutOfDistribution);
        assert_eq!(
            o.detail,
            "observation[7] = 0.66 outside the training range [0.4, 0.6] ± 0.05"
        );
        // 0.64 is within the tolerance.
        let scene = Scene::new(T0, 4, 0.7).with_entry(7, 0.64);
        assert_eq!(kind(Some(&e), &scene, None), None);
        // Without an envelope the check is off.
        let scene = Scene::new(T0, 4, 0.7).with_entry(7, 0.99);
        assert_eq!(kind(None, &scene, None), None);
    }

    #[test]
    fn low_confidence_below_0_7() {
        let scene = Scene::new(T0, 4, 0.7);
        assert_eq!(kind(None, &scene, Some(0.7)), None);
        let o = distrust(
            &SafetyConfig::default(),
            None,
            &scene.view(1, 20),
            Some(0.69),
        )
        .unwrap();
        assert_eq!(o.kind, OverrideKind::LowConfidence);
        assert_eq!(o.detail, "confidence 0.69 below min_confidence 0.7");
        // Not a probability: distrusted even with the check switched off.
        let off = SafetyConfig {
            min_confidence: 0.0,
            ..SafetyConfig::default()
        };
        assert_eq!(distrust(&off, None, &scene.view(1, 20), Some(0.01)), None);
        for bad in [f64::NAN, 1.2, -0.1] {
            assert_eq!(
                distrust(&off, None, &scene.view(1, 20), Some(bad)).map(|o| o.kind),
                Some(OverrideKind::LowConfidence),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_first_failing_check_is_the_reason() {
        let e = envelope();
        // Stale, out of range and unsure: stale wins.
        let scene = Scene::new(T0, 4, 0.7).scraped_at(900).with_entry(0, 0.95);
        assert_eq!(
            kind(Some(&e), &scene, Some(0.1)),
            Some(OverrideKind::MetricsStale)
        );
        // Missing beats everything.
        let scene = scene.without_metrics();
        assert_eq!(
            kind(Some(&e), &scene, Some(0.1)),
            Some(OverrideKind::MetricsMissing)
        );
        // Out of range and unsure: out of range wins.
        let scene = Scene::new(T0, 4, 0.7).with_entry(0, 0.95);
        assert_eq!(
            kind(Some(&e), &scene, Some(0.1)),
            Some(OverrideKind::OutOfDistribution)
        );
    }
}
