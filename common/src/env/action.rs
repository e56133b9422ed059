//! Discrete actions: each one adds a fixed number of pods to `spec.replicas`.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The set of replica steps an agent chooses from. The default is the seed's
/// `Discrete(3)`: 0 scales down one pod, 1 holds, 2 scales up one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpace {
    /// Replica deltas, strictly increasing, containing 0 (hold). Default `[-1, 0, 1]`.
    pub steps: Vec<i32>,
}

impl Default for ActionSpace {
    fn default() -> Self {
        Self {
            steps: vec![-1, 0, 1],
        }
    }
}

impl ActionSpace {
    /// A space with the given steps, validated.
    pub fn new(steps: Vec<i32>) -> Result<Self, ConfigError> {
        let s = Self { steps };
        s.validate()?;
        Ok(s)
    }

    /// Steps must be strictly increasing and include a hold.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.steps.windows(2).all(|w| w[0] < w[1]) {
            return Err(ConfigError::invalid(
                "actions.steps",
                "must be strictly increasing",
            ));
        }
        if !self.steps.contains(&0) {
            return Err(ConfigError::invalid(
                "actions.steps",
                "must contain 0 (hold)",
            ));
        }
        Ok(())
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Never true for a validated space.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The index of the hold action.
    pub fn hold(&self) -> usize {
        self.steps.iter().position(|&s| s == 0).unwrap_or(0)
    }

    /// The replica delta of `action`; out-of-range actions hold.
    pub fn delta(&self, action: usize) -> i32 {
        self.steps.get(action).copied().unwrap_or(0)
    }

    /// `spec_replicas` moved by `action`, saturating at zero (the caller clamps to bounds).
    pub fn apply(&self, action: usize, spec_replicas: u32) -> u32 {
        spec_replicas.saturating_add_signed(self.delta(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_seeds_discrete_3() {
        let a = ActionSpace::default();
        assert_eq!(a.len(), 3);
        assert_eq!(a.hold(), 1);
        assert_eq!(a.apply(0, 5), 4);
        assert_eq!(a.apply(1, 5), 5);
        assert_eq!(a.apply(2, 5), 6);
        assert_eq!(a.apply(0, 0), 0);
    }

    #[test]
    fn custom_steps_are_validated() {
        let a = ActionSpace::new(vec![-2, -1, 0, 1, 2, 4]).unwrap();
        assert_eq!(a.apply(5, 3), 7);
        assert!(ActionSpace::new(vec![-1, 1]).is_err());
        assert!(ActionSpace::new(vec![0, -1]).is_err());
    }
}
