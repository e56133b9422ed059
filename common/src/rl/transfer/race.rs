//! The transfer race: training steps until a learner matches the HPA on a workload.

use std::ops::ControlFlow;

use crate::error::ConfigError;
use crate::rl::artifact::{Algo, TrainConfig, TrainedNetwork};
use crate::rl::episodes::EpisodeCycle;
use crate::rl::policy::LearnedPolicy;
use crate::scenario::Scenario;

use super::TransferError;
use super::fine_tune::Exploration;
use super::learner::Learner;
use super::workload::{Score, Workload, evaluate_hpa, evaluate_policy};

/// Where a racer starts.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// Fresh weights, exploring as the training configuration says.
    Scratch,
    /// Transferred weights, fine-tuned.
    Base {
        /// The base model's flat weights.
        weights: &'a [f32],
        /// Train only the head.
        freeze: bool,
        /// A DQN's exploration schedule over the budget.
        exploration: Exploration,
    },
}

/// The race's course.
#[derive(Debug, Clone)]
pub struct RaceSpec {
    /// Scenarios of the target workload to train on, with training seeds.
    pub training: Vec<Scenario>,
    /// Held-out episodes of the target workload to judge on.
    pub evaluation: Workload,
    /// Most environment steps to train for.
    pub budget: u64,
    /// Steps between greedy evaluations (and the budget's end is always evaluated).
    pub eval_every: u64,
    /// How far below the HPA's SLO compliance still counts as HPA-level, as a fraction
    /// (0.01 is one percentage point).
    pub slo_tolerance: f64,
    /// Seed of the learner and the training traffic.
    pub seed: u64,
    /// Stop training at the first evaluation that reaches HPA level instead of running
    /// the whole budget for the rest of the curve.
    pub stop_when_reached: bool,
}

impl RaceSpec {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.eval_every == 0 {
            return Err(ConfigError::invalid(
                "race.eval_every",
                "must be at least 1 step",
            ));
        }
        if !(0.0..=1.0).contains(&self.slo_tolerance) {
            return Err(ConfigError::invalid(
                "race.slo_tolerance",
                format!(
                    "must be a fraction in [0, 1] (0.01 = 1 percentage point), got {}",
                    self.slo_tolerance
                ),
            ));
        }
        Ok(())
    }
}

/// One greedy evaluation during the race.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Training steps taken before it.
    pub steps: u64,
    /// How the greedy policy did.
    pub score: Score,
}

/// How a race went.
#[derive(Debug, Clone, PartialEq)]
pub struct Race {
    /// The first evaluated step count at HPA level, or `None` if the budget ran out
    /// first. Resolution is [`RaceSpec::eval_every`].
    pub reached_at: Option<u64>,
    /// The HPA on the evaluation episodes.
    pub hpa: Score,
    /// Every evaluation, from step 0.
    pub curve: Vec<CurvePoint>,
}

/// Trains `algo` from `start` on the spec's training scenarios, evaluating the greedy
/// policy on the held-out episodes at step 0 and every `eval_every` steps, and reports
/// the first step count at which it matches the HPA ([`Score::reaches`]). Deterministic
/// for a seed.
pub fn steps_to_reach(
    algo: Algo,
    cfg: &TrainConfig,
    start: &Start<'_>,
    spec: &RaceSpec,
) -> Result<Race, TransferError> {
    cfg.validate()?;
    spec.validate()?;
    let hpa = evaluate_hpa(&cfg.env, &spec.evaluation)?;
    let mut episodes = EpisodeCycle::new(cfg.env.clone(), spec.training.clone(), spec.seed)?;
    let learner = match start {
        Start::Scratch => Learner::scratch(algo, cfg, spec.budget, spec.seed),
        Start::Base {
            weights,
            freeze,
            exploration,
        } => Learner::from_base(
            algo,
            cfg,
            weights,
            *freeze,
            exploration,
            spec.budget,
            spec.seed,
        )?,
    };
    let score = |network: TrainedNetwork| {
        let mut policy = LearnedPolicy::from_network(algo.name(), network, cfg);
        evaluate_policy(&mut policy, &cfg.env, &spec.evaluation)
    };
    let mut race = Race {
        reached_at: None,
        hpa,
        curve: Vec::new(),
    };
    // Records an evaluation; breaks when the race is over.
    let record = |race: &mut Race, steps: u64, score: Score| {
        race.curve.push(CurvePoint { steps, score });
        if race.reached_at.is_none() && score.reaches(&race.hpa, spec.slo_tolerance) {
            race.reached_at = Some(steps);
        }
        if race.reached_at.is_some() && spec.stop_when_reached {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    if record(&mut race, 0, score(learner.network())?).is_break() || spec.budget == 0 {
        return Ok(race);
    }
    let start_steps = learner.steps();
    let mut failed = None;
    learner.train(&mut episodes, spec.budget, |steps, network| {
        let steps = steps - start_steps;
        if steps % spec.eval_every != 0 && steps != spec.budget {
            return ControlFlow::Continue(());
        }
        match score(network()) {
            Ok(s) => record(&mut race, steps, s),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(race),
    }
}
