//! Plays one policy through one scenario and keeps what the scorecard needs.

use crate::env::{Env, EnvConfig};
use crate::error::ConfigError;
use crate::policy::Policy;
use crate::sim::Counters;
use crate::traffic::ArrivalSeries;

/// One decision interval as it truly happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalRecord {
    /// Simulated second it started.
    pub start_s: u64,
    /// Mean arrival rate over it, req/s.
    pub arrival_rps: f64,
    /// p95 latency of its served requests, seconds.
    pub p95_s: f64,
    /// Whether 95 % of its arrivals were served within the SLO.
    pub slo_met: bool,
    /// Replicas asked for during it.
    pub replicas: u32,
    /// Ready pods at its end.
    pub ready: u32,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The policy's report name.
    pub policy: String,
    /// The scenario's report name.
    pub scenario: String,
    /// The seed played.
    pub seed: u64,
    /// Counters over the whole run.
    pub totals: Counters,
    /// Every decision interval.
    pub intervals: Vec<IntervalRecord>,
    /// Decisions that changed `spec.replicas`.
    pub scaling_actions: u32,
    /// Sum of rewards over the run (the seed's reward, for reference).
    pub total_reward: f64,
}

/// Plays `policy` over `arrivals` until the series ends.
pub fn run_policy(
    policy: &mut dyn Policy,
    cfg: &EnvConfig,
    scenario: &str,
    arrivals: ArrivalSeries,
    seed: u64,
    sim_seed: u64,
) -> Result<RunRecord, ConfigError> {
    policy.reset();
    let mut env = Env::new(cfg.clone(), arrivals, sim_seed)?;
    let intervals_hint = env.sim().arrivals().len_s() / u64::from(cfg.sim.decision_interval_s) + 1;
    let mut intervals = Vec::with_capacity(intervals_hint as usize);
    let mut scaling_actions = 0;
    let mut total_reward = 0.0;
    loop {
        let before = env.sim().spec_replicas();
        let desired = policy.desired_replicas(&env.view());
        let step = env.step_to(desired);
        if step.applied_replicas != before {
            scaling_actions += 1;
        }
        total_reward += step.reward;
        let c = &step.outcome.counters;
        intervals.push(IntervalRecord {
            start_s: step.outcome.start_s,
            arrival_rps: c.arrivals / c.seconds.max(1) as f64,
            p95_s: c.p95_s(),
            slo_met: c.slo_met(),
            replicas: step.applied_replicas,
            ready: step.outcome.gauges.ready,
        });
        if step.done {
            break;
        }
    }
    Ok(RunRecord {
        policy: policy.name(),
        scenario: scenario.to_owned(),
        seed,
        totals: env.sim().totals().clone(),
        intervals,
        scaling_actions,
        total_reward,
    })
}
