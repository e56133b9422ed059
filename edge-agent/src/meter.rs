//! A running tally of decision intervals: reward, SLO compliance and pod cost, the figures
//! both a round's local training report ([`LocalMetrics`]) and the autoscaling loop's
//! progress lines are made of.

use common::env::Step;
use common::proto::LocalMetrics;
use common::sim::SimConfig;

/// Sums over the intervals recorded since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct IntervalMeter {
    intervals: u64,
    episodes: u64,
    reward: f64,
    slo_met: u64,
    pod_s: f64,
}

impl IntervalMeter {
    /// Adds one interval.
    pub(crate) fn record(&mut self, step: &Step) {
        self.intervals += 1;
        self.reward += step.reward;
        self.pod_s += step.outcome.counters.pod_s;
        if step.outcome.counters.slo_met() {
            self.slo_met += 1;
        }
        if step.done {
            self.episodes += 1;
        }
    }

    /// Intervals recorded.
    pub(crate) fn intervals(&self) -> u64 {
        self.intervals
    }

    /// Share of intervals that met the SLO; 1 before any was recorded (nothing breached).
    pub(crate) fn slo_compliance(&self) -> f64 {
        if self.intervals == 0 {
            1.0
        } else {
            self.slo_met as f64 / self.intervals as f64
        }
    }

    /// Pod cost so far, at the simulated cluster's price.
    pub(crate) fn cost(&self, sim: &SimConfig) -> f64 {
        self.pod_s / 3600.0 * sim.cost.price_per_pod_hour
    }

    /// The tally as the protocol reports it.
    pub(crate) fn local_metrics(&self, sim: &SimConfig) -> LocalMetrics {
        LocalMetrics {
            mean_reward: if self.intervals == 0 {
                0.0
            } else {
                self.reward / self.intervals as f64
            },
            episodes: self.episodes,
            slo_compliance: self.slo_compliance(),
            cost: self.cost(sim),
        }
    }
}

#[cfg(test)]
mod tests {
    use common::env::{Env, EnvConfig};
    use common::traffic::ArrivalSeries;

    use super::*;

    #[test]
    fn sums_what_the_simulator_reports() {
        let cfg = EnvConfig::default();
        let series = ArrivalSeries::new("flat", vec![50.0; 10 * 60]);
        let mut env = Env::new(cfg.clone(), series, 1).unwrap();
        let mut meter = IntervalMeter::default();
        let (mut reward, mut pod_s, mut met) = (0.0, 0.0, 0);
        loop {
            let step = env.step(1);
            meter.record(&step);
            reward += step.reward;
            pod_s += step.outcome.counters.pod_s;
            met += u64::from(step.outcome.counters.slo_met());
            if step.done {
                break;
            }
        }
        let m = meter.local_metrics(&cfg.sim);
        assert_eq!(meter.intervals(), 40);
        assert_eq!(m.episodes, 1);
        assert!((m.mean_reward - reward / 40.0).abs() < 1e-12);
        assert!((m.slo_compliance - met as f64 / 40.0).abs() < 1e-12);
        assert!(m.cost > 0.0);
        assert!((m.cost - pod_s / 3600.0 * cfg.sim.cost.price_per_pod_hour).abs() < 1e-12);
    }
}
