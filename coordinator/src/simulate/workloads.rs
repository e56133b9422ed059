//! Which traffic each simulated cluster serves, and which workload is kept back to test
//! transfer to something the fleet never trained on.

use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::sim::SimConfig;
use common::transport::ClusterId;

/// The named patterns clusters are given, in order, skipping the held-out one. The order
/// puts the most different shapes first, so a small fleet already covers diurnal load,
/// bursts, ramps and idle stretches.
const ROTATION: [&str; 6] = [
    "daily_pattern",
    "flash_crowd",
    "gradual_ramp",
    "idle_periods",
    "steady",
    "sudden_spike",
];

/// One simulated cluster.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    /// Its identity, as its certificate names it.
    pub(crate) id: ClusterId,
    /// The scenario name it trains and is judged on.
    pub(crate) workload: String,
    /// Its traffic, built once.
    pub(crate) scenario: Scenario,
}

/// A scenario, or why its name is not one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkloadError {
    /// The name does not parse or the scenario cannot be built.
    #[error("workload `{name}`: {reason}")]
    Scenario {
        /// What was asked for.
        name: String,
        /// Why it failed.
        reason: String,
    },
    /// No pattern is left for the clusters once the held-out one is removed.
    #[error("the held-out workload `{0}` leaves no pattern for the clusters")]
    NothingLeft(String),
}

/// Builds the scenario `name` names (a pattern, or `trace:PATH`), as `evaluate` would.
pub(crate) fn scenario(name: &str, sim: &SimConfig) -> Result<Scenario, WorkloadError> {
    let wrap = |reason: String| WorkloadError::Scenario {
        name: name.to_owned(),
        reason,
    };
    let spec: ScenarioSpec = name.parse().map_err(|e| wrap(format!("{e}")))?;
    Scenario::build(&spec, &ScenarioOptions::default(), sim).map_err(|e| wrap(format!("{e}")))
}

/// `count` clusters named `cluster-1`, `cluster-2`, … serving the rotation's patterns
/// other than `holdout`, wrapping around when there are more clusters than patterns.
pub(crate) fn fleet(
    count: usize,
    holdout: &str,
    sim: &SimConfig,
) -> Result<Vec<Cluster>, WorkloadError> {
    let patterns: Vec<&str> = ROTATION.iter().copied().filter(|p| *p != holdout).collect();
    if patterns.is_empty() {
        return Err(WorkloadError::NothingLeft(holdout.to_owned()));
    }
    (0..count)
        .map(|i| {
            let workload = patterns[i % patterns.len()].to_owned();
            let id = ClusterId::new(format!("cluster-{}", i + 1)).map_err(|e| {
                WorkloadError::Scenario {
                    name: workload.clone(),
                    reason: e.to_string(),
                }
            })?;
            Ok(Cluster {
                id,
                scenario: scenario(&workload, sim)?,
                workload,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_get_distinct_patterns_and_never_the_held_out_one() {
        let sim = SimConfig::default();
        let fleet = fleet(7, "sudden_spike", &sim).unwrap();
        let names: Vec<&str> = fleet.iter().map(|c| c.workload.as_str()).collect();
        assert_eq!(
            names,
            [
                "daily_pattern",
                "flash_crowd",
                "gradual_ramp",
                "idle_periods",
                "steady",
                "daily_pattern",
                "flash_crowd"
            ]
        );
        assert_eq!(fleet[6].id.as_str(), "cluster-7");
        assert!(scenario("no_such_pattern", &sim).is_err());
    }
}
