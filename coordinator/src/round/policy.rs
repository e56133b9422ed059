//! How rounds are run: sampling, quorum, timing and budget.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{deserialize_duration, serialize_duration};

/// The rules every round follows; fleet configuration, fixed for a coordinator's run (the
/// `[rounds]` section of the configuration file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoundPolicy {
    /// Share of the connected agents offered each round, in (0, 1]; at least one agent is
    /// always offered. Below 1 it spreads the work and keeps rounds short in large fleets,
    /// at the price of each round seeing fewer workloads.
    pub participation: f64,
    /// Connected agents needed before a round opens; a round with one agent only
    /// replays that agent's local training.
    pub min_agents: usize,
    /// Share of the participants whose accepted updates let the round close early, in
    /// (0, 1], once `grace` has passed after reaching it. The rest are stragglers.
    pub quorum: f64,
    /// How long to keep waiting once the quorum is reached, so agents that are nearly done
    /// still count.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub grace: Duration,
    /// The longest a round stays open; sent to agents as the offer's deadline.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub deadline: Duration,
    /// Environment steps each participant trains for.
    pub budget_env_steps: u64,
    /// Pause after a round closes before the next one opens.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub interval: Duration,
    /// Rounds to run before stopping, `None` for no limit. Counted from the coordinator's
    /// start, so a restarted coordinator runs that many again (round numbers continue
    /// from the registry).
    pub max_rounds: Option<u64>,
}

/// A policy that could not run rounds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// A share outside (0, 1].
    #[error("rounds.{name} = {value} must be in (0, 1], e.g. 0.5 for half")]
    Fraction {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A count or duration that must be positive.
    #[error("rounds.{name} must be positive")]
    Zero {
        /// The field.
        name: &'static str,
    },
}

impl RoundPolicy {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (name, value) in [
            ("participation", self.participation),
            ("quorum", self.quorum),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(PolicyError::Fraction { name, value });
            }
        }
        if self.min_agents == 0 {
            return Err(PolicyError::Zero { name: "min_agents" });
        }
        if self.deadline.is_zero() {
            return Err(PolicyError::Zero { name: "deadline" });
        }
        if self.budget_env_steps == 0 {
            return Err(PolicyError::Zero {
                name: "budget_env_steps",
            });
        }
        if self.max_rounds == Some(0) {
            return Err(PolicyError::Zero { name: "max_rounds" });
        }
        Ok(())
    }
}

impl Default for RoundPolicy {
    /// Every agent takes part; a round needs one agent, closes 5 s after 80 % of the
    /// participants contributed or after 2 minutes; 2,000 environment steps (about 8
    /// simulated hours) of local training; 5 s between rounds; no round limit.
    fn default() -> Self {
        Self {
            participation: 1.0,
            min_agents: 1,
            quorum: 0.8,
            grace: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
            budget_env_steps: 2_000,
            interval: Duration::from_secs(5),
            max_rounds: None,
        }
    }
}
