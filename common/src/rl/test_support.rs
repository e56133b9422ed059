//! The constant-load task both learners' tests train on, and the returns of simple
//! policies that state what "learned it" means.

use crate::env::{Env, EnvConfig};
use crate::scenario::Scenario;
use crate::traffic::ArrivalSeries;

/// 350 req/s on pods of 100 req/s: 5 pods run at 70 % and meet the SLO; 4 run at 87.5 %
/// and breach it (p95 ≈ 260 ms); 6 or more waste capacity. Starting from 1 pod, the best
/// policy scales up to 5 and holds.
pub(crate) fn tiny_task() -> (EnvConfig, Scenario) {
    let mut cfg = EnvConfig::default();
    cfg.sim.replicas.max = 10;
    cfg.sim.replicas.initial = Some(1);
    cfg.sim.pod.startup_jitter_s = 0.0;
    cfg.sim.pod.startup_delay_s = 15.0;
    let series = ArrivalSeries::new("constant_350", vec![350.0; 20 * 60]);
    (cfg, Scenario::fixed(series))
}

/// Return of the Discrete(3) policy that scales up one pod a step until `n`, then holds.
pub(crate) fn fixed_target_return(n: u32, cfg: &EnvConfig, scenario: &Scenario) -> f64 {
    let mut env = Env::new(cfg.clone(), scenario.arrivals(0), 0).unwrap();
    let mut total = 0.0;
    loop {
        let up = env.sim().spec_replicas() < n;
        let s = env.step(if up { 2 } else { 1 });
        total += s.reward;
        if s.done {
            return total;
        }
    }
}
