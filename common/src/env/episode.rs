//! An episode: the simulator wrapped in the observation/action/reward contract.

use serde::{Deserialize, Serialize};

use super::action::ActionSpace;
use super::observation::{Observation, ObservationBuilder};
use super::reward::{RewardConfig, RewardInputs, RewardTerms, ThrashTracker};
use crate::error::ConfigError;
use crate::policy::ClusterView;
use crate::sim::{IntervalOutcome, SimConfig, Simulator};
use crate::traffic::ArrivalSeries;

/// Everything that defines the environment, loadable from one TOML file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// The simulated cluster.
    pub sim: SimConfig,
    /// The discrete action set.
    pub actions: ActionSpace,
    /// Reward weights and thresholds.
    pub reward: RewardConfig,
}

impl EnvConfig {
    /// Validates every part; errors name the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sim.validate()?;
        self.actions.validate()?;
        self.reward.validate()
    }
}

/// The result of one decision interval.
#[derive(Debug, Clone)]
pub struct Step {
    /// The observation for the next decision.
    pub observation: Observation,
    /// The weighted reward.
    pub reward: f64,
    /// Its terms.
    pub terms: RewardTerms,
    /// True when the traffic series has ended.
    pub done: bool,
    /// Replicas applied for the interval, after clamping.
    pub applied_replicas: u32,
    /// What truly happened.
    pub outcome: IntervalOutcome,
}

/// One episode over one traffic series. Deterministic for a given series and seed.
#[derive(Debug)]
pub struct Env {
    cfg: EnvConfig,
    sim: Simulator,
    builder: ObservationBuilder,
    thrash: ThrashTracker,
    observation: Observation,
}

impl Env {
    /// Starts an episode; the first observation has no metrics yet (nothing scraped).
    pub fn new(cfg: EnvConfig, arrivals: ArrivalSeries, seed: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let sim = Simulator::new(cfg.sim.clone(), arrivals, seed)?;
        let mut builder = ObservationBuilder::new(&cfg.sim);
        let observation = builder.push(&cfg.sim, None, sim.spec_replicas());
        Ok(Self {
            cfg,
            sim,
            builder,
            thrash: ThrashTracker::default(),
            observation,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EnvConfig {
        &self.cfg
    }

    /// The simulator underneath, for inspection.
    pub fn sim(&self) -> &Simulator {
        &self.sim
    }

    /// The current observation.
    pub fn observation(&self) -> &Observation {
        &self.observation
    }

    /// What a policy sees now.
    pub fn view(&self) -> ClusterView<'_> {
        self.sim.view(&self.observation)
    }

    /// Takes discrete action `action` (an index into the action space).
    pub fn step(&mut self, action: usize) -> Step {
        let desired = self.cfg.actions.apply(action, self.sim.spec_replicas());
        self.step_to(desired)
    }

    /// Asks for `desired` replicas (clamped to the bounds) and runs one decision interval.
    pub fn step_to(&mut self, desired: u32) -> Step {
        let before = self.sim.spec_replicas();
        let now_s = self.sim.now_s();
        let applied = self.sim.scale_to(desired);
        let direction = applied.cmp(&before) as i32;
        let reversal = self
            .thrash
            .record(direction, now_s, self.cfg.reward.thrash_window_s);
        let outcome = self.sim.step_interval();
        let c = &outcome.counters;
        let terms = RewardTerms::new(
            &self.cfg.reward,
            &RewardInputs {
                p95_s: c.p95_s(),
                slo_s: self.cfg.sim.slo_s(),
                error_rate: c.error_rate(),
                cpu_utilization: c.cpu_utilization(),
                direction,
                reversal,
            },
        );
        self.observation =
            self.builder
                .push(&self.cfg.sim, self.sim.observed(), self.sim.spec_replicas());
        Step {
            observation: self.observation,
            reward: terms.total(&self.cfg.reward),
            terms,
            done: self.sim.finished(),
            applied_replicas: applied,
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_runs_to_the_end_with_observations_in_range() {
        let arrivals = ArrivalSeries::new("ramp", (0..1800).map(|s| s as f32).collect());
        let mut env = Env::new(EnvConfig::default(), arrivals, 9).unwrap();
        let mut steps = 0;
        loop {
            let s = env.step(2); // always scale up
            for v in s.observation.as_slice() {
                assert!((0.0..=1.0).contains(v));
            }
            steps += 1;
            if s.done {
                break;
            }
        }
        assert_eq!(steps, 1800 / 15);
        assert_eq!(env.sim().spec_replicas(), 20, "clamped at max");
        assert!(env.observation().0[6] > 0.5, "request rate seen");
    }

    #[test]
    fn reward_reflects_overload_and_thrashing() {
        let arrivals = ArrivalSeries::new("flat", vec![1000.0; 900]);
        let mut cfg = EnvConfig::default();
        cfg.sim.replicas.initial = Some(8); // 1000 req/s on 800 req/s of capacity
        let mut env = Env::new(cfg, arrivals, 1).unwrap();
        let s = env.step(1);
        assert!(s.terms.latency > 0.9, "overloaded: {:?}", s.terms);
        env.step(2);
        let s = env.step(0);
        assert_eq!(s.terms.thrashing, 1.0);
    }
}
