//! The scorecard row: one (policy, scenario, seed) run reduced to the numbers people compare.

use serde::{Deserialize, Serialize};

use super::run::{IntervalRecord, RunRecord};
use crate::sim::SimConfig;

/// One row of the scorecard. Field names are part of the JSON interface (see README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// Policy name.
    pub policy: String,
    /// Scenario name.
    pub scenario: String,
    /// Seed played.
    pub seed: u64,
    /// Pod-hours paid for (starting and ready pods).
    pub pod_hours: f64,
    /// `pod_hours × price_per_pod_hour`.
    pub cost: f64,
    /// p95 latency over every served request of the run, ms.
    pub p95_ms: f64,
    /// Fraction of decision intervals whose p95 (failures counted as too slow) met the SLO.
    pub slo_compliance: f64,
    /// Failed requests / arrived requests.
    pub error_rate: f64,
    /// Mean CPU utilisation of ready pods (fraction of the request).
    pub cpu_utilization: f64,
    /// Changes of `spec.replicas` per simulated hour.
    pub actions_per_hour: f64,
    /// Mean seconds from a load step to one minute of SLO compliance; null without steps.
    pub recovery_s: Option<f64>,
    /// Cost per million served requests.
    pub cost_per_million: f64,
    /// `(cost / oracle cost − 1) × 100` for the same scenario and seed; null if no oracle ran.
    pub over_oracle_pct: Option<f64>,
}

/// A load step: an interval whose arrival rate is at least this multiple of the mean of
/// the preceding window...
const STEP_RATIO: f64 = 1.5;
/// ...and exceeds it by at least this fraction of the run's peak (noise at low rates is not a step).
const STEP_MIN_RISE_OF_PEAK: f64 = 0.1;
/// The preceding window, and the minimum gap between two steps, seconds.
const STEP_BASELINE_S: u64 = 300;
/// Recovered means: the SLO met for this long without a break, seconds.
const RECOVERED_FOR_S: u64 = 60;

/// Indices of intervals where a load step begins.
pub fn load_steps(intervals: &[IntervalRecord], interval_s: u64) -> Vec<usize> {
    let base = (STEP_BASELINE_S / interval_s).max(1) as usize;
    let peak = intervals.iter().map(|i| i.arrival_rps).fold(0.0, f64::max);
    let mut steps = Vec::new();
    let mut k = base;
    while k < intervals.len() {
        let mean = intervals[k - base..k]
            .iter()
            .map(|i| i.arrival_rps)
            .sum::<f64>()
            / base as f64;
        let rate = intervals[k].arrival_rps;
        if rate >= STEP_RATIO * mean && rate - mean >= STEP_MIN_RISE_OF_PEAK * peak {
            steps.push(k);
            k += base;
        } else {
            k += 1;
        }
    }
    steps
}

/// Seconds from each step until the SLO has held for a minute (`RECOVERED_FOR_S`); a step never
/// recovered from counts until the end of the run. `None` when the run has no step.
pub fn recovery_s(intervals: &[IntervalRecord], interval_s: u64) -> Option<f64> {
    let steps = load_steps(intervals, interval_s);
    if steps.is_empty() {
        return None;
    }
    let hold = (RECOVERED_FOR_S / interval_s).max(1) as usize;
    let total: u64 = steps
        .iter()
        .map(|&k| {
            let mut run = 0;
            let mut j = k;
            while j < intervals.len() {
                run = if intervals[j].slo_met { run + 1 } else { 0 };
                if run == hold {
                    break;
                }
                j += 1;
            }
            let recovered_at = if run == hold {
                j + 1 - hold
            } else {
                intervals.len()
            };
            (recovered_at - k) as u64 * interval_s
        })
        .sum();
    Some(total as f64 / steps.len() as f64)
}

impl ScoreRow {
    /// Reduces a run. `over_oracle_pct` is left unset; see [`ScoreRow::set_oracle_cost`].
    pub fn from_run(run: &RunRecord, cfg: &SimConfig) -> Self {
        let t = &run.totals;
        let interval_s = u64::from(cfg.decision_interval_s);
        let pod_hours = t.pod_s / 3600.0;
        let cost = pod_hours * cfg.cost.price_per_pod_hour;
        let hours = (run.intervals.len() as u64 * interval_s) as f64 / 3600.0;
        let met = run.intervals.iter().filter(|i| i.slo_met).count();
        Self {
            policy: run.policy.clone(),
            scenario: run.scenario.clone(),
            seed: run.seed,
            pod_hours,
            cost,
            p95_ms: t.p95_s() * 1000.0,
            slo_compliance: if run.intervals.is_empty() {
                1.0
            } else {
                met as f64 / run.intervals.len() as f64
            },
            error_rate: t.error_rate(),
            cpu_utilization: t.cpu_utilization(),
            actions_per_hour: if hours > 0.0 {
                f64::from(run.scaling_actions) / hours
            } else {
                0.0
            },
            recovery_s: recovery_s(&run.intervals, interval_s),
            cost_per_million: if t.served > 0.0 {
                cost / (t.served / 1e6)
            } else {
                0.0
            },
            over_oracle_pct: None,
        }
    }

    /// Fills `over_oracle_pct` from the oracle's cost on the same scenario and seed.
    pub fn set_oracle_cost(&mut self, oracle_cost: f64) {
        self.over_oracle_pct = (oracle_cost > 0.0).then(|| (self.cost / oracle_cost - 1.0) * 100.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intervals(rates: &[f64], met: &[bool]) -> Vec<IntervalRecord> {
        rates
            .iter()
            .zip(met)
            .enumerate()
            .map(|(i, (&r, &m))| IntervalRecord {
                start_s: i as u64 * 15,
                arrival_rps: r,
                p95_s: if m { 0.1 } else { 1.0 },
                slo_met: m,
                replicas: 1,
                ready: 1,
            })
            .collect()
    }

    #[test]
    fn a_step_is_found_and_recovery_counts_until_a_minute_of_compliance() {
        // 30 intervals at 100, then 1000; the SLO breaks for 6 intervals after the step.
        let mut rates = vec![100.0; 30];
        rates.extend(vec![1000.0; 30]);
        let mut met = vec![true; 60];
        for m in &mut met[30..36] {
            *m = false;
        }
        let iv = intervals(&rates, &met);
        assert_eq!(load_steps(&iv, 15), vec![30]);
        // Breaks at 30..36, compliant from 36 for 4 intervals → 6 × 15 s = 90 s.
        assert_eq!(recovery_s(&iv, 15), Some(90.0));
    }

    #[test]
    fn steady_noise_is_not_a_step_and_unrecovered_steps_count_to_the_end() {
        let rates: Vec<f64> = (0..60)
            .map(|i| 500.0 + if i % 2 == 0 { 20.0 } else { -20.0 })
            .collect();
        assert_eq!(recovery_s(&intervals(&rates, &[true; 60]), 15), None);
        let mut rates = vec![100.0; 30];
        rates.extend(vec![1000.0; 10]);
        let mut met = vec![true; 30];
        met.extend(vec![false; 10]);
        assert_eq!(recovery_s(&intervals(&rates, &met), 15), Some(150.0));
    }
}
