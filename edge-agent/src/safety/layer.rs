//! The safety layer itself: one decision per control interval, plus the feedback that
//! drives its breakers and its memory of applied changes.

use common::ConfigError;
use common::policy::{ClusterView, Hpa, Policy};

use super::breaker::{BreakerState, CircuitBreaker};
use super::config::SafetyConfig;
use super::decision::{Override, OverrideKind, SafetyDecision};
use super::envelope::TrainingEnvelope;
use super::fallback::distrust;
use super::limits::{ScaleHistory, anchor, apply_cooldown, apply_rate_limit, clamp_to_bounds};

/// What a policy asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Proposal {
    /// The replica count the policy wants.
    pub(crate) replicas: u32,
    /// How sure the policy is, in [0, 1]: the chosen action's probability for PPO, the
    /// Q-value margin mapped to [0, 1] for DQN. `None` for policies without the notion
    /// (the HPA itself), which are never distrusted for it.
    pub(crate) confidence: Option<f64>,
}

impl Proposal {
    /// A proposal without a confidence.
    pub(crate) fn new(replicas: u32) -> Self {
        Self {
            replicas,
            confidence: None,
        }
    }

    /// The same proposal with a confidence.
    pub(crate) fn with_confidence(self, confidence: f64) -> Self {
        Self {
            confidence: Some(confidence),
            ..self
        }
    }
}

/// A write the actuator was told to make and whose outcome is not known yet.
#[derive(Debug, Clone, Copy)]
struct PendingWrite {
    from: u32,
    to: u32,
}

/// Checks every proposal before it reaches the actuator.
///
/// The rules apply in this order, each to the result of the one before:
///
/// 1. **Trust.** Missing metrics, stale metrics, an observation outside the training
///    envelope, low confidence (the first that applies is the reason): the HPA rule decides
///    instead of the policy. It comes first so the HPA's answer gets the same safety net.
/// 2. **Bounds**: `[min_replicas, max_replicas]`.
/// 3. **Cooldowns**: a move in a direction whose cooldown since the last applied change
///    is still running holds at the current count (brought inside the bounds).
/// 4. **Rate limits**: the move is cut to what is left of the direction's per-minute
///    allowance.
/// 5. **Circuit breakers**: while the actuator's or the metrics' breaker is open, the
///    current count holds and nothing is written. A half-open actuator breaker lets one
///    write through as its probe.
/// 6. **Shadow mode**: the decision is reported but not written.
///
/// Every rule that changes the number, or withholds the write, adds an [`Override`]; a
/// fallback is always recorded, even when the HPA happens to agree with the policy.
///
/// The caller reports what happened next: [`Self::record_metrics`] after each scrape and
/// [`Self::record_actuation`] after each write the layer asked for. Only writes reported as
/// successful count for cooldowns and rate limits.
///
/// The fallback HPA runs only when it is in charge, so the scale events it remembers are
/// ones it asked for. After a stretch under the policy it therefore starts like a newly
/// created HPA, whose initial recommendation (the current count) holds scale-downs for its
/// stabilisation window: the cautious choice just after trust in the policy was lost.
#[derive(Debug)]
pub(crate) struct SafetyLayer {
    config: SafetyConfig,
    envelope: Option<TrainingEnvelope>,
    hpa: Hpa,
    actuator: CircuitBreaker,
    metrics: CircuitBreaker,
    history: ScaleHistory,
    pending: Option<PendingWrite>,
}

impl SafetyLayer {
    /// A layer with no training envelope (the distribution check is off until one is set).
    pub(crate) fn new(config: SafetyConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            hpa: Hpa::new(config.fallback.clone()),
            actuator: CircuitBreaker::new(config.breaker.clone()),
            metrics: CircuitBreaker::new(config.breaker.clone()),
            config,
            envelope: None,
            history: ScaleHistory::default(),
            pending: None,
        })
    }

    /// Sets the envelope of the policy now running; `None` switches the check off (e.g. for
    /// a baseline policy).
    pub(crate) fn set_envelope(&mut self, envelope: Option<TrainingEnvelope>) {
        self.envelope = envelope;
    }

    /// The settings in force.
    pub(crate) fn config(&self) -> &SafetyConfig {
        &self.config
    }

    /// The actuator breaker's state at `now_s`, for metrics and logs.
    pub(crate) fn actuator_breaker(&self, now_s: u64) -> BreakerState {
        self.actuator.state(now_s)
    }

    /// The metrics breaker's state at `now_s`, for metrics and logs.
    pub(crate) fn metrics_breaker(&self, now_s: u64) -> BreakerState {
        self.metrics.state(now_s)
    }

    /// Decides what to write at `view.now_s`, starting from the policy's `proposal`. The
    /// view is the one the policy saw; its replica bounds are ignored in favour of the
    /// layer's own.
    pub(crate) fn decide(&mut self, view: &ClusterView<'_>, proposal: Proposal) -> SafetyDecision {
        let now_s = view.now_s;
        let current = view.spec_replicas;
        let mut overrides = Vec::new();

        // 1. Trust.
        let mut target = match distrust(
            &self.config,
            self.envelope.as_ref(),
            view,
            proposal.confidence,
        ) {
            None => proposal.replicas,
            Some(reason) => {
                let hpa = self.run_hpa(view, reason.kind);
                overrides.push(Override::new(
                    reason.kind,
                    format!(
                        "{}; the HPA rule decided {hpa} instead of {}",
                        reason.detail, proposal.replicas
                    ),
                ));
                hpa
            }
        };

        // 2–4. Bounds, cooldowns, rate limits.
        target = clamp_to_bounds(&self.config, target, &mut overrides);
        let anchor = anchor(&self.config, current);
        target = apply_cooldown(
            &self.config,
            &self.history,
            now_s,
            anchor,
            target,
            &mut overrides,
        );
        target = apply_rate_limit(
            &self.config,
            &self.history,
            now_s,
            anchor,
            target,
            &mut overrides,
        );

        // 5. Breakers.
        if target != current
            && let Some(detail) = self.breaker_hold(now_s)
        {
            overrides.push(Override::new(
                OverrideKind::CircuitOpen,
                format!("{current} → {target} held at {current}: {detail}"),
            ));
            target = current;
        }

        // 6. Shadow mode.
        let mut apply = target != current;
        if apply && self.config.shadow_mode {
            overrides.push(Override::new(
                OverrideKind::Shadow,
                format!("would have scaled {current} → {target}; nothing written"),
            ));
            apply = false;
        }

        // An unreported earlier write stays pending until this one replaces it, so a late
        // report still counts it.
        if apply {
            // Rule 5 checked the breaker would allow it; this takes the half-open probe.
            let acquired = self.actuator.try_acquire(now_s);
            debug_assert!(acquired, "breaker refused a write rule 5 let through");
            self.pending = Some(PendingWrite {
                from: current,
                to: target,
            });
        }

        SafetyDecision {
            current,
            proposed: proposal.replicas,
            replicas: target,
            apply,
            overrides,
        }
    }

    /// Reports the outcome of the write the last decision asked for, at `now_s`. A success
    /// counts the change for cooldowns and rate limits and closes a half-open breaker; a
    /// failure counts towards opening the actuator breaker.
    pub(crate) fn record_actuation(&mut self, now_s: u64, outcome: Result<(), String>) {
        let pending = self.pending.take();
        match outcome {
            Ok(()) => {
                self.actuator.record_success(now_s);
                if let Some(w) = pending {
                    self.history.record(now_s, w.from, w.to);
                }
            }
            Err(e) => self.actuator.record_failure(now_s, e),
        }
    }

    /// Reports that the write the last decision asked for was not made, because another
    /// agent holds the leader-election Lease: it counts neither as a change (no cooldown,
    /// no allowance used) nor as a failure, and a half-open breaker keeps its probe for the
    /// next write.
    pub(crate) fn record_withheld(&mut self) {
        self.pending = None;
        self.actuator.release_probe();
    }

    /// Reports whether the metrics query at `now_s` worked. Repeated failures open the
    /// metrics breaker; once its open time is up, the next successful scrape closes it.
    pub(crate) fn record_metrics(&mut self, now_s: u64, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.metrics.record_success(now_s),
            Err(e) => self.metrics.record_failure(now_s, e),
        }
    }

    /// The HPA rule's answer for `view`. Stale metrics are withheld from it: the real HPA,
    /// reading a 1-minute `rate()` from Prometheus, would get no samples and hold, and
    /// acting on old numbers is what the staleness check exists to prevent.
    fn run_hpa(&mut self, view: &ClusterView<'_>, reason: OverrideKind) -> u32 {
        let hpa_view = ClusterView {
            min_replicas: self.config.min_replicas,
            max_replicas: self.config.max_replicas,
            metrics: if reason == OverrideKind::MetricsStale {
                None
            } else {
                view.metrics
            },
            ..*view
        };
        self.hpa.desired_replicas(&hpa_view)
    }

    /// Why a write must not happen at `now_s`, if it must not. The metrics breaker has no
    /// write probe: a successful scrape is its probe, and until one comes the numbers behind
    /// any decision are suspect.
    fn breaker_hold(&self, now_s: u64) -> Option<String> {
        let describe = |name: &str, b: &CircuitBreaker| {
            let last = b.last_error().unwrap_or("unknown error");
            match b.state(now_s) {
                BreakerState::Closed => None,
                BreakerState::Open { until_s } => Some(format!(
                    "{name} circuit open after repeated failures (last: {last}); \
                     half-open from t={until_s}"
                )),
                BreakerState::HalfOpen { probing: true } => Some(format!(
                    "{name} circuit half-open, waiting for the probe's outcome"
                )),
                BreakerState::HalfOpen { probing: false } => None,
            }
        };
        describe("actuator", &self.actuator).or_else(|| match self.metrics.state(now_s) {
            BreakerState::HalfOpen { .. } => {
                Some("metrics circuit half-open, waiting for a successful scrape".to_owned())
            }
            _ => describe("metrics", &self.metrics),
        })
    }
}

#[cfg(test)]
mod tests {
    use common::env::OBSERVATION_LEN;

    use super::*;
    use crate::safety::test_support::Scene;

    /// Late enough that the scenes' pods (created at 0) are past the HPA's 300 s CPU
    /// initialisation period.
    const T0: u64 = 1000;

    fn layer() -> SafetyLayer {
        SafetyLayer::new(SafetyConfig::default()).unwrap()
    }

    fn layer_with(edit: impl FnOnce(&mut SafetyConfig)) -> SafetyLayer {
        let mut config = SafetyConfig::default();
        edit(&mut config);
        SafetyLayer::new(config).unwrap()
    }

    fn kinds(d: &SafetyDecision) -> Vec<OverrideKind> {
        d.overrides.iter().map(|o| o.kind).collect()
    }

    /// What a fresh stock HPA proposes for `scene` with bounds `[min, max]`.
    fn hpa_says(scene: &Scene, min: u32, max: u32) -> u32 {
        Hpa::default().desired_replicas(&scene.view(min, max))
    }

    /// Trained on 0.4–0.6 in every entry; the scenes' observations sit at 0.5.
    fn envelope() -> TrainingEnvelope {
        TrainingEnvelope {
            low: [0.4; OBSERVATION_LEN],
            high: [0.6; OBSERVATION_LEN],
        }
    }

    /// Decides for a fresh scene at `now_s` with `spec` replicas at 70 % CPU and a
    /// confident proposal of `replicas`.
    fn decide(layer: &mut SafetyLayer, now_s: u64, spec: u32, replicas: u32) -> SafetyDecision {
        let scene = Scene::new(now_s, spec, 0.7);
        layer.decide(
            &scene.view(1, 20),
            Proposal::new(replicas).with_confidence(0.9),
        )
    }

    #[test]
    fn a_sound_proposal_passes_untouched() {
        let mut l = layer();
        l.set_envelope(Some(envelope()));
        let d = decide(&mut l, T0, 4, 5);
        assert_eq!(
            d,
            SafetyDecision {
                current: 4,
                proposed: 5,
                replicas: 5,
                apply: true,
                overrides: Vec::new(),
            }
        );
        // A hold is not written, and not an override either.
        let d = decide(&mut l, T0, 4, 4);
        assert_eq!((d.replicas, d.apply), (4, false));
        assert!(d.overrides.is_empty());
    }

    #[test]
    fn bounds_clamp_the_proposal() {
        let bounded = |c: &mut SafetyConfig| {
            c.min_replicas = 2;
            c.max_replicas = 10;
        };
        let d = decide(&mut layer_with(bounded), T0, 8, 15);
        assert_eq!((d.replicas, d.apply), (10, true));
        assert_eq!(kinds(&d), [OverrideKind::MaxReplicas]);
        let d = decide(&mut layer_with(bounded), T0, 4, 0);
        assert_eq!((d.replicas, d.apply), (2, true));
        assert_eq!(kinds(&d), [OverrideKind::MinReplicas]);
        assert_eq!(d.overrides[0].detail, "0 raised to min_replicas 2");
    }

    #[test]
    fn cooldowns_count_from_the_reported_write_and_release_on_the_boundary() {
        let mut l = layer();
        assert!(decide(&mut l, T0, 4, 5).apply);
        l.record_actuation(T0, Ok(()));

        for now in [T0 + 15, T0 + 29] {
            let d = decide(&mut l, now, 5, 6);
            assert_eq!((d.replicas, d.apply), (5, false), "at {now}");
            assert_eq!(kinds(&d), [OverrideKind::ScaleUpCooldown]);
        }
        let d = decide(&mut l, T0 + 30, 5, 6);
        assert_eq!((d.replicas, d.apply), (6, true));
        assert!(d.overrides.is_empty());
        l.record_actuation(T0 + 30, Ok(()));

        // Scale-down: 180 s after the change at 1030.
        let d = decide(&mut l, T0 + 209, 6, 5);
        assert_eq!((d.replicas, d.apply), (6, false));
        assert_eq!(kinds(&d), [OverrideKind::ScaleDownCooldown]);
        let d = decide(&mut l, T0 + 210, 6, 5);
        assert_eq!((d.replicas, d.apply), (5, true));
    }

    #[test]
    fn a_failed_write_uses_no_cooldown_or_allowance() {
        let mut l = layer();
        assert!(decide(&mut l, T0, 4, 9).apply);
        l.record_actuation(T0, Err("409 Conflict".into()));
        // Were the +5 counted, this would be held by the cooldown and the rate limit.
        let d = decide(&mut l, T0 + 15, 4, 9);
        assert_eq!((d.replicas, d.apply), (9, true));
        assert!(d.overrides.is_empty());
    }

    #[test]
    fn rate_limit_caps_a_jump_and_allows_more_once_the_window_slides() {
        let mut l = layer();
        let d = decide(&mut l, T0, 2, 10);
        assert_eq!((d.replicas, d.apply), (7, true));
        assert_eq!(kinds(&d), [OverrideKind::ScaleUpRateLimit]);
        l.record_actuation(T0, Ok(()));

        // At 1030 the cooldown is over but the 5 pods added at 1000 still count.
        let d = decide(&mut l, T0 + 30, 7, 10);
        assert_eq!((d.replicas, d.apply), (7, false));
        assert_eq!(kinds(&d), [OverrideKind::ScaleUpRateLimit]);
        let d = decide(&mut l, T0 + 60, 7, 10);
        assert_eq!((d.replicas, d.apply), (10, true));
        assert!(d.overrides.is_empty());
        l.record_actuation(T0 + 60, Ok(()));

        // 10 → 2 after the scale-down cooldown: at most 3 removed, 10 → 7.
        let d = decide(&mut l, T0 + 240, 10, 2);
        assert_eq!((d.replicas, d.apply), (7, true));
        assert_eq!(kinds(&d), [OverrideKind::ScaleDownRateLimit]);
    }

    #[test]
    fn outside_the_bounds_the_count_returns_to_the_bound_despite_cooldowns() {
        let mut l = layer();
        assert!(decide(&mut l, T0, 4, 5).apply);
        l.record_actuation(T0, Ok(()));
        // Someone scaled to 30 by hand; max is 20. The policy holds: back to 20 at once, with
        // no cooldown or rate limit in the way.
        let d = decide(&mut l, T0 + 15, 30, 30);
        assert_eq!((d.replicas, d.apply), (20, true));
        assert_eq!(kinds(&d), [OverrideKind::MaxReplicas]);
        // Going below the bound is a scale-down from 20, under the cooldown from 1000.
        let d = decide(&mut l, T0 + 15, 30, 15);
        assert_eq!((d.replicas, d.apply), (20, true));
        assert_eq!(kinds(&d), [OverrideKind::ScaleDownCooldown]);
    }

    /// Three failed writes of 4 → 6 at 1000, 1015 and 1030: open until 1150.
    fn tripped() -> SafetyLayer {
        let mut l = layer();
        for now in [T0, T0 + 15, T0 + 30] {
            assert!(decide(&mut l, now, 4, 6).apply, "at {now}");
            l.record_actuation(now, Err("503 Service Unavailable".into()));
        }
        l
    }

    #[test]
    fn a_withheld_write_uses_no_cooldown_and_leaves_the_probe_for_the_next() {
        let mut l = layer();
        assert!(decide(&mut l, T0, 4, 5).apply);
        l.record_withheld();
        // No cooldown started: the same move is allowed right after.
        let d = decide(&mut l, T0 + 1, 4, 5);
        assert_eq!((d.replicas, d.apply), (5, true));

        let mut l = tripped();
        let half_open = T0 + 150;
        assert!(decide(&mut l, half_open, 4, 6).apply, "the probe");
        l.record_withheld();
        assert_eq!(
            l.actuator_breaker(half_open),
            BreakerState::HalfOpen { probing: false }
        );
        assert!(decide(&mut l, half_open + 1, 4, 6).apply, "probes again");
    }

    #[test]
    fn actuator_breaker_opens_after_three_failures_and_holds() {
        let mut l = tripped();
        assert_eq!(
            l.actuator_breaker(T0 + 30),
            BreakerState::Open { until_s: T0 + 150 }
        );
        for now in [T0 + 45, T0 + 149] {
            let d = decide(&mut l, now, 4, 6);
            assert_eq!((d.replicas, d.apply), (4, false), "at {now}");
            assert_eq!(kinds(&d), [OverrideKind::CircuitOpen]);
            assert_eq!(
                d.overrides[0].detail,
                "4 → 6 held at 4: actuator circuit open after repeated failures \
                 (last: 503 Service Unavailable); half-open from t=1150"
            );
        }
        // Nothing to withhold: no override.
        assert!(decide(&mut l, T0 + 60, 4, 4).overrides.is_empty());
    }

    #[test]
    fn half_open_probe_success_closes_the_breaker() {
        let mut l = tripped();
        let d = decide(&mut l, T0 + 150, 4, 6);
        assert_eq!((d.replicas, d.apply), (6, true));
        assert!(d.overrides.is_empty());
        // Until the probe's outcome is in, nothing else is written.
        let d = decide(&mut l, T0 + 151, 4, 6);
        assert_eq!((d.replicas, d.apply), (4, false));
        assert_eq!(
            d.overrides[0].detail,
            "4 → 6 held at 4: actuator circuit half-open, waiting for the probe's outcome"
        );
        // The probe's write is still the pending one: its success closes the breaker and
        // counts for the cooldown.
        l.record_actuation(T0 + 152, Ok(()));
        assert_eq!(l.actuator_breaker(T0 + 152), BreakerState::Closed);
        let d = decide(&mut l, T0 + 167, 6, 7);
        assert_eq!(kinds(&d), [OverrideKind::ScaleUpCooldown]);
        let d = decide(&mut l, T0 + 182, 6, 7);
        assert_eq!((d.replicas, d.apply), (7, true));
    }

    #[test]
    fn half_open_probe_failure_reopens_the_breaker() {
        let mut l = tripped();
        assert!(decide(&mut l, T0 + 150, 4, 6).apply);
        l.record_actuation(T0 + 150, Err("503 Service Unavailable".into()));
        assert_eq!(
            l.actuator_breaker(T0 + 150),
            BreakerState::Open { until_s: T0 + 270 }
        );
        let d = decide(&mut l, T0 + 269, 4, 6);
        assert_eq!((d.replicas, d.apply), (4, false));
        assert!(d.overrides[0].detail.ends_with("half-open from t=1270"));
        assert!(decide(&mut l, T0 + 270, 4, 6).apply);
    }

    #[test]
    fn metrics_breaker_holds_until_a_scrape_succeeds_after_the_open_time() {
        let mut l = layer();
        for now in [T0 - 30, T0 - 15, T0] {
            l.record_metrics(now, Err("connection refused".into()));
        }
        assert_eq!(
            l.metrics_breaker(T0),
            BreakerState::Open { until_s: T0 + 120 }
        );
        // Metrics in the view look fine, but the source has been failing: hold.
        let d = decide(&mut l, T0, 4, 6);
        assert_eq!((d.replicas, d.apply), (4, false));
        assert_eq!(
            d.overrides[0].detail,
            "4 → 6 held at 4: metrics circuit open after repeated failures \
             (last: connection refused); half-open from t=1120"
        );
        // Half-open: no write probe, the next scrape decides.
        let d = decide(&mut l, T0 + 120, 4, 6);
        assert_eq!((d.replicas, d.apply), (4, false));
        assert_eq!(kinds(&d), [OverrideKind::CircuitOpen]);
        l.record_metrics(T0 + 120, Ok(()));
        assert_eq!(l.metrics_breaker(T0 + 120), BreakerState::Closed);
        assert!(decide(&mut l, T0 + 120, 4, 6).apply);

        // A failing scrape in half-open re-opens it for another 120 s.
        let mut l = layer();
        for now in [T0 - 30, T0 - 15, T0] {
            l.record_metrics(now, Err("timeout".into()));
        }
        l.record_metrics(T0 + 120, Err("timeout".into()));
        assert_eq!(
            l.metrics_breaker(T0 + 120),
            BreakerState::Open { until_s: T0 + 240 }
        );
    }

    #[test]
    fn stale_metrics_fall_back_to_the_hpa_without_the_old_numbers() {
        // 4 pods at 350 % CPU, but the scrape is 100 s old.
        let scene = Scene::new(T0, 4, 3.5).scraped_at(T0 - 100);
        let mut l = layer();
        let d = l.decide(&scene.view(1, 20), Proposal::new(5).with_confidence(0.9));
        let stripped = scene.clone().without_metrics();
        assert_eq!(d.replicas, hpa_says(&stripped, 1, 20));
        assert_eq!((d.replicas, d.apply, d.proposed), (4, false, 5));
        // Fed the old numbers, the HPA would have doubled to 8.
        assert_eq!(hpa_says(&scene, 1, 20), 8);
        assert_eq!(kinds(&d), [OverrideKind::MetricsStale]);
        assert_eq!(
            d.overrides[0].detail,
            "newest scrape at t=900 is 100 s old (max 60 s); the HPA rule decided 4 instead of 5"
        );

        // Below the minimum the HPA rule raises the count to it even without metrics.
        let scene = Scene::new(T0, 1, 3.5).scraped_at(T0 - 100);
        let mut l = layer_with(|c| c.min_replicas = 3);
        let d = l.decide(&scene.view(3, 20), Proposal::new(1));
        let stripped = scene.clone().without_metrics();
        assert_eq!(d.replicas, hpa_says(&stripped, 3, 20));
        assert_eq!((d.replicas, d.apply), (3, true));
        assert_eq!(d.fallback(), Some(OverrideKind::MetricsStale));
    }

    #[test]
    fn missing_metrics_fall_back_to_the_hpa() {
        // 25 pods with max 20 and no metrics: the HPA moves to the bound.
        let scene = Scene::new(T0, 25, 0.7).without_metrics();
        let mut l = layer();
        let d = l.decide(&scene.view(1, 20), Proposal::new(25).with_confidence(0.9));
        assert_eq!(d.replicas, hpa_says(&scene, 1, 20));
        assert_eq!((d.replicas, d.apply), (20, true));
        // The HPA's answer is already inside the bounds: no clamp override.
        assert_eq!(kinds(&d), [OverrideKind::MetricsMissing]);

        // Inside the bounds, without metrics it holds whatever the policy says.
        let scene = Scene::new(T0, 4, 0.7).without_metrics();
        let d = layer().decide(&scene.view(1, 20), Proposal::new(7).with_confidence(0.9));
        assert_eq!(d.replicas, hpa_says(&scene, 1, 20));
        assert_eq!((d.replicas, d.apply, d.proposed), (4, false, 7));
        assert_eq!(kinds(&d), [OverrideKind::MetricsMissing]);
    }

    #[test]
    fn out_of_distribution_falls_back_to_the_hpa() {
        // 4 pods at 105 %: the HPA wants ceil(105/70 × 4) = 6. The request-rate entry (6)
        // is 0.9, far beyond the 0.6 seen in training.
        let scene = Scene::new(T0, 4, 1.05).with_entry(6, 0.9);
        let mut l = layer();
        l.set_envelope(Some(envelope()));
        let d = l.decide(&scene.view(1, 20), Proposal::new(10).with_confidence(0.95));
        assert_eq!(d.replicas, hpa_says(&scene, 1, 20));
        assert_eq!((d.replicas, d.apply), (6, true));
        assert_eq!(kinds(&d), [OverrideKind::OutOfDistribution]);
        assert!(
            d.overrides[0]
                .detail
                .starts_with("observation[6] = 0.9 outside the training range [0.4, 0.6]"),
            "{}",
            d.overrides[0].detail
        );

        // The HPA's answer gets the same limits: 10 pods at 350 % make it want 20, +10 pods,
        // cut to +5.
        let scene = Scene::new(T0, 10, 3.5).with_entry(6, 0.9);
        assert_eq!(hpa_says(&scene, 1, 20), 20);
        let mut l = layer();
        l.set_envelope(Some(envelope()));
        let d = l.decide(&scene.view(1, 20), Proposal::new(10).with_confidence(0.95));
        assert_eq!((d.replicas, d.apply), (15, true));
        assert_eq!(
            kinds(&d),
            [
                OverrideKind::OutOfDistribution,
                OverrideKind::ScaleUpRateLimit
            ]
        );
    }

    #[test]
    fn low_confidence_falls_back_to_the_hpa() {
        // 4 pods at 84 %: the HPA wants ceil(84/70 × 4 = 4.8) = 5; the hesitant policy 8.
        let scene = Scene::new(T0, 4, 0.84);
        let mut l = layer();
        let d = l.decide(&scene.view(1, 20), Proposal::new(8).with_confidence(0.5));
        assert_eq!(d.replicas, hpa_says(&scene, 1, 20));
        assert_eq!((d.replicas, d.apply, d.proposed), (5, true, 8));
        assert_eq!(kinds(&d), [OverrideKind::LowConfidence]);
        assert_eq!(
            d.overrides[0].detail,
            "confidence 0.5 below min_confidence 0.7; the HPA rule decided 5 instead of 8"
        );
        // At exactly 0.7 the policy is trusted.
        let d = layer().decide(&scene.view(1, 20), Proposal::new(8).with_confidence(0.7));
        assert_eq!((d.replicas, d.apply), (8, true));
        assert!(d.overrides.is_empty());
    }

    #[test]
    fn shadow_mode_decides_and_reports_but_never_applies() {
        let mut l = layer_with(|c| c.shadow_mode = true);
        // 4 → 15 is rate-limited to 9, then withheld.
        let d = decide(&mut l, T0, 4, 15);
        assert_eq!((d.replicas, d.apply, d.proposed), (9, false, 15));
        assert_eq!(
            kinds(&d),
            [OverrideKind::ScaleUpRateLimit, OverrideKind::Shadow]
        );
        assert_eq!(
            d.overrides[1].detail,
            "would have scaled 4 → 9; nothing written"
        );
        // Nothing was written, so nothing cools down or uses the allowance.
        let d = decide(&mut l, T0 + 15, 4, 9);
        assert_eq!((d.replicas, d.apply), (9, false));
        assert_eq!(kinds(&d), [OverrideKind::Shadow]);

        // Fallbacks are reported too.
        let scene = Scene::new(T0, 25, 0.7).without_metrics();
        let d = l.decide(&scene.view(1, 20), Proposal::new(25));
        assert_eq!((d.replicas, d.apply), (20, false));
        assert_eq!(
            kinds(&d),
            [OverrideKind::MetricsMissing, OverrideKind::Shadow]
        );
        // A hold has nothing to withhold.
        let d = decide(&mut l, T0 + 30, 4, 4);
        assert!(!d.apply);
        assert!(d.overrides.is_empty());
    }

    #[test]
    fn new_refuses_an_invalid_config_naming_the_field() {
        let err = SafetyLayer::new(SafetyConfig {
            min_confidence: 2.0,
            ..SafetyConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "min_confidence");
    }
}
