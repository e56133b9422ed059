//! The yardstick of a transfer: a policy played greedily on held-out episodes of the
//! target workload, reduced to the numbers the HPA is compared on.

use crate::env::EnvConfig;
use crate::error::ConfigError;
use crate::policy::{Hpa, Oracle, Policy};
use crate::rl::artifact::{Algo, TrainConfig};
use crate::rl::fleet_model::network_from_weights;
use crate::rl::policy::LearnedPolicy;
use crate::scenario::Scenario;
use crate::scorecard::{RunRecord, ScoreRow, run_policy};
use crate::sim::SimConfig;

use super::TransferError;

/// Held-out episodes of a workload: every scenario played with every seed. Seeds should
/// stay below [`crate::rl::episodes::TRAINING_SEED_BASE`] so no evaluation replays
/// training traffic; a trace is the same for every seed, so hold out a different window
/// of it instead.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
    /// The seeds each scenario is played with.
    pub seeds: Vec<u64>,
}

impl Workload {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.scenarios.is_empty() || self.seeds.is_empty() {
            return Err(ConfigError::invalid(
                "evaluation",
                "needs at least one scenario and one seed",
            ));
        }
        Ok(())
    }
}

/// How a policy did on a [`Workload`], summed or averaged over its runs the way the
/// README's scorecard summaries are.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// Total cost over every run.
    pub cost: f64,
    /// Mean over runs of the fraction of intervals that met the SLO (0–1).
    pub slo_compliance: f64,
    /// Mean over runs of failed / arrived requests.
    pub error_rate: f64,
    /// Mean over runs of the run's p95 latency, milliseconds.
    pub p95_ms: f64,
}

impl Score {
    /// Whether this is HPA-level: no more expensive than `hpa`, and meeting the SLO at
    /// most `slo_tolerance` (a fraction: 0.01 is one percentage point) less often. A
    /// policy that merely starves the workload is cheap, so cost alone would not do.
    pub fn reaches(&self, hpa: &Score, slo_tolerance: f64) -> bool {
        self.cost <= hpa.cost && self.slo_compliance >= hpa.slo_compliance - slo_tolerance
    }
}

/// Plays `policy` on every episode of `workload`.
pub(super) fn evaluate_policy(
    policy: &mut dyn Policy,
    env: &EnvConfig,
    workload: &Workload,
) -> Result<Score, ConfigError> {
    evaluate_each(workload, &env.sim, |scenario, seed| {
        play(policy, env, scenario, seed)
    })
}

/// One held-out episode.
fn play(
    policy: &mut dyn Policy,
    env: &EnvConfig,
    scenario: &Scenario,
    seed: u64,
) -> Result<RunRecord, ConfigError> {
    run_policy(
        policy,
        env,
        scenario.name(),
        scenario.arrivals(seed),
        seed,
        Scenario::sim_seed(seed),
    )
}

/// Sums what `run` makes of every episode of `workload`; a policy that needs building
/// per episode (the oracle must know its arrivals) is built inside `run`.
fn evaluate_each(
    workload: &Workload,
    sim: &SimConfig,
    mut run: impl FnMut(&Scenario, u64) -> Result<RunRecord, ConfigError>,
) -> Result<Score, ConfigError> {
    workload.validate()?;
    let mut total = Score {
        cost: 0.0,
        slo_compliance: 0.0,
        error_rate: 0.0,
        p95_ms: 0.0,
    };
    let mut runs = 0.0;
    for scenario in &workload.scenarios {
        for &seed in &workload.seeds {
            let row = ScoreRow::from_run(&run(scenario, seed)?, sim);
            total.cost += row.cost;
            total.slo_compliance += row.slo_compliance;
            total.error_rate += row.error_rate;
            total.p95_ms += row.p95_ms;
            runs += 1.0;
        }
    }
    total.slo_compliance /= runs;
    total.error_rate /= runs;
    total.p95_ms /= runs;
    Ok(total)
}

/// The Kubernetes HPA (70 % CPU) on `workload`: the bar a transfer has to clear.
pub fn evaluate_hpa(env: &EnvConfig, workload: &Workload) -> Result<Score, ConfigError> {
    evaluate_policy(&mut Hpa::default(), env, workload)
}

/// The clairvoyant oracle on `workload`: the floor no autoscaler can beat.
pub fn evaluate_oracle(env: &EnvConfig, workload: &Workload) -> Result<Score, ConfigError> {
    evaluate_each(workload, &env.sim, |scenario, seed| {
        let mut oracle = Oracle::new(scenario.arrivals(seed), &env.sim);
        play(&mut oracle, env, scenario, seed)
    })
}

/// The network `weights` stand for, acting greedily on `workload`.
pub fn evaluate_weights(
    algo: Algo,
    cfg: &TrainConfig,
    weights: &[f32],
    workload: &Workload,
) -> Result<Score, TransferError> {
    let network =
        network_from_weights(algo, cfg, weights).map_err(|source| TransferError::BaseWeights {
            algo: algo.name(),
            source,
        })?;
    let mut policy = LearnedPolicy::from_network(algo.name(), network, cfg);
    Ok(evaluate_policy(&mut policy, &cfg.env, workload)?)
}
