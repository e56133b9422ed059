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
    /// A trained network, loaded; run greedily.
    Learned(Box<LearnedPolicy>),
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
    /// `dqn`, `ppo`, `hybrid`, or `dqn:DIR`, `ppo:DIR`, `hybrid:DIR`: a model directory, or
    /// the shipped default.
    Learned(Algo, Option<PathBuf>),
}

impl PolicyName {
    /// Every name accepted on the command line.
    pub const NAMES: [&'static str; 6] = [
        "hpa",
        "tuned",
        "oracle",
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
