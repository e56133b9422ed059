//! The Kubernetes HorizontalPodAutoscaler (`autoscaling/v2`, one CPU `Resource` metric with
//! an `averageUtilization` target), ported rule for rule so that the baseline a learned policy
//! has to beat is the controller people actually run, not a textbook simplification of it.
//!
//! Sources, cited beside each rule by Go function name:
//! `pkg/controller/podautoscaler/replica_calculator.go` (the replica count from the metric),
//! `pkg/controller/podautoscaler/metrics/utilization.go` (the usage ratio),
//! `pkg/controller/podautoscaler/horizontal.go` (stabilisation and rate limits) and
//! `pkg/apis/autoscaling/v2/defaults.go` (the `behavior` defaults).
//!
//! Time is the simulator's: the controller's `time.Now()` is `view.now_s`, and its sync period
//! (`--horizontal-pod-autoscaler-sync-period`, 15 s) is the caller's decision interval.

use serde::{Deserialize, Serialize};

use super::{ClusterView, ObservedMetrics, PodView, Policy};
use crate::error::ConfigError;

/// The target of the stock `hpa` baseline; any other target shows in the policy's name.
const DEFAULT_TARGET_UTILIZATION: f64 = 0.70;

/// horizontal.go `scaleUpLimitFactor`: the legacy controller at most doubles per sync…
const SCALE_UP_LIMIT_FACTOR: f64 = 2.0;
/// …or grows to this many replicas, whichever is more (`scaleUpLimitMinimum`).
const SCALE_UP_LIMIT_MINIMUM: f64 = 4.0;

/// validation.go `MaxPeriodSeconds`: the API rejects longer policy periods.
const MAX_PERIOD_S: u32 = 1800;
/// validation.go `MaxStabilizationWindowSeconds`.
const MAX_STABILIZATION_WINDOW_S: u32 = 3600;

/// How the ported controller is tuned: the HPA object's fields and the controller-manager
/// flags that matter for one CPU metric. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HpaConfig {
    /// Mean CPU usage of ready pods to aim for, as a fraction of the CPU request (the metric's
    /// `averageUtilization` / 100; the API only takes whole percents, this port takes any
    /// positive fraction so a tuner can search finely). Default 0.70.
    pub target_utilization: f64,
    /// Usage ratios within 1 ± this keep the current size, so metric noise alone never
    /// scales (`--horizontal-pod-autoscaler-tolerance`). Default 0.1.
    pub tolerance: f64,
    /// Seconds after a pod starts during which its CPU sample is distrusted until a whole
    /// metric window has passed since it turned Ready, because start-up bursts would
    /// otherwise trigger scale-ups (`--horizontal-pod-autoscaler-cpu-initialization-period`).
    /// Default 300.
    pub cpu_initialization_period_s: u64,
    /// Scale-down stabilisation window of the legacy controller, and of `behavior` when its
    /// `scale_down` leaves the window unset, as the API does by default
    /// (`--horizontal-pod-autoscaler-downscale-stabilization`). Default 300.
    pub downscale_stabilization_window_s: u64,
    /// The HPA's `spec.behavior`. `Some` (the default: the autoscaling/v2 API defaults) runs
    /// `normalizeDesiredReplicasWithBehaviors`; `None` (written `behavior = "none"`) runs the
    /// legacy `normalizeDesiredReplicas`, as for an HPA created without `behavior`.
    #[serde(with = "behavior_serde")]
    pub behavior: Option<HpaBehavior>,
}

impl Default for HpaConfig {
    fn default() -> Self {
        Self {
            target_utilization: DEFAULT_TARGET_UTILIZATION,
            tolerance: 0.1,
            cpu_initialization_period_s: 300,
            downscale_stabilization_window_s: 300,
            behavior: Some(HpaBehavior::default()),
        }
    }
}

/// `spec.behavior`: how fast and how eagerly the HPA may change the replica count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HpaBehavior {
    /// Rules for growing. Default: no stabilisation, at most +4 pods or +100 % per 15 s,
    /// whichever allows more.
    pub scale_up: ScalingRules,
    /// Rules for shrinking. Default: the controller's 300 s stabilisation window, at most
    /// −100 % per 15 s.
    pub scale_down: ScalingRules,
}

impl Default for HpaBehavior {
    // defaults.go defaultHPAScaleUpRules / defaultHPAScaleDownRules
    fn default() -> Self {
        Self {
            scale_up: ScalingRules {
                stabilization_window_s: Some(0),
                select_policy: SelectPolicy::Max,
                policies: default_scale_up_policies(),
            },
            scale_down: ScalingRules {
                // Left unset so the controller flag applies, as defaults.go does.
                stabilization_window_s: None,
                select_policy: SelectPolicy::Max,
                policies: default_scale_down_policies(),
            },
        }
    }
}

/// `HPAScalingRules` for one direction.
///
/// Unset fields take the API defaults of their direction, the way `GenerateHPAScaleUpRules`
/// and `GenerateHPAScaleDownRules` fill a partly written `behavior`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingRules {
    /// Seconds of past recommendations to honour before moving in this direction, so a
    /// short dip or spike does not cause flapping. At most 3600. Unset (the default when a
    /// table omits it): 0 for scale-up, `downscale_stabilization_window_s` for scale-down.
    pub stabilization_window_s: Option<u32>,
    /// Which policy wins when several allow different changes. Default `Max`.
    pub select_policy: SelectPolicy,
    /// Rate limits for this direction. Empty (the default when a table omits them): the API
    /// default of the direction (scale-up: 4 pods and 100 % per 15 s; scale-down: 100 % per
    /// 15 s); the API itself rejects an empty list.
    pub policies: Vec<ScalingPolicy>,
}

impl Default for ScalingRules {
    fn default() -> Self {
        Self {
            stabilization_window_s: None,
            select_policy: SelectPolicy::Max,
            policies: Vec::new(),
        }
    }
}

/// `ScalingPolicySelect`: how several policies of one direction combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change wins.
    Max,
    /// The policy allowing the smallest change wins.
    Min,
    /// No change in this direction at all.
    Disabled,
}

/// `HPAScalingPolicy`: at most `value` pods or percent of change per `period_s` seconds.
/// Every field is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    /// Whether `value` counts pods or percent of the replicas at the start of the period.
    #[serde(rename = "type")]
    pub kind: ScalingPolicyType,
    /// The allowed change; must be positive.
    pub value: u32,
    /// Length of the sliding period the change is measured over, 1 to 1800 seconds.
    pub period_s: u32,
}

/// `HPAScalingPolicyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalingPolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

impl ScalingPolicy {
    /// A `Pods` policy.
    pub fn pods(value: u32, period_s: u32) -> Self {
        Self {
            kind: ScalingPolicyType::Pods,
            value,
            period_s,
        }
    }

    /// A `Percent` policy.
    pub fn percent(value: u32, period_s: u32) -> Self {
        Self {
            kind: ScalingPolicyType::Percent,
            value,
            period_s,
        }
    }
}

// defaults.go defaultHPAScaleUpRules: scaleUpLimitMinimumPods, scaleUpLimitPercent, scaleUpPeriod
fn default_scale_up_policies() -> Vec<ScalingPolicy> {
    vec![ScalingPolicy::pods(4, 15), ScalingPolicy::percent(100, 15)]
}

// defaults.go defaultHPAScaleDownRules: scaleDownLimitPercent, scaleDownPeriod
fn default_scale_down_policies() -> Vec<ScalingPolicy> {
    vec![ScalingPolicy::percent(100, 15)]
}

impl HpaConfig {
    /// Checks every field against the ranges the API and the controller accept; the error
    /// names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.target_utilization.is_finite() && self.target_utilization > 0.0) {
            return Err(ConfigError::invalid(
                "target_utilization",
                format!("must be a positive number, got {}", self.target_utilization),
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ConfigError::invalid(
                "tolerance",
                format!("must be zero or more, got {}", self.tolerance),
            ));
        }
        if let Some(behavior) = &self.behavior {
            behavior.scale_up.validate("behavior.scale_up")?;
            behavior.scale_down.validate("behavior.scale_down")?;
        }
        Ok(())
    }
}

impl ScalingRules {
    // validation.go validateScalingRules / validateScalingPolicy
    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if let Some(window) = self.stabilization_window_s
            && window > MAX_STABILIZATION_WINDOW_S
        {
            return Err(ConfigError::invalid(
                format!("{field}.stabilization_window_s"),
                format!("must be at most {MAX_STABILIZATION_WINDOW_S}, got {window}"),
            ));
        }
        for (i, policy) in self.policies.iter().enumerate() {
            if policy.value == 0 {
                return Err(ConfigError::invalid(
                    format!("{field}.policies[{i}].value"),
                    "must be positive, got 0",
                ));
            }
            if !(1..=MAX_PERIOD_S).contains(&policy.period_s) {
                return Err(ConfigError::invalid(
                    format!("{field}.policies[{i}].period_s"),
                    format!("must be 1 to {MAX_PERIOD_S}, got {}", policy.period_s),
                ));
            }
        }
        Ok(())
    }

    /// The rules as the controller sees them after API defaulting and
    /// `maybeInitScaleDownStabilizationWindow`.
    fn resolve(&self, default_window_s: u64, default_policies: Vec<ScalingPolicy>) -> Rules {
        Rules {
            window_s: self
                .stabilization_window_s
                .map_or(default_window_s, u64::from),
            select: self.select_policy,
            policies: if self.policies.is_empty() {
                default_policies
            } else {
                self.policies.clone()
            },
        }
    }
}

/// One direction's rules with every default filled in.
#[derive(Debug, Clone)]
struct Rules {
    window_s: u64,
    select: SelectPolicy,
    policies: Vec<ScalingPolicy>,
}

/// `spec.behavior` as the controller uses it.
#[derive(Debug, Clone)]
struct Behavior {
    scale_up: Rules,
    scale_down: Rules,
}

/// One entry of the controller's `recommendations[key]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Recommendation {
    replicas: i64,
    at_s: u64,
}

/// One entry of `scaleUpEvents[key]` or `scaleDownEvents[key]`; `change` is positive in
/// both lists.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScaleEvent {
    change: i64,
    at_s: u64,
    outdated: bool,
}

/// The Kubernetes HPA controller for one Deployment, as a [`Policy`].
///
/// It keeps what the controller keeps per HPA between syncs: past recommendations (for
/// stabilisation) and past scale events (for rate limits). It assumes the replica count it
/// returns is applied, as the controller assumes its write to the scale subresource is.
#[derive(Debug, Clone)]
pub struct Hpa {
    config: HpaConfig,
    behavior: Option<Behavior>,
    history: History,
}

/// The controller's per-HPA memory.
#[derive(Debug, Clone, Default)]
struct History {
    recommendations: Vec<Recommendation>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

impl Hpa {
    /// A controller with `config`. Call [`HpaConfig::validate`] first on configurations read
    /// from files: an out-of-range value is not rejected here.
    pub fn new(config: HpaConfig) -> Self {
        let behavior = config.behavior.as_ref().map(|b| Behavior {
            scale_up: b.scale_up.resolve(0, default_scale_up_policies()),
            scale_down: b.scale_down.resolve(
                config.downscale_stabilization_window_s,
                default_scale_down_policies(),
            ),
        });
        Self {
            config,
            behavior,
            history: History::default(),
        }
    }

    /// The stock controller with another CPU target (a fraction of the request), for the
    /// tuned-HPA baseline.
    pub fn with_target(target_utilization: f64) -> Self {
        Self::new(HpaConfig {
            target_utilization,
            ..HpaConfig::default()
        })
    }

    /// The configuration this controller runs.
    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// The replica count proposed by the CPU metric alone, or `None` where the controller
    /// fails to compute one and leaves the scale untouched.
    fn metric_replicas(&self, view: &ClusterView<'_>) -> Option<i64> {
        let metrics = view.metrics?;
        // replica_calculator.go GetResourceReplicas: "no pods returned by selector"
        if view.pods.is_empty() {
            return None;
        }
        let groups = group_pods(
            view.pods,
            metrics,
            view.now_s,
            self.config.cpu_initialization_period_s,
        );
        resource_replicas(
            i64::from(view.spec_replicas),
            groups,
            metrics.cpu_utilization,
            self.config.target_utilization,
            self.config.tolerance,
        )
    }
}

impl Default for Hpa {
    fn default() -> Self {
        Self::new(HpaConfig::default())
    }
}

impl Policy for Hpa {
    fn name(&self) -> String {
        let target = self.config.target_utilization;
        if (target - DEFAULT_TARGET_UTILIZATION).abs() < 1e-9 {
            "hpa".to_owned()
        } else {
            let percent = (target * 1e4).round() / 100.0;
            format!("hpa({percent}%)")
        }
    }

    // horizontal.go reconcileAutoscaler
    fn desired_replicas(&mut self, view: &ClusterView<'_>) -> u32 {
        let now = view.now_s;
        let current = i64::from(view.spec_replicas);
        let min = i64::from(view.min_replicas);
        let max = i64::from(view.max_replicas);
        self.history.record_initial_recommendation(current, now);

        let desired = if current == 0 && min != 0 {
            // horizontal.go reconcileAutoscaler: "scaling is disabled since the replica count
            // of the target is zero"
            return view.spec_replicas;
        } else if current > max {
            // horizontal.go reconcileAutoscaler: "Current number of replicas above Spec.MaxReplicas"
            max
        } else if current < min {
            // horizontal.go reconcileAutoscaler: "Current number of replicas below Spec.MinReplicas"
            min
        } else {
            // horizontal.go reconcileAutoscaler: a failed metric computation returns before
            // normalisation, so the scale stays and no recommendation or event is stored.
            let Some(proposal) = self.metric_replicas(view) else {
                return view.spec_replicas;
            };
            // horizontal.go reconcileAutoscaler: desiredReplicas starts at 0 and takes the
            // largest metric proposal.
            let proposal = proposal.max(0);
            match &self.behavior {
                None => self.history.normalize_desired_replicas(
                    now,
                    self.config.downscale_stabilization_window_s,
                    current,
                    proposal,
                    min,
                    max,
                ),
                Some(behavior) => self.history.normalize_desired_replicas_with_behaviors(
                    behavior, now, current, proposal, min, max,
                ),
            }
        };

        // horizontal.go reconcileAutoscaler → storeScaleEvent, only after a rescale and only
        // when behavior is set.
        if desired != current
            && let Some(behavior) = &self.behavior
        {
            self.history
                .store_scale_event(behavior, now, current, desired);
        }
        u32::try_from(desired.max(0)).unwrap_or(u32::MAX)
    }

    fn reset(&mut self) {
        self.history = History::default();
    }
}

/// How `groupPods` sorts the pods behind one metric sample. Its fourth group, ignored pods
/// (being deleted or failed), never appears in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct PodGroups {
    /// Pods whose CPU sample counts.
    ready: u32,
    /// Pending pods, and pods too recently Ready for their sample to be trusted.
    unready: u32,
    /// Running pods no scrape behind the metrics can have seen.
    missing: u32,
}

// replica_calculator.go groupPods
fn group_pods(
    pods: &[PodView],
    metrics: &ObservedMetrics,
    now_s: u64,
    cpu_initialization_period_s: u64,
) -> PodGroups {
    let mut groups = PodGroups::default();
    for pod in pods {
        // groupPods: "Pending pods are ignored" (counted unready). The view reports a pod
        // that is not Ready yet as pending.
        let Some(ready_at_s) = pod.ready_at_s else {
            groups.unready += 1;
            continue;
        };
        // groupPods: "Pods missing metrics". The metrics are a mean over pods, so a pod is
        // missing exactly when it was created after the newest scrape behind them.
        if pod.created_at_s > metrics.timestamp_s {
            groups.missing += 1;
            continue;
        }
        // groupPods: "Pod still within possible initialisation period": distrust the sample
        // until one metric window has been collected since the Ready transition. Past that
        // period only a pod whose Ready condition is False is unready, and such a pod is
        // reported as pending above, so `delayOfInitialReadinessStatus` never applies here.
        let unready = pod.created_at_s + cpu_initialization_period_s > now_s
            && metrics.timestamp_s < ready_at_s + metrics.window_s;
        if unready {
            groups.unready += 1;
        } else {
            groups.ready += 1;
        }
    }
    groups
}

/// CPU usage as a whole percent of the request, truncated as the controller's integer
/// arithmetic truncates it. The epsilon absorbs binary rounding of fractions like 0.57,
/// which the controller's milli-core integers never suffer.
// metrics/utilization.go GetResourceUtilizationRatio: currentUtilization = metricsTotal * 100 / requestsTotal
fn whole_percent(fraction_of_request: f64) -> f64 {
    (fraction_of_request * 100.0 + 1e-9).floor()
}

/// `ceil` into a replica count, saturating like the controller's later versions do.
fn ceil_replicas(x: f64) -> i64 {
    x.ceil() as i64
}

// replica_calculator.go GetResourceReplicas
fn resource_replicas(
    current: i64,
    groups: PodGroups,
    utilization: f64,
    target: f64,
    tolerance: f64,
) -> Option<i64> {
    // GetResourceReplicas: "did not receive metrics for targeted pods (pods might be unready)"
    if groups.ready == 0 || !utilization.is_finite() {
        return None;
    }
    let target_percent = target * 100.0;
    // replica_calculator.go Tolerances.isWithin
    let within_tolerance = |ratio: f64| 1.0 - tolerance <= ratio && ratio <= 1.0 + tolerance;
    let ready = f64::from(groups.ready);

    // metrics/utilization.go GetResourceUtilizationRatio
    let usage_ratio = whole_percent(utilization) / target_percent;

    // GetResourceReplicas: scaleUpWithUnready
    let scale_up_with_unready = groups.unready > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready && groups.missing == 0 {
        // GetResourceReplicas: tolerance, "return the current replicas if the change would
        // be too small"
        if within_tolerance(usage_ratio) {
            return Some(current);
        }
        // GetResourceReplicas: ceil(usageRatio × readyPodCount)
        return Some(ceil_replicas(usage_ratio * ready));
    }

    // Sum of per-pod usage in units of one pod's request, and the pods it is spread over.
    let mut usage = utilization * ready;
    let mut counted = ready;
    if groups.missing > 0 {
        let missing = f64::from(groups.missing);
        if usage_ratio < 1.0 {
            // GetResourceReplicas: on a scale-down, missing pods use 100 % of their request
            // (or the target, if that is higher).
            usage += missing * target.max(1.0);
            counted += missing;
        } else if usage_ratio > 1.0 {
            // GetResourceReplicas: on a scale-up, missing pods use 0 %.
            counted += missing;
        }
    }
    if scale_up_with_unready {
        // GetResourceReplicas: on a scale-up, unready pods use 0 %.
        counted += f64::from(groups.unready);
    }

    // GetResourceReplicas: "re-run the utilization calculation with our new numbers"
    let new_usage_ratio = whole_percent(usage / counted) / target_percent;
    // GetResourceReplicas: hold if the change is too small or the direction flipped.
    if within_tolerance(new_usage_ratio)
        || (usage_ratio < 1.0 && new_usage_ratio > 1.0)
        || (usage_ratio > 1.0 && new_usage_ratio < 1.0)
    {
        return Some(current);
    }
    let new_replicas = ceil_replicas(new_usage_ratio * counted);
    // GetResourceReplicas: hold if counting the extra pods flipped the direction.
    if (new_usage_ratio < 1.0 && new_replicas > current)
        || (new_usage_ratio > 1.0 && new_replicas < current)
    {
        return Some(current);
    }
    Some(new_replicas)
}

/// `t.After(now - window)` for a timestamp `at_s`, without underflow.
fn after_cutoff(at_s: u64, window_s: u64, now_s: u64) -> bool {
    at_s + window_s > now_s
}

/// `t.Before(now - window)` for a timestamp `at_s`, without underflow.
fn before_cutoff(at_s: u64, window_s: u64, now_s: u64) -> bool {
    at_s + window_s < now_s
}

impl History {
    // horizontal.go recordInitialRecommendation
    fn record_initial_recommendation(&mut self, current: i64, now_s: u64) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation {
                replicas: current,
                at_s: now_s,
            });
        }
    }

    /// Stores a recommendation in the slot of the last stale one, or appends it, so the
    /// list stays as long as the window holds syncs.
    fn store_recommendation(&mut self, stale: Option<usize>, replicas: i64, now_s: u64) {
        let rec = Recommendation {
            replicas,
            at_s: now_s,
        };
        match stale {
            Some(i) => self.recommendations[i] = rec,
            None => self.recommendations.push(rec),
        }
    }

    // horizontal.go normalizeDesiredReplicas
    fn normalize_desired_replicas(
        &mut self,
        now_s: u64,
        window_s: u64,
        current: i64,
        prenormalized: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        let stabilized = self.stabilize_recommendation(now_s, window_s, prenormalized);
        convert_desired_replicas_with_rules(current, stabilized, min, max)
    }

    // horizontal.go stabilizeRecommendation
    fn stabilize_recommendation(&mut self, now_s: u64, window_s: u64, prenormalized: i64) -> i64 {
        let mut max_recommendation = prenormalized;
        let mut stale = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if before_cutoff(rec.at_s, window_s, now_s) {
                stale = Some(i);
            } else if rec.replicas > max_recommendation {
                max_recommendation = rec.replicas;
            }
        }
        self.store_recommendation(stale, prenormalized, now_s);
        max_recommendation
    }

    // horizontal.go normalizeDesiredReplicasWithBehaviors
    fn normalize_desired_replicas_with_behaviors(
        &mut self,
        behavior: &Behavior,
        now_s: u64,
        current: i64,
        prenormalized: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        let stabilized =
            self.stabilize_recommendation_with_behaviors(behavior, now_s, current, prenormalized);
        self.convert_desired_replicas_with_behavior_rate(
            behavior, now_s, current, stabilized, min, max,
        )
    }

    // horizontal.go stabilizeRecommendationWithBehaviors
    fn stabilize_recommendation_with_behaviors(
        &mut self,
        behavior: &Behavior,
        now_s: u64,
        current: i64,
        desired: i64,
    ) -> i64 {
        let up_window = behavior.scale_up.window_s;
        let down_window = behavior.scale_down.window_s;
        // The lowest recommendation in the scale-up window caps how far up we go; the highest
        // in the scale-down window caps how far down.
        let mut up_recommendation = desired;
        let mut down_recommendation = desired;
        let mut stale = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if after_cutoff(rec.at_s, up_window, now_s) {
                up_recommendation = up_recommendation.min(rec.replicas);
            }
            if after_cutoff(rec.at_s, down_window, now_s) {
                down_recommendation = down_recommendation.max(rec.replicas);
            }
            if before_cutoff(rec.at_s, up_window, now_s)
                && before_cutoff(rec.at_s, down_window, now_s)
            {
                stale = Some(i);
            }
        }
        let recommendation = current.max(up_recommendation).min(down_recommendation);
        self.store_recommendation(stale, desired, now_s);
        recommendation
    }

    // horizontal.go convertDesiredReplicasWithBehaviorRate
    fn convert_desired_replicas_with_behavior_rate(
        &self,
        behavior: &Behavior,
        now_s: u64,
        current: i64,
        desired: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        if desired > current {
            // "We shouldn't scale up further until the scaleUpEvents will be cleaned up"
            let limit = calculate_scale_up_limit_with_scaling_rules(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                &behavior.scale_up,
                now_s,
            )
            .max(current);
            let maximum_allowed = max.min(limit);
            if desired > maximum_allowed {
                return maximum_allowed;
            }
        } else if desired < current {
            let limit = calculate_scale_down_limit_with_behaviors(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                &behavior.scale_down,
                now_s,
            )
            .min(current);
            let minimum_allowed = min.max(limit);
            if desired < minimum_allowed {
                return minimum_allowed;
            }
        }
        desired
    }

    // horizontal.go storeScaleEvent
    fn store_scale_event(&mut self, behavior: &Behavior, now_s: u64, prev: i64, new: i64) {
        let (events, rules, change) = if new > prev {
            (&mut self.scale_up_events, &behavior.scale_up, new - prev)
        } else {
            (
                &mut self.scale_down_events,
                &behavior.scale_down,
                prev - new,
            )
        };
        // horizontal.go getLongestPolicyPeriod
        let longest_period_s = rules
            .policies
            .iter()
            .map(|p| u64::from(p.period_s))
            .max()
            .unwrap_or(0);
        // horizontal.go markScaleEventsOutdated
        for event in events.iter_mut() {
            if before_cutoff(event.at_s, longest_period_s, now_s) {
                event.outdated = true;
            }
        }
        let event = ScaleEvent {
            change,
            at_s: now_s,
            outdated: false,
        };
        // storeScaleEvent reuses the last outdated slot.
        match events.iter().rposition(|e| e.outdated) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

// horizontal.go convertDesiredReplicasWithRules, calculateScaleUpLimit
fn convert_desired_replicas_with_rules(current: i64, desired: i64, min: i64, max: i64) -> i64 {
    // Guards against bogus usage reports blowing the Deployment up (kubernetes issue #32304).
    let scale_up_limit =
        (SCALE_UP_LIMIT_FACTOR * current as f64).max(SCALE_UP_LIMIT_MINIMUM) as i64;
    let maximum_allowed = max.min(scale_up_limit);
    if desired < min {
        min
    } else if desired > maximum_allowed {
        maximum_allowed
    } else {
        desired
    }
}

// horizontal.go getReplicasChangePerPeriod
fn get_replicas_change_per_period(period_s: u32, events: &[ScaleEvent], now_s: u64) -> i64 {
    events
        .iter()
        .filter(|e| after_cutoff(e.at_s, u64::from(period_s), now_s))
        .map(|e| e.change)
        .sum()
}

/// Replicas at the start of a policy's period: the limits are relative to it, so several
/// syncs inside one period share one allowance.
fn period_start_replicas(
    current: i64,
    period_s: u32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    now_s: u64,
) -> i64 {
    current - get_replicas_change_per_period(period_s, up_events, now_s)
        + get_replicas_change_per_period(period_s, down_events, now_s)
}

// horizontal.go calculateScaleUpLimitWithScalingRules
fn calculate_scale_up_limit_with_scaling_rules(
    current: i64,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now_s: u64,
) -> i64 {
    let (mut result, select): (i64, fn(i64, i64) -> i64) = match rules.select {
        SelectPolicy::Disabled => return current,
        // For scaling up, the smallest change is the smallest limit.
        SelectPolicy::Min => (i64::from(i32::MAX), i64::min),
        SelectPolicy::Max => (i64::from(i32::MIN), i64::max),
    };
    for policy in &rules.policies {
        let start = period_start_replicas(current, policy.period_s, up_events, down_events, now_s);
        let proposed = match policy.kind {
            ScalingPolicyType::Pods => start + i64::from(policy.value),
            // Rounded up, or a small Deployment could never grow by a percentage.
            ScalingPolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
            }
        };
        result = select(result, proposed);
    }
    result
}

// horizontal.go calculateScaleDownLimitWithBehaviors
fn calculate_scale_down_limit_with_behaviors(
    current: i64,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now_s: u64,
) -> i64 {
    let (mut result, select): (i64, fn(i64, i64) -> i64) = match rules.select {
        SelectPolicy::Disabled => return current,
        // For scaling down, the smallest change is the largest limit.
        SelectPolicy::Min => (i64::from(i32::MIN), i64::max),
        SelectPolicy::Max => (i64::from(i32::MAX), i64::min),
    };
    for policy in &rules.policies {
        let start = period_start_replicas(current, policy.period_s, up_events, down_events, now_s);
        let proposed = match policy.kind {
            ScalingPolicyType::Pods => start - i64::from(policy.value),
            // Truncated toward zero, as Go's int32 conversion does.
            ScalingPolicyType::Percent => {
                (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64
            }
        };
        result = select(result, proposed);
    }
    result
}

/// `behavior` is either a table or the string `"none"`: TOML has no null, and a missing key
/// must mean the API defaults rather than the legacy controller.
mod behavior_serde {
    use serde::de::{self, MapAccess, Unexpected, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use std::fmt;

    use super::HpaBehavior;

    const NONE: &str = "none";

    pub(super) fn serialize<S: Serializer>(
        behavior: &Option<HpaBehavior>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match behavior {
            Some(b) => b.serialize(serializer),
            None => serializer.serialize_str(NONE),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<HpaBehavior>, D::Error> {
        deserializer.deserialize_any(BehaviorVisitor)
    }

    struct BehaviorVisitor;

    impl<'de> Visitor<'de> for BehaviorVisitor {
        type Value = Option<HpaBehavior>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "a behavior table, or \"{NONE}\" for the legacy controller"
            )
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v == NONE {
                Ok(None)
            } else {
                Err(E::invalid_value(Unexpected::Str(v), &self))
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            HpaBehavior::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Observation;

    /// Every test starts long after t = 0 so pods created at 0 are past the 300 s CPU
    /// initialisation period.
    const T0: u64 = 1000;

    /// `n` pods that started at 0 and were Ready at 30.
    fn ready_pods(n: usize) -> Vec<PodView> {
        vec![
            PodView {
                created_at_s: 0,
                ready_at_s: Some(30),
            };
            n
        ]
    }

    /// A pod created 10 s before `now_s` and still starting.
    fn pending_pod(now_s: u64) -> PodView {
        PodView {
            created_at_s: now_s - 10,
            ready_at_s: None,
        }
    }

    /// Metrics whose newest scrape is 15 s old, a rate over 60 s.
    fn metrics_at(now_s: u64, cpu: f64) -> ObservedMetrics {
        ObservedMetrics {
            timestamp_s: now_s - 15,
            window_s: 60,
            request_rate_rps: 0.0,
            cpu_utilization: cpu,
            memory_utilization: 0.0,
            p95_latency_s: 0.0,
            error_rate: 0.0,
            queue_length: 0.0,
            ready_pods: 0,
            pending_pods: 0,
        }
    }

    /// One sync with replica bounds [`min`, `max`].
    fn sync_bounded(
        hpa: &mut Hpa,
        now_s: u64,
        spec: u32,
        pods: &[PodView],
        cpu: Option<f64>,
        min: u32,
        max: u32,
    ) -> u32 {
        let observation = Observation::default();
        let metrics = cpu.map(|c| metrics_at(now_s, c));
        let view = ClusterView {
            now_s,
            spec_replicas: spec,
            min_replicas: min,
            max_replicas: max,
            pods,
            metrics: metrics.as_ref(),
            observation: &observation,
        };
        hpa.desired_replicas(&view)
    }

    /// One sync with bounds [1, 100] and `spec` pods that are all ready.
    fn sync(hpa: &mut Hpa, now_s: u64, spec: u32, cpu: f64) -> u32 {
        let pods = ready_pods(spec as usize);
        sync_bounded(hpa, now_s, spec, &pods, Some(cpu), 1, 100)
    }

    fn with_behavior(behavior: HpaBehavior) -> Hpa {
        Hpa::new(HpaConfig {
            behavior: Some(behavior),
            ..HpaConfig::default()
        })
    }

    fn legacy() -> Hpa {
        Hpa::new(HpaConfig {
            behavior: None,
            ..HpaConfig::default()
        })
    }

    /// The default behavior with no scale-down stabilisation, to isolate the rate limits.
    fn no_down_window(scale_down_policies: Vec<ScalingPolicy>) -> HpaBehavior {
        HpaBehavior {
            scale_down: ScalingRules {
                stabilization_window_s: Some(0),
                select_policy: SelectPolicy::Max,
                policies: scale_down_policies,
            },
            ..HpaBehavior::default()
        }
    }

    #[test]
    fn within_tolerance_holds_and_beyond_it_scales() {
        // 75 % / 70 % = 1.071, inside [0.9, 1.1]: hold 4.
        assert_eq!(sync(&mut Hpa::default(), T0, 4, 0.75), 4);
        // 77 % / 70 % = 1.1 exactly: the band is inclusive, hold 4.
        assert_eq!(sync(&mut Hpa::default(), T0, 4, 0.77), 4);
        // 78 % / 70 % = 1.114 → ceil(1.114 × 4 = 4.457) = 5.
        assert_eq!(sync(&mut Hpa::default(), T0, 4, 0.78), 5);
        // A tighter tolerance of 0.05 lets 75 % through: ceil(1.071 × 4 = 4.286) = 5.
        let mut tight = Hpa::new(HpaConfig {
            tolerance: 0.05,
            ..HpaConfig::default()
        });
        assert_eq!(sync(&mut tight, T0, 4, 0.75), 5);
    }

    #[test]
    fn scale_up_is_ceil_of_ratio_times_ready_pods() {
        // 91 % / 70 % = 1.3 → ceil(1.3 × 4 = 5.2) = 6 (rate limit allows 8).
        assert_eq!(sync(&mut Hpa::default(), T0, 4, 0.91), 6);
        // 80 % / 70 % = 1.143 → ceil(1.143 × 3 = 3.43) = 4.
        assert_eq!(sync(&mut Hpa::default(), T0, 3, 0.80), 4);
        // Utilisation is truncated to a whole percent first: 0.7799 → 77 % → 1.1, hold.
        assert_eq!(sync(&mut Hpa::default(), T0, 4, 0.7799), 4);
    }

    #[test]
    fn unready_pods_count_as_idle_on_scale_up() {
        let mut pods = ready_pods(3);
        pods.push(pending_pod(T0));

        // 3 ready at 99 %, 1 pending. Ratio 99/70 = 1.414 > 1, so the pending pod joins at
        // 0 %: (3 × 0.99) / 4 = 0.7425 → 74 % → 74/70 = 1.057, within tolerance: hold 4.
        // (Ignoring the pending pod would have asked ceil(1.414 × 3) = 5.)
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 4, &pods, Some(0.99), 1, 100),
            4
        );

        // 3 ready at 119 %, 1 pending: (3 × 1.19) / 4 = 0.8925 → 89 % → 89/70 = 1.271 →
        // ceil(1.271 × 4 pods counted = 5.09) = 6.
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 4, &pods, Some(1.19), 1, 100),
            6
        );

        // A pod Ready for less than one metric window inside the initialisation period is
        // unready too: created at 940, Ready at 970, newest scrape 985 < 970 + 60.
        let mut pods = ready_pods(3);
        pods.push(PodView {
            created_at_s: T0 - 60,
            ready_at_s: Some(T0 - 30),
        });
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 4, &pods, Some(0.99), 1, 100),
            4
        );
    }

    #[test]
    fn direction_change_guards_hold_the_current_size() {
        // 2 ready at 90 %, 2 pending: 90/70 = 1.286 says up, but with the pending pods at
        // 0 %: 1.8 / 4 = 0.45 → 45 % → 0.643 says down. The direction flipped: hold 4
        // (not ceil(0.643 × 4) = 3).
        let mut pods = ready_pods(2);
        pods.extend([pending_pod(T0), pending_pod(T0)]);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 4, &pods, Some(0.90), 1, 100),
            4
        );

        // spec 2 while 4 pods run (a surge); 2 of them were created after the newest scrape
        // (985) so they are missing. 14 % / 70 % = 0.2 says down, so the missing pods count
        // at 100 %: (0.28 + 2) / 4 = 0.57 → 57 % → 0.814, still down, but
        // ceil(0.814 × 4) = 4 > spec 2 would scale up: hold 2.
        let mut pods = ready_pods(2);
        pods.extend(
            [PodView {
                created_at_s: T0 - 5,
                ready_at_s: Some(T0 - 2),
            }; 2],
        );
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 2, &pods, Some(0.14), 1, 100),
            2
        );
    }

    #[test]
    fn group_pods_sorts_by_phase_initialisation_and_metric_age() {
        // now 1000, newest scrape 985, window 60.
        let metrics = metrics_at(T0, 0.5);
        let pods = [
            // Started long ago: ready.
            PodView {
                created_at_s: 0,
                ready_at_s: Some(30),
            },
            // Started 100 s ago, Ready at 920: 985 ≥ 920 + 60, a full window since: ready.
            PodView {
                created_at_s: 900,
                ready_at_s: Some(920),
            },
            // Started 100 s ago, Ready at 960: 985 < 960 + 60: unready.
            PodView {
                created_at_s: 900,
                ready_at_s: Some(960),
            },
            // Started 400 s ago, Ready at 990 (after the scrape) but past the 300 s
            // initialisation period: ready.
            PodView {
                created_at_s: 600,
                ready_at_s: Some(990),
            },
            // Not Ready yet: unready.
            PodView {
                created_at_s: 995,
                ready_at_s: None,
            },
            // Ready but created at 990, after the scrape at 985: missing.
            PodView {
                created_at_s: 990,
                ready_at_s: Some(998),
            },
        ];
        assert_eq!(
            group_pods(&pods, &metrics, T0, 300),
            PodGroups {
                ready: 3,
                unready: 2,
                missing: 1,
            }
        );
    }

    #[test]
    fn scale_down_waits_out_the_300_s_stabilisation_window() {
        // 10 pods at 35 %: 35/70 = 0.5 → ceil(0.5 × 10) = 5 wanted. The first sync records
        // the initial recommendation 10 at t = 1000; with the behavior API defaults the
        // highest recommendation newer than now − 300 s wins, so 10 holds up to t = 1285.
        let mut hpa = Hpa::default();
        for now in (T0..T0 + 300).step_by(15) {
            assert_eq!(sync(&mut hpa, now, 10, 0.35), 10, "at {now}");
        }
        // At 1300 the 10 from t = 1000 is no longer after the cutoff (1000): 5, which the
        // −100 % per 15 s policy allows.
        assert_eq!(sync(&mut hpa, T0 + 300, 10, 0.35), 5);
    }

    #[test]
    fn legacy_scale_down_window_includes_its_boundary() {
        // Same load, behavior unset: stabilizeRecommendation drops only recommendations
        // *before* now − 300 s, so the initial 10 from t = 1000 still counts at 1300 and the
        // scale-down comes one sync later, at 1315.
        let mut hpa = legacy();
        for now in (T0..=T0 + 300).step_by(15) {
            assert_eq!(sync(&mut hpa, now, 10, 0.35), 10, "at {now}");
        }
        assert_eq!(sync(&mut hpa, T0 + 315, 10, 0.35), 5);
    }

    #[test]
    fn scale_up_rate_is_the_larger_of_4_pods_and_100_percent_per_15_s() {
        // 350 % / 70 % = 5. From 2: wants 10; +4 pods → 6, +100 % → 4; Max picks 6.
        assert_eq!(sync(&mut Hpa::default(), T0, 2, 3.5), 6);
        // From 10: wants 50; +4 pods → 14, +100 % → 20; Max picks 20.
        assert_eq!(sync(&mut Hpa::default(), T0, 10, 3.5), 20);

        // Consecutive syncs: the scale event at 1000 (+4) is not after 1015 − 15 s, so the
        // next sync's period starts afresh from 6: max(6 + 4, 6 × 2) = 12.
        let mut hpa = Hpa::default();
        assert_eq!(sync(&mut hpa, T0, 2, 3.5), 6);
        assert_eq!(sync(&mut hpa, T0 + 15, 6, 3.5), 12);
        // From 12: max(16, 24) = 24, then max(28, 48) = 48.
        assert_eq!(sync(&mut hpa, T0 + 30, 12, 3.5), 24);
        assert_eq!(sync(&mut hpa, T0 + 45, 24, 3.5), 48);
    }

    #[test]
    fn scale_up_allowance_is_shared_across_syncs_within_a_period() {
        // Only +4 pods per 60 s.
        let mut hpa = with_behavior(HpaBehavior {
            scale_up: ScalingRules {
                stabilization_window_s: Some(0),
                select_policy: SelectPolicy::Max,
                policies: vec![ScalingPolicy::pods(4, 60)],
            },
            ..HpaBehavior::default()
        });
        // 2 → 6 at 1000 (wants 10).
        assert_eq!(sync(&mut hpa, T0, 2, 3.5), 6);
        // At 1015 and 1045 the +4 from 1000 is inside the period: it started at 6 − 4 = 2,
        // the limit is 2 + 4 = 6: hold.
        assert_eq!(sync(&mut hpa, T0 + 15, 6, 3.5), 6);
        assert_eq!(sync(&mut hpa, T0 + 45, 6, 3.5), 6);
        // At 1060 the event at 1000 is not after 1060 − 60: 6 + 4 = 10.
        assert_eq!(sync(&mut hpa, T0 + 60, 6, 3.5), 10);
        // At 1075 the +4 from 1060 counts again: hold 10.
        assert_eq!(sync(&mut hpa, T0 + 75, 10, 3.5), 10);
    }

    #[test]
    fn select_policy_min_and_disabled() {
        let rules = |select_policy| HpaBehavior {
            scale_up: ScalingRules {
                stabilization_window_s: Some(0),
                select_policy,
                policies: default_scale_up_policies(),
            },
            ..HpaBehavior::default()
        };
        // From 10 wanting 50: Min picks min(10 + 4, 10 × 2) = 14.
        assert_eq!(
            sync(&mut with_behavior(rules(SelectPolicy::Min)), T0, 10, 3.5),
            14
        );
        // Disabled: no scale-up at all.
        assert_eq!(
            sync(
                &mut with_behavior(rules(SelectPolicy::Disabled)),
                T0,
                10,
                3.5
            ),
            10
        );
    }

    #[test]
    fn scale_down_percent_policies() {
        // Default −100 % per 15 s, no window: 25/70 = 0.357 → ceil(3.57) = 4, and the limit
        // int(10 × 0) = 0 does not bind: 4.
        let mut hpa = with_behavior(no_down_window(default_scale_down_policies()));
        assert_eq!(sync(&mut hpa, T0, 10, 0.25), 4);

        // −50 % per 60 s: int(10 × 0.5) = 5 at 1000.
        let mut hpa = with_behavior(no_down_window(vec![ScalingPolicy::percent(50, 60)]));
        assert_eq!(sync(&mut hpa, T0, 10, 0.25), 5);
        // At 1015 the period started at 5 + 5 = 10, limit 5: hold 5 (wants ceil(0.357 × 5) = 2).
        assert_eq!(sync(&mut hpa, T0 + 15, 5, 0.25), 5);
        // At 1060 the event is outside the period: int(5 × 0.5 = 2.5) = 2, as wanted.
        assert_eq!(sync(&mut hpa, T0 + 60, 5, 0.25), 2);
    }

    #[test]
    fn scale_ups_in_the_period_count_against_scale_down_start() {
        // −50 % per 60 s. At 1000: 4 pods at 140 % → 2.0 × 4 = 8, event +4.
        let mut hpa = with_behavior(no_down_window(vec![ScalingPolicy::percent(50, 60)]));
        assert_eq!(sync(&mut hpa, T0, 4, 1.40), 8);
        // At 1015: 14 % → 0.2 × 8 = 1.6 → 2. The period started at 8 − 4 (added) = 4 pods,
        // so the limit is int(4 × 0.5) = 2, not int(8 × 0.5) = 4: 2.
        assert_eq!(sync(&mut hpa, T0 + 15, 8, 0.14), 2);
    }

    #[test]
    fn legacy_scale_up_is_limited_to_double_or_four() {
        // 350 % / 70 % = 5 × current.
        // From 1: wants 5, limit max(2 × 1, 4) = 4.
        assert_eq!(sync(&mut legacy(), T0, 1, 3.5), 4);
        // From 3: wants 15, limit max(6, 4) = 6.
        assert_eq!(sync(&mut legacy(), T0, 3, 3.5), 6);
        // From 10: wants 50, limit 20.
        assert_eq!(sync(&mut legacy(), T0, 10, 3.5), 20);
        // From 3 with max 5: min(5, 6) = 5.
        let pods = ready_pods(3);
        assert_eq!(
            sync_bounded(&mut legacy(), T0, 3, &pods, Some(3.5), 1, 5),
            5
        );
        // Below min: convertDesiredReplicasWithRules raises 2 to 3.
        assert_eq!(convert_desired_replicas_with_rules(10, 2, 3, 20), 3);
    }

    #[test]
    fn replica_bounds_clamp() {
        // Wants 50 from 10, the rate allows 20, max is 12: 12.
        let pods = ready_pods(10);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 10, &pods, Some(3.5), 1, 12),
            12
        );
        // Wants ceil(10/70 × 10 = 1.43) = 2 from 10 with min 3 and no window: 3.
        let mut hpa = with_behavior(no_down_window(default_scale_down_policies()));
        assert_eq!(sync_bounded(&mut hpa, T0, 10, &pods, Some(0.10), 3, 20), 3);
        // Outside the bounds the controller moves to the bound without looking at metrics.
        let pods = ready_pods(25);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 25, &pods, None, 1, 20),
            20
        );
        let pods = ready_pods(1);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 1, &pods, None, 3, 20),
            3
        );
        // Scaled to zero by hand with min ≥ 1: autoscaling is off, stay at 0.
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 0, &[], Some(3.5), 1, 20),
            0
        );
    }

    #[test]
    fn no_usable_metrics_holds() {
        // No scrape yet.
        let pods = ready_pods(5);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 5, &pods, None, 1, 20),
            5
        );
        // Every pod still starting: no sample from a ready pod.
        let pods = vec![pending_pod(T0); 3];
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 3, &pods, Some(0.9), 1, 20),
            3
        );
        // A NaN sample.
        let pods = ready_pods(5);
        assert_eq!(
            sync_bounded(&mut Hpa::default(), T0, 5, &pods, Some(f64::NAN), 1, 20),
            5
        );
        // A failed sync stores no scale event: the next one grows from 5 by
        // max(+4, +100 %) = 10 (wants ceil(5 × 5) = 25).
        let mut hpa = Hpa::default();
        assert_eq!(sync_bounded(&mut hpa, T0, 5, &pods, None, 1, 100), 5);
        assert_eq!(sync(&mut hpa, T0 + 15, 5, 3.5), 10);
    }

    #[test]
    fn reset_forgets_scale_events_and_recommendations() {
        let mut hpa = with_behavior(HpaBehavior {
            scale_up: ScalingRules {
                stabilization_window_s: Some(0),
                select_policy: SelectPolicy::Max,
                policies: vec![ScalingPolicy::pods(4, 60)],
            },
            ..HpaBehavior::default()
        });
        assert_eq!(sync(&mut hpa, T0, 2, 3.5), 6);
        hpa.reset();
        // Without the +4 at 1000 the period starts at 6: 10 (it was 6 in the test above).
        assert_eq!(sync(&mut hpa, T0 + 15, 6, 3.5), 10);

        // Recommendations go too; the next sync records a fresh initial one.
        assert_eq!(hpa.history.recommendations.len(), 2);
        hpa.reset();
        assert!(hpa.history.recommendations.is_empty());
        assert!(hpa.history.scale_up_events.is_empty());
        assert_eq!(sync(&mut hpa, T0 + 30, 10, 0.35), 10);
        assert_eq!(
            hpa.history.recommendations,
            vec![
                Recommendation {
                    replicas: 10,
                    at_s: T0 + 30
                },
                Recommendation {
                    replicas: 5,
                    at_s: T0 + 30
                },
            ]
        );
    }

    #[test]
    fn names() {
        assert_eq!(Hpa::default().name(), "hpa");
        assert_eq!(Hpa::with_target(0.70).name(), "hpa");
        assert_eq!(Hpa::with_target(0.55).name(), "hpa(55%)");
        assert_eq!(Hpa::with_target(0.625).name(), "hpa(62.5%)");
    }

    #[test]
    fn config_defaults_and_toml() {
        let config = HpaConfig::default();
        assert_eq!(config.target_utilization, 0.70);
        assert_eq!(config.tolerance, 0.1);
        assert_eq!(config.cpu_initialization_period_s, 300);
        assert_eq!(config.downscale_stabilization_window_s, 300);
        let behavior = config.behavior.clone().unwrap();
        assert_eq!(behavior.scale_up.stabilization_window_s, Some(0));
        assert_eq!(
            behavior.scale_up.policies,
            vec![ScalingPolicy::pods(4, 15), ScalingPolicy::percent(100, 15)]
        );
        assert_eq!(behavior.scale_down.stabilization_window_s, None);
        assert_eq!(
            behavior.scale_down.policies,
            vec![ScalingPolicy::percent(100, 15)]
        );
        assert!(config.validate().is_ok());

        // Empty input is the default; round trips keep both modes.
        let parsed: HpaConfig = toml::from_str("").unwrap();
        assert_eq!(parsed, config);
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<HpaConfig>(&text).unwrap(), config);
        let legacy_config: HpaConfig = toml::from_str("behavior = \"none\"").unwrap();
        assert_eq!(legacy_config.behavior, None);
        let text = toml::to_string(&legacy_config).unwrap();
        assert_eq!(toml::from_str::<HpaConfig>(&text).unwrap(), legacy_config);
        let json: HpaConfig = serde_json::from_str(r#"{"behavior": null}"#).unwrap();
        assert_eq!(json.behavior, None);

        // A partial table keeps the API defaults of each direction.
        let partial: HpaConfig = toml::from_str(
            "target_utilization = 0.55\n[behavior.scale_up]\nselect_policy = \"Min\"\n\
             [behavior.scale_down]\nstabilization_window_s = 60\n\
             policies = [{ type = \"Pods\", value = 1, period_s = 30 }]\n",
        )
        .unwrap();
        let hpa = Hpa::new(partial);
        let b = hpa.behavior.as_ref().unwrap();
        assert_eq!(
            (b.scale_up.window_s, b.scale_up.select),
            (0, SelectPolicy::Min)
        );
        assert_eq!(b.scale_up.policies, default_scale_up_policies());
        assert_eq!(b.scale_down.window_s, 60);
        assert_eq!(b.scale_down.policies, vec![ScalingPolicy::pods(1, 30)]);
        // Unset scale-down window falls back to the controller flag.
        assert_eq!(Hpa::default().behavior.unwrap().scale_down.window_s, 300);

        assert!(toml::from_str::<HpaConfig>("target = 0.5").is_err());
        assert!(toml::from_str::<HpaConfig>("behavior = \"off\"").is_err());
        assert!(toml::from_str::<HpaConfig>("[behavior]\nscale_sideways = {}").is_err());
    }

    #[test]
    fn validate_names_the_field() {
        let bad = |config: HpaConfig| config.validate().unwrap_err().field;
        assert_eq!(
            bad(HpaConfig {
                target_utilization: 0.0,
                ..HpaConfig::default()
            }),
            "target_utilization"
        );
        assert_eq!(
            bad(HpaConfig {
                tolerance: -0.1,
                ..HpaConfig::default()
            }),
            "tolerance"
        );
        let mut behavior = HpaBehavior::default();
        behavior.scale_down.policies = vec![ScalingPolicy::percent(50, 0)];
        assert_eq!(
            bad(HpaConfig {
                behavior: Some(behavior),
                ..HpaConfig::default()
            }),
            "behavior.scale_down.policies[0].period_s"
        );
        let mut behavior = HpaBehavior::default();
        behavior.scale_up.stabilization_window_s = Some(3601);
        assert_eq!(
            bad(HpaConfig {
                behavior: Some(behavior),
                ..HpaConfig::default()
            }),
            "behavior.scale_up.stabilization_window_s"
        );
    }
}
