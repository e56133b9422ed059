//! The tuned baseline: the HPA with its CPU target chosen by grid search on the training
//! scenarios. A calibrated threshold rule is the honest bar a learned policy must clear.

use super::run::run_policy;
use crate::env::EnvConfig;
use crate::error::ConfigError;
use crate::policy::Hpa;
use crate::scenario::{Scenario, TRAINING_SEEDS};

/// How the target is searched.
#[derive(Debug, Clone, PartialEq)]
pub struct TuningConfig {
    /// Candidate targets. Default 0.40, 0.45, …, 0.90.
    pub grid: Vec<f64>,
    /// Fraction of training intervals that must meet the SLO. Failed requests count as
    /// too slow in each interval's p95, so errors are part of this goal. Default 0.95.
    pub slo_goal: f64,
    /// Seeds the training scenarios are played with. Default [`TRAINING_SEEDS`].
    pub seeds: Vec<u64>,
}

impl Default for TuningConfig {
    fn default() -> Self {
        Self {
            grid: (0..=10).map(|i| 0.40 + 0.05 * f64::from(i)).collect(),
            slo_goal: 0.95,
            seeds: TRAINING_SEEDS.to_vec(),
        }
    }
}

/// How one candidate target did over all training runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The CPU target.
    pub target: f64,
    /// Total cost over the training runs.
    pub cost: f64,
    /// Fraction of all training intervals that met the SLO.
    pub slo_compliance: f64,
    /// Failed / arrived over all training runs.
    pub error_rate: f64,
    /// Whether it met the goal.
    pub meets_goal: bool,
}

/// The chosen target and the evidence for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TunedTarget {
    /// The winning target: the cheapest that meets the goal, or, if none does, the one
    /// with the best compliance.
    pub target: f64,
    /// Every candidate, in grid order.
    pub candidates: Vec<Candidate>,
}

impl TunedTarget {
    /// The HPA at the chosen target.
    pub fn policy(&self) -> Hpa {
        Hpa::with_target(self.target)
    }
}

/// Searches the grid on `scenarios` (the training scenarios) with `tuning.seeds`, using
/// every available core.
pub fn tune_hpa(
    cfg: &EnvConfig,
    scenarios: &[Scenario],
    tuning: &TuningConfig,
) -> Result<TunedTarget, ConfigError> {
    if tuning.grid.is_empty() {
        return Err(ConfigError::invalid(
            "tuning.grid",
            "needs at least one target",
        ));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tuning.grid.len());
    let chunk = tuning.grid.len().div_ceil(threads);
    let results: Vec<Result<Vec<Candidate>, ConfigError>> = std::thread::scope(|s| {
        let handles: Vec<_> = tuning
            .grid
            .chunks(chunk)
            .map(|targets| {
                s.spawn(move || {
                    targets
                        .iter()
                        .map(|&t| score_target(cfg, scenarios, tuning, t))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("tuning thread panicked"))
            .collect()
    });
    let mut candidates = Vec::with_capacity(tuning.grid.len());
    for r in results {
        candidates.extend(r?);
    }
    let best = candidates
        .iter()
        .filter(|c| c.meets_goal)
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .or_else(|| {
            candidates
                .iter()
                .max_by(|a, b| a.slo_compliance.total_cmp(&b.slo_compliance))
        })
        .expect("grid is not empty");
    Ok(TunedTarget {
        target: best.target,
        candidates,
    })
}

fn score_target(
    cfg: &EnvConfig,
    scenarios: &[Scenario],
    tuning: &TuningConfig,
    target: f64,
) -> Result<Candidate, ConfigError> {
    let (mut pod_s, mut met, mut intervals, mut failed, mut arrivals) =
        (0.0, 0usize, 0usize, 0.0, 0.0);
    let mut hpa = Hpa::with_target(target);
    for scenario in scenarios {
        for &seed in &tuning.seeds {
            let run = run_policy(
                &mut hpa,
                cfg,
                scenario.name(),
                scenario.arrivals(seed),
                seed,
                Scenario::sim_seed(seed),
            )?;
            pod_s += run.totals.pod_s;
            failed += run.totals.failed;
            arrivals += run.totals.arrivals;
            intervals += run.intervals.len();
            met += run.intervals.iter().filter(|i| i.slo_met).count();
        }
    }
    let slo_compliance = if intervals == 0 {
        1.0
    } else {
        met as f64 / intervals as f64
    };
    let error_rate = if arrivals > 0.0 {
        failed / arrivals
    } else {
        0.0
    };
    Ok(Candidate {
        target,
        cost: pod_s / 3600.0 * cfg.sim.cost.price_per_pod_hour,
        slo_compliance,
        error_rate,
        meets_goal: slo_compliance >= tuning.slo_goal,
    })
}
