//! The safety layer's settings, loadable from TOML. Unknown keys are refused so a typo
//! cannot silently leave a limit at its default.

use common::ConfigError;
use common::policy::HpaConfig;
use serde::{Deserialize, Serialize};

/// How cautious the layer is. Every field has a default, so an empty table is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SafetyConfig {
    /// Fewest replicas ever written, whatever the policy or the HPA rule asks. Default 1.
    pub(crate) min_replicas: u32,
    /// Most replicas ever written: the cost ceiling. Default 20.
    pub(crate) max_replicas: u32,
    /// Seconds after the last applied change (either direction) before a scale-up is
    /// allowed, so new pods get a chance to become ready and move the metrics before more
    /// are added. Default 30.
    pub(crate) scale_up_cooldown_s: u64,
    /// Seconds after the last applied change (either direction) before a scale-down is
    /// allowed; longer than the scale-up cooldown because removing pods too early is what
    /// breaks the SLO. Default 180.
    pub(crate) scale_down_cooldown_s: u64,
    /// Most pods added within any sliding 60 s window of applied changes. Default 5.
    pub(crate) max_added_per_minute: u32,
    /// Most pods removed within any sliding 60 s window of applied changes. Default 3.
    pub(crate) max_removed_per_minute: u32,
    /// Metrics whose newest scrape is more than this many seconds older than the decision
    /// are stale and the HPA rule decides. With 15 s scrapes, 60 means four missed scrapes,
    /// which is also when a 1-minute `rate()` runs out of samples. Default 60.
    pub(crate) metrics_max_age_s: u64,
    /// A proposal whose confidence is below this is handed to the HPA rule. Confidence is
    /// the chosen action's probability for PPO, or a Q-value margin mapped to [0, 1] for DQN.
    /// 0 switches the threshold off, though a confidence that is NaN or outside [0, 1] is
    /// still distrusted. Default 0.7.
    pub(crate) min_confidence: f64,
    /// How far (in normalised observation units) an entry may stray beyond the range seen in
    /// training before the observation counts as out of distribution. Default 0.05.
    pub(crate) envelope_tolerance: f64,
    /// Decide and record, never write: for running a new policy beside the autoscaler that
    /// is really in charge. Default false.
    pub(crate) shadow_mode: bool,
    /// When to stop writing after repeated actuator or metrics failures.
    pub(crate) breaker: BreakerConfig,
    /// The HPA rule that decides when the policy cannot be trusted. Default: the stock HPA
    /// at 70 % CPU with the autoscaling/v2 `behavior` defaults.
    pub(crate) fallback: HpaConfig,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            min_replicas: 1,
            max_replicas: 20,
            scale_up_cooldown_s: 30,
            scale_down_cooldown_s: 180,
            max_added_per_minute: 5,
            max_removed_per_minute: 3,
            metrics_max_age_s: 60,
            min_confidence: 0.7,
            envelope_tolerance: 0.05,
            shadow_mode: false,
            breaker: BreakerConfig::default(),
            fallback: HpaConfig::default(),
        }
    }
}

/// One circuit breaker; the actuator and the metrics each get their own with these
/// settings, so a healthy source cannot mask a failing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BreakerConfig {
    /// Consecutive failures that open the breaker. Default 3.
    pub(crate) failure_threshold: u32,
    /// Seconds the breaker stays open before it lets one probe through (half-open).
    /// Default 120.
    pub(crate) open_duration_s: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            open_duration_s: 120,
        }
    }
}

fn invalid(field: &str, reason: String) -> ConfigError {
    ConfigError {
        field: field.to_owned(),
        reason,
    }
}

impl SafetyConfig {
    /// Checks every field; the error names the offending one (dotted, as in the TOML).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_replicas == 0 {
            return Err(invalid("max_replicas", "must be at least 1, got 0".into()));
        }
        if self.min_replicas > self.max_replicas {
            return Err(invalid(
                "min_replicas",
                format!(
                    "{} exceeds max_replicas {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        // Zero would forbid one direction for ever: say so rather than stall quietly.
        if self.max_added_per_minute == 0 {
            return Err(invalid(
                "max_added_per_minute",
                "must be at least 1, got 0 (that would forbid every scale-up)".into(),
            ));
        }
        if self.max_removed_per_minute == 0 {
            return Err(invalid(
                "max_removed_per_minute",
                "must be at least 1, got 0 (that would forbid every scale-down)".into(),
            ));
        }
        if self.metrics_max_age_s == 0 {
            return Err(invalid(
                "metrics_max_age_s",
                "must be at least 1, got 0 (every scrape lags the decision a little)".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(invalid(
                "min_confidence",
                format!("must be within [0, 1], got {}", self.min_confidence),
            ));
        }
        if !(self.envelope_tolerance.is_finite() && self.envelope_tolerance >= 0.0) {
            return Err(invalid(
                "envelope_tolerance",
                format!("must be zero or more, got {}", self.envelope_tolerance),
            ));
        }
        self.breaker.validate()?;
        self.fallback.validate().map_err(|e| ConfigError {
            field: format!("fallback.{}", e.field),
            reason: e.reason,
        })
    }
}

impl BreakerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_threshold == 0 {
            return Err(invalid(
                "breaker.failure_threshold",
                "must be at least 1, got 0".into(),
            ));
        }
        if self.open_duration_s == 0 {
            return Err(invalid(
                "breaker.open_duration_s",
                "must be at least 1, got 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issues_numbers() {
        let c = SafetyConfig::default();
        assert_eq!((c.min_replicas, c.max_replicas), (1, 20));
        assert_eq!((c.scale_up_cooldown_s, c.scale_down_cooldown_s), (30, 180));
        assert_eq!((c.max_added_per_minute, c.max_removed_per_minute), (5, 3));
        assert_eq!(c.metrics_max_age_s, 60);
        assert_eq!(c.min_confidence, 0.7);
        assert_eq!(c.envelope_tolerance, 0.05);
        assert!(!c.shadow_mode);
        assert_eq!(c.breaker.failure_threshold, 3);
        assert_eq!(c.breaker.open_duration_s, 120);
        assert_eq!(c.fallback, HpaConfig::default());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn toml_fills_defaults_and_refuses_unknown_keys() {
        assert_eq!(
            toml::from_str::<SafetyConfig>("").unwrap(),
            SafetyConfig::default()
        );
        let c: SafetyConfig = toml::from_str(
            "max_replicas = 8\nshadow_mode = true\n[breaker]\nopen_duration_s = 30\n\
             [fallback]\ntarget_utilization = 0.6\n",
        )
        .unwrap();
        assert_eq!(c.max_replicas, 8);
        assert!(c.shadow_mode);
        assert_eq!(c.breaker.open_duration_s, 30);
        assert_eq!(c.breaker.failure_threshold, 3);
        assert_eq!(c.fallback.target_utilization, 0.6);
        assert_eq!(c.min_replicas, 1);

        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<SafetyConfig>(&text).unwrap(), c);

        let err = toml::from_str::<SafetyConfig>("max_pods = 8").unwrap_err();
        assert!(err.to_string().contains("max_pods"), "{err}");
        assert!(toml::from_str::<SafetyConfig>("[breaker]\nthreshold = 2").is_err());
    }

    #[test]
    fn validate_names_the_field() {
        let field = |edit: fn(&mut SafetyConfig)| {
            let mut c = SafetyConfig::default();
            edit(&mut c);
            c.validate().unwrap_err().field
        };
        assert_eq!(field(|c| c.max_replicas = 0), "max_replicas");
        assert_eq!(
            field(|c| {
                c.min_replicas = 5;
                c.max_replicas = 4;
            }),
            "min_replicas"
        );
        assert_eq!(
            field(|c| c.max_added_per_minute = 0),
            "max_added_per_minute"
        );
        assert_eq!(
            field(|c| c.max_removed_per_minute = 0),
            "max_removed_per_minute"
        );
        assert_eq!(field(|c| c.metrics_max_age_s = 0), "metrics_max_age_s");
        assert_eq!(field(|c| c.min_confidence = 1.5), "min_confidence");
        assert_eq!(field(|c| c.min_confidence = f64::NAN), "min_confidence");
        assert_eq!(
            field(|c| c.envelope_tolerance = -0.01),
            "envelope_tolerance"
        );
        assert_eq!(
            field(|c| c.breaker.failure_threshold = 0),
            "breaker.failure_threshold"
        );
        assert_eq!(
            field(|c| c.breaker.open_duration_s = 0),
            "breaker.open_duration_s"
        );
        assert_eq!(
            field(|c| c.fallback.target_utilization = 0.0),
            "fallback.target_utilization"
        );

        // Equal bounds pin the count, and zero cooldowns switch them off: both are valid.
        let mut c = SafetyConfig {
            min_replicas: 3,
            max_replicas: 3,
            scale_up_cooldown_s: 0,
            scale_down_cooldown_s: 0,
            min_confidence: 0.0,
            ..SafetyConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        c.min_replicas = 0;
        assert_eq!(c.validate(), Ok(()));
    }
}
