//! Runs a list of policies over scenarios and seeds and fills in "% above oracle".

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::run::{RunRecord, run_policy};
use super::score::ScoreRow;
use super::tuning::TunedTarget;
use crate::env::EnvConfig;
use crate::error::ConfigError;
use crate::policy::{Hpa, Oracle, Policy};
use crate::rl::artifact::Algo;
use crate::rl::policy::LearnedPolicy;
use crate::scenario::Scenario;

/// A policy the scorecard knows how to build.
#[derive(Debug, Clone)]
pub enum PolicySpec {
    /// The Kubernetes HPA at its default 70 % CPU target.
    Hpa,
    /// The HPA with the target picked by grid search on the training scenarios.
    Tuned,
    /// The clairvoyant floor.
    Oracle,
    /// The clairvoyant sizing provisioned for another fraction of the SLO than the
    /// floor's: above 1 it buys pods back with latency, which maps what any policy could
    /// save at a given SLO compliance.
    OracleAt(OracleMargin),
    /// A trained network, loaded; run greedily.
    Learned(Box<LearnedPolicy>),
}

/// The fraction of the SLO an `oracle:MARGIN` provisions for, in [`OracleMargin::RANGE`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OracleMargin(f64);

impl OracleMargin {
    /// Margins accepted: from well inside the SLO to well past it.
    pub const RANGE: std::ops::RangeInclusive<f64> = 0.5..=3.0;

    /// The margin as a fraction of the SLO.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Eq for OracleMargin {}

impl FromStr for OracleMargin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let margin: f64 = s
            .parse()
            .map_err(|_| format!("oracle margin `{s}` is not a number"))?;
        if !Self::RANGE.contains(&margin) {
            return Err(format!(
                "oracle margin {margin} is outside {}..={} (a fraction of the SLO)",
                Self::RANGE.start(),
                Self::RANGE.end()
            ));
        }
        Ok(Self(margin))
    }
}

/// What a `--policy` entry names before any model is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyName {
    /// `hpa`.
    Hpa,
    /// `tuned`.
    Tuned,
    /// `oracle`.
    Oracle,
    /// `oracle:MARGIN`.
    OracleAt(OracleMargin),
    /// `dqn`, `ppo`, `hybrid`, or `dqn:DIR`, `ppo:DIR`, `hybrid:DIR`: a model directory, or
    /// the shipped default.
    Learned(Algo, Option<PathBuf>),
}

impl PolicyName {
    /// Every name accepted on the command line.
    pub const NAMES: [&'static str; 7] = [
        "hpa",
        "tuned",
        "oracle",
        "oracle:MARGIN",
        "dqn[:DIR]",
        "ppo[:DIR]",
        "hybrid[:DIR]",
    ];

    /// Parses a comma-separated list.
    pub fn parse_list(list: &str) -> Result<Vec<PolicyName>, String> {
        let out: Vec<_> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if out.is_empty() {
            return Err("no policy given".into());
        }
        Ok(out)
    }
}

impl FromStr for PolicyName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (head, dir) = match s.split_once(':') {
            Some((h, d)) => (h, Some(d)),
            None => (s, None),
        };
        let learned = |algo| match dir {
            Some("") => Err(format!("`{s}`: the model directory after `:` is empty")),
            Some(d) => Ok(PolicyName::Learned(algo, Some(PathBuf::from(d)))),
            None => Ok(PolicyName::Learned(algo, None)),
        };
        match (head, dir) {
            ("hpa", None) => Ok(PolicyName::Hpa),
            ("tuned", None) => Ok(PolicyName::Tuned),
            ("oracle", None) => Ok(PolicyName::Oracle),
            ("oracle", Some(margin)) => Ok(PolicyName::OracleAt(margin.parse()?)),
            ("dqn", _) => learned(Algo::Dqn),
            ("ppo", _) => learned(Algo::Ppo),
            ("hybrid", _) => learned(Algo::Hybrid),
            _ => Err(format!(
                "unknown policy `{s}`; expected one of: {}",
                PolicyName::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::Hpa => f.write_str("hpa"),
            PolicySpec::Tuned => f.write_str("tuned"),
            PolicySpec::Oracle => f.write_str("oracle"),
            PolicySpec::OracleAt(margin) => write!(f, "oracle:{}", margin.get()),
            PolicySpec::Learned(p) => f.write_str(&p.name()),
        }
    }
}

/// Everything one evaluation needs.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// Environment configuration shared by every run.
    pub cfg: &'a EnvConfig,
    /// Scenarios, in report order.
    pub scenarios: &'a [Scenario],
    /// Seeds played on every scenario.
    pub seeds: &'a [u64],
    /// The tuned HPA's target, needed only if `tuned` is evaluated.
    pub tuned: Option<&'a TunedTarget>,
}

impl Evaluation<'_> {
    /// Plays every policy on every (scenario, seed), the oracle always included so each row
    /// gets its "% above oracle". Rows come out by scenario, then seed, then policy order.
    pub fn run(&self, policies: &[PolicySpec]) -> Result<Vec<ScoreRow>, ConfigError> {
        let mut rows = Vec::new();
        for scenario in self.scenarios {
            for &seed in self.seeds {
                let (runs, oracle_cost) = self.run_one(policies, scenario, seed)?;
                for run in runs {
                    let mut row = ScoreRow::from_run(&run, &self.cfg.sim);
                    row.set_oracle_cost(oracle_cost);
                    rows.push(row);
                }
            }
        }
        Ok(rows)
    }

    fn run_one(
        &self,
        policies: &[PolicySpec],
        scenario: &Scenario,
        seed: u64,
    ) -> Result<(Vec<RunRecord>, f64), ConfigError> {
        let arrivals = scenario.arrivals(seed);
        let sim_seed = Scenario::sim_seed(seed);
        let play = |policy: &mut dyn Policy| {
            run_policy(
                policy,
                self.cfg,
                scenario.name(),
                arrivals.clone(),
                seed,
                sim_seed,
            )
        };
        let oracle = play(&mut Oracle::new(arrivals.clone(), &self.cfg.sim))?;
        let oracle_cost = ScoreRow::from_run(&oracle, &self.cfg.sim).cost;
        let mut runs = Vec::with_capacity(policies.len());
        for spec in policies {
            let run = match spec {
                PolicySpec::Oracle => oracle.clone(),
                PolicySpec::OracleAt(margin) => {
                    let mut run = play(&mut Oracle::with_margin(
                        arrivals.clone(),
                        &self.cfg.sim,
                        margin.get(),
                    ))?;
                    run.policy = spec.to_string();
                    run
                }
                PolicySpec::Hpa => play(&mut Hpa::default())?,
                PolicySpec::Learned(p) => play(&mut (**p).clone())?,
                PolicySpec::Tuned => {
                    let target = self.tuned.ok_or_else(|| {
                        ConfigError::invalid(
                            "tuned",
                            "the tuned target must be searched before evaluating `tuned`",
                        )
                    })?;
                    let mut run = play(&mut target.policy())?;
                    run.policy = spec.to_string();
                    run
                }
            };
            runs.push(run);
        }
        Ok((runs, oracle_cost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScenarioOptions, ScenarioSpec};
    use crate::traffic::PatternKind;

    #[test]
    fn an_oracle_margin_is_parsed_named_and_checked() {
        let names = PolicyName::parse_list("oracle,oracle:1.25").unwrap();
        let margin: OracleMargin = "1.25".parse().unwrap();
        assert_eq!(names, [PolicyName::Oracle, PolicyName::OracleAt(margin)]);
        assert_eq!(PolicySpec::OracleAt(margin).to_string(), "oracle:1.25");
        for bad in ["oracle:", "oracle:x", "oracle:0.1", "oracle:NaN"] {
            assert!(PolicyName::parse_list(bad).is_err(), "{bad}");
        }
    }

    /// Provisioning for a looser latency target must save pods and cost compliance: the
    /// frontier the `oracle:MARGIN` rows trace only makes sense if it is monotone.
    #[test]
    fn a_looser_oracle_is_cheaper_and_meets_the_slo_less_often() {
        let cfg = EnvConfig::default();
        let opts = ScenarioOptions {
            duration_s: Some(3600),
            ..ScenarioOptions::default()
        };
        let scenario = Scenario::build(
            &ScenarioSpec::Pattern(PatternKind::SuddenSpike),
            &opts,
            &cfg.sim,
        )
        .unwrap();
        let rows = Evaluation {
            cfg: &cfg,
            scenarios: &[scenario],
            seeds: &[1],
            tuned: None,
        }
        .run(&[
            PolicySpec::Oracle,
            PolicySpec::OracleAt("1.5".parse().unwrap()),
        ])
        .unwrap();
        let (floor, loose) = (&rows[0], &rows[1]);
        assert_eq!(loose.policy, "oracle:1.5");
        assert!(loose.cost < floor.cost, "{loose:?} vs {floor:?}");
        assert!(
            loose.slo_compliance < floor.slo_compliance,
            "{loose:?} vs {floor:?}"
        );
    }
}
