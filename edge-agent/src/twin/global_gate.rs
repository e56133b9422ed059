//! The promotion gate for global models (`[twin] gate_global_models` of `run`, with
//! `federate_in_twin`). A federated agent does not retrain into a model store: its
//! candidate is the coordinator's next global model. So the same rule applies at the
//! other end: a global model goes into service on this cluster only if, in the twin
//! calibrated from this cluster's recording, it is cheaper than the policy in service at
//! equal or better SLO compliance on the recorded traffic the rounds did not train on.
//!
//! The rounds still train from every global model (the fleet's base moves on); only what
//! decides here is gated. Pure: the caller runs [`GlobalGate::judge`] off the control
//! loop's thread, because playing the held-back slice is CPU work that grows with the
//! recording (about 0.3 s for 12 h held back and three seeds, release build, this 2-core
//! machine: `edge-agent retrain --timesteps 1 --dry-run` on the README's recording).

use common::env::EnvConfig;
use common::rl::policy::LearnedPolicy;
use common::traffic::ArrivalSeries;

use super::gate::{GateError, Verdict, judge_policies};

/// The twin and the held-back slice global models are judged on.
#[derive(Debug, Clone)]
pub(crate) struct GlobalGate {
    env: EnvConfig,
    held_back: ArrivalSeries,
    seeds: Vec<u64>,
}

impl GlobalGate {
    /// Judges in the twin `env` on `held_back`, once per seed.
    pub(crate) fn new(env: EnvConfig, held_back: ArrivalSeries, seeds: Vec<u64>) -> Self {
        Self {
            env,
            held_back,
            seeds,
        }
    }

    /// Recorded seconds judged on.
    pub(crate) fn held_back_s(&self) -> u64 {
        self.held_back.len_s()
    }

    /// Whether `candidate` should replace `current` (`None`: the HPA rule is in service).
    pub(crate) fn judge(
        &self,
        candidate: LearnedPolicy,
        current: Option<LearnedPolicy>,
    ) -> Result<Verdict, GateError> {
        judge_policies(&self.env, &self.held_back, candidate, current, &self.seeds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twin::test_support::constant_model;

    const HOLD: usize = 1;
    const MORE: usize = 2;

    fn gate() -> GlobalGate {
        // Two pods serve 140 req/s at 70 % CPU.
        GlobalGate::new(
            EnvConfig::default(),
            ArrivalSeries::new("recorded-held-back", vec![140.0; 1800]),
            vec![1, 2],
        )
    }

    #[test]
    fn a_global_model_is_judged_against_the_learned_policy_in_service() {
        let hold = LearnedPolicy::new("global-v2", constant_model(HOLD));
        let more = LearnedPolicy::new("global-v1", constant_model(MORE));
        let v = gate().judge(hold.clone(), Some(more.clone())).unwrap();
        assert!(v.promote, "{}", v.reason);
        let v = gate().judge(more, Some(hold)).unwrap();
        assert!(!v.promote, "{}", v.reason);
        assert!(v.reason.contains("not cheaper"), "{}", v.reason);
    }

    #[test]
    fn with_the_hpa_in_service_its_row_is_the_bar() {
        let more = LearnedPolicy::new("global-v1", constant_model(MORE));
        let v = gate().judge(more, None).unwrap();
        assert!(!v.promote, "{}", v.reason);
        assert_eq!(v.current.cost, v.hpa.cost);
        assert_eq!(v.current.slo_compliance, v.hpa.slo_compliance);
        assert_eq!(v.current.policy, "current");
        assert_eq!(gate().held_back_s(), 1800);
    }
}
