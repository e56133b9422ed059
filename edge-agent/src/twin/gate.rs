//! The promotion gate: whether a candidate may replace the policy in service. The
//! candidate, the current policy and the Kubernetes HPA (70 % CPU, the scorecard's `hpa`)
//! are each played through the held-back slice of the recording in the twin, once per
//! gate seed, by the scorecard, and compared on what the cluster pays and what its users
//! see.
//!
//! The rule: **promote only if the candidate is strictly cheaper than the current policy
//! and its SLO compliance is equal or better**. Cost and compliance are means over the
//! seeds' runs. "Equal" means at least as many decision intervals met the SLO: every run
//! of the slice has the same number of intervals, so mean compliance orders exactly as
//! that count does, and the comparison allows [`SLO_ROUNDING`] only to absorb floating
//! point rounding of equal counts (it is far below one interval's share of any run). A
//! candidate that costs the same is not promoted: a swap that changes nothing is churn.
//! The HPA's row is there for the operator, as the bar both learned policies should
//! clear; it does not enter the rule.
//!
//! Pure: no clock, no I/O; deterministic for the seeds.

use common::env::EnvConfig;
use common::rl::artifact::TrainedModel;
use common::rl::policy::LearnedPolicy;
use common::scenario::Scenario;
use common::scorecard::{Evaluation, PolicySpec, ScoreRow};
use common::traffic::ArrivalSeries;
use serde::Serialize;

/// The report names of the three policies.
pub(crate) const CANDIDATE: &str = "candidate";
/// See [`CANDIDATE`].
pub(crate) const CURRENT: &str = "current";
/// See [`CANDIDATE`].
pub(crate) const HPA: &str = "hpa";

/// Slack in the SLO comparison for floating-point rounding only (see the module docs).
pub(crate) const SLO_ROUNDING: f64 = 1e-9;

/// The default gate seeds: evaluation seeds (below the training seeds' range), varying
/// the twin's pod start-up jitter; the traffic is the recording's in every run.
pub(crate) const DEFAULT_GATE_SEEDS: [u64; 3] = [1, 2, 3];

/// One policy's result on the held-back slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PolicyScore {
    /// `candidate`, `current` or `hpa`.
    pub(crate) policy: String,
    /// Mean cost of a run.
    pub(crate) cost: f64,
    /// Mean fraction of decision intervals that met the SLO.
    pub(crate) slo_compliance: f64,
    /// Mean p95 latency of a run, ms.
    pub(crate) p95_ms: f64,
    /// Mean error rate of a run.
    pub(crate) error_rate: f64,
    /// Every run, one scorecard row per seed.
    pub(crate) runs: Vec<ScoreRow>,
}

impl PolicyScore {
    /// The means of `runs` (at least one).
    fn of(policy: &str, runs: Vec<ScoreRow>) -> Self {
        let n = runs.len().max(1) as f64;
        let mean = |f: fn(&ScoreRow) -> f64| runs.iter().map(f).sum::<f64>() / n;
        Self {
            policy: policy.to_owned(),
            cost: mean(|r| r.cost),
            slo_compliance: mean(|r| r.slo_compliance),
            p95_ms: mean(|r| r.p95_ms),
            error_rate: mean(|r| r.error_rate),
            runs,
        }
    }
}

/// The gate's decision and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Verdict {
    /// Whether the candidate should replace the current policy.
    pub(crate) promote: bool,
    /// Why, in a sentence with the figures.
    pub(crate) reason: String,
    /// The candidate's score.
    pub(crate) candidate: PolicyScore,
    /// The current policy's score.
    pub(crate) current: PolicyScore,
    /// The HPA's score.
    pub(crate) hpa: PolicyScore,
}

impl Verdict {
    /// Every run of every policy, as scorecard rows (for the table).
    pub(crate) fn rows(&self) -> Vec<ScoreRow> {
        [&self.candidate, &self.current, &self.hpa]
            .iter()
            .flat_map(|s| s.runs.iter().cloned())
            .collect()
    }
}

/// The gate could not judge.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GateError {
    /// No seeds, or an empty slice.
    #[error("{0}")]
    Input(String),
    /// The twin's configuration is invalid.
    #[error(transparent)]
    Config(#[from] common::ConfigError),
}

/// Plays the three policies through `held_back` in the twin `env` once per seed and
/// applies the rule.
pub(crate) fn judge(
    env: &EnvConfig,
    held_back: &ArrivalSeries,
    candidate: &TrainedModel,
    current: &TrainedModel,
    seeds: &[u64],
) -> Result<Verdict, GateError> {
    judge_policies(
        env,
        held_back,
        LearnedPolicy::new(CANDIDATE, candidate.clone()),
        Some(LearnedPolicy::new(CURRENT, current.clone())),
        seeds,
    )
}

/// [`judge`] for policies already loaded. `current` is `None` when the policy in service
/// is the HPA rule itself: its row is then the current policy's too.
pub(crate) fn judge_policies(
    env: &EnvConfig,
    held_back: &ArrivalSeries,
    candidate: LearnedPolicy,
    current: Option<LearnedPolicy>,
    seeds: &[u64],
) -> Result<Verdict, GateError> {
    if seeds.is_empty() {
        return Err(GateError::Input("the gate needs at least one seed".into()));
    }
    if held_back.len_s() < u64::from(env.sim.decision_interval_s) {
        return Err(GateError::Input(format!(
            "the held-back slice ({} s) is shorter than one decision interval",
            held_back.len_s()
        )));
    }
    let scenarios = [Scenario::fixed(held_back.clone())];
    let rows = Evaluation {
        cfg: env,
        scenarios: &scenarios,
        seeds,
        tuned: None,
    }
    .run(
        &[
            Some(PolicySpec::Learned(Box::new(candidate.renamed(CANDIDATE)))),
            current.map(|c| PolicySpec::Learned(Box::new(c.renamed(CURRENT)))),
            Some(PolicySpec::Hpa),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    )?;
    let of = |name: &str, from: &str| {
        let runs = rows.iter().filter(|r| r.policy == from).cloned().collect();
        PolicyScore::of(name, runs)
    };
    let candidate = of(CANDIDATE, CANDIDATE);
    let hpa = of(HPA, HPA);
    let current = if rows.iter().any(|r| r.policy == CURRENT) {
        of(CURRENT, CURRENT)
    } else {
        of(CURRENT, HPA)
    };
    let (promote, reason) = decide(&candidate, &current, &hpa);
    Ok(Verdict {
        promote,
        reason,
        candidate,
        current,
        hpa,
    })
}

/// The rule itself (see the module documentation), with the sentence that explains it.
pub(crate) fn decide(
    candidate: &PolicyScore,
    current: &PolicyScore,
    hpa: &PolicyScore,
) -> (bool, String) {
    let pct = |x: f64| 100.0 * x;
    let change = if current.cost > 0.0 {
        format!(" ({:+.1} %)", pct(candidate.cost / current.cost - 1.0))
    } else {
        String::new()
    };
    let figures = format!(
        "candidate cost {:.4} vs {:.4} for the current policy{change}, SLO met in {:.2} % vs {:.2} % of intervals \
         (HPA: cost {:.4}, {:.2} %)",
        candidate.cost,
        current.cost,
        pct(candidate.slo_compliance),
        pct(current.slo_compliance),
        hpa.cost,
        pct(hpa.slo_compliance),
    );
    if !(candidate.cost.is_finite() && candidate.slo_compliance.is_finite()) {
        return (
            false,
            format!("kept the current policy: the candidate's score is not a number; {figures}"),
        );
    }
    let slo_ok = candidate.slo_compliance >= current.slo_compliance - SLO_ROUNDING;
    let cheaper = candidate.cost < current.cost;
    match (cheaper, slo_ok) {
        (true, true) => (
            true,
            format!("promoted: cheaper at equal or better SLO compliance; {figures}"),
        ),
        (true, false) => (
            false,
            format!(
                "kept the current policy: the candidate is cheaper but meets the SLO less often; {figures}"
            ),
        ),
        (false, _) => (
            false,
            format!("kept the current policy: the candidate is not cheaper; {figures}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twin::test_support::constant_model;

    fn score(policy: &str, cost: f64, slo: f64) -> PolicyScore {
        PolicyScore {
            policy: policy.into(),
            cost,
            slo_compliance: slo,
            p95_ms: 0.0,
            error_rate: 0.0,
            runs: Vec::new(),
        }
    }

    #[test]
    fn the_rule_wants_cheaper_at_equal_or_better_compliance() {
        let hpa = score(HPA, 2.0, 0.9);
        let current = score(CURRENT, 1.0, 0.95);
        let d = |cost, slo| decide(&score(CANDIDATE, cost, slo), &current, &hpa);
        assert!(d(0.9, 0.95).0, "cheaper, equal");
        assert!(d(0.9, 0.99).0, "cheaper, better");
        assert!(d(0.9, 0.95 - 1e-12).0, "rounding of an equal count");
        assert!(!d(0.9, 0.949).0, "cheaper but worse");
        assert!(!d(1.0, 1.0).0, "as cheap is not cheaper");
        assert!(!d(1.1, 1.0).0, "dearer");
        assert!(!d(f64::NAN, 1.0).0);
        let (_, reason) = d(0.9, 0.949);
        assert!(reason.contains("meets the SLO less often"), "{reason}");
        assert!(
            reason.contains("-10.0 %") && reason.contains("94.90 %"),
            "{reason}"
        );
        let (_, reason) = d(0.8, 0.97);
        assert!(reason.starts_with("promoted"), "{reason}");
    }

    /// 30 min at 140 req/s: two pods (the twin's start) serve it at 70 % CPU within the SLO.
    fn held_back() -> ArrivalSeries {
        ArrivalSeries::new("recorded-held-back", vec![140.0; 1800])
    }

    fn env() -> EnvConfig {
        EnvConfig::default()
    }

    const LESS: usize = 0;
    const HOLD: usize = 1;
    const MORE: usize = 2;

    #[test]
    fn a_candidate_that_scales_to_max_is_rejected_as_dearer() {
        let v = judge(
            &env(),
            &held_back(),
            &constant_model(MORE),
            &constant_model(HOLD),
            &[1, 2],
        )
        .unwrap();
        assert!(!v.promote, "{}", v.reason);
        assert!(v.candidate.cost > 3.0 * v.current.cost, "{v:?}");
        assert!(v.reason.contains("not cheaper"), "{}", v.reason);
        assert_eq!(v.candidate.runs.len(), 2);
        assert_eq!(v.rows().len(), 6);
        assert!(v.hpa.cost > 0.0 && v.hpa.runs.iter().all(|r| r.policy == HPA));
    }

    #[test]
    fn a_candidate_that_scales_to_min_is_rejected_for_its_slo() {
        let v = judge(
            &env(),
            &held_back(),
            &constant_model(LESS),
            &constant_model(HOLD),
            &[1, 2],
        )
        .unwrap();
        assert!(!v.promote, "{}", v.reason);
        assert!(v.candidate.cost < v.current.cost, "cheaper: {v:?}");
        assert!(
            v.candidate.slo_compliance < v.current.slo_compliance - 0.2,
            "one pod cannot serve 140 req/s: {v:?}"
        );
        assert!(v.reason.contains("less often"), "{}", v.reason);
    }

    #[test]
    fn a_clearly_better_candidate_is_promoted() {
        // The current policy runs 20 pods for a load two serve; holding at two is as good
        // for the users and a tenth of the cost.
        let v = judge(
            &env(),
            &held_back(),
            &constant_model(HOLD),
            &constant_model(MORE),
            &[1, 2, 3],
        )
        .unwrap();
        assert!(v.promote, "{}", v.reason);
        assert!(v.candidate.slo_compliance >= v.current.slo_compliance);
        assert!(v.candidate.cost < 0.5 * v.current.cost, "{v:?}");
        assert!(v.reason.starts_with("promoted"), "{}", v.reason);
    }

    #[test]
    fn the_same_policy_is_not_promoted_over_itself() {
        let m = constant_model(HOLD);
        let v = judge(&env(), &held_back(), &m, &m, &[1]).unwrap();
        assert!(!v.promote);
        assert_eq!(v.candidate.cost, v.current.cost);
    }

    #[test]
    fn no_seeds_or_no_traffic_cannot_be_judged() {
        let m = constant_model(HOLD);
        assert!(judge(&env(), &held_back(), &m, &m, &[]).is_err());
        let empty = ArrivalSeries::new("e", vec![1.0; 5]);
        assert!(judge(&env(), &empty, &m, &m, &[1]).is_err());
    }
}
