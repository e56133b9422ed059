//! Local training for one federated round: start from the round's global model, learn for
//! the offered number of environment steps on this agent's own environment, and hand back
//! the result with the sample count FedAvg weights it by.
//!
//! The agent's environment is one continuing stream of episodes over its configured
//! scenarios (an [`EpisodeCycle`]); a round picks up the episode where the last round left
//! it. Budgets are often shorter than an episode (a day of traffic is 5,760 decisions), and
//! restarting every round would train on the first hours of each day only.
//!
//! DQN keeps one learner for the agent's life: each round loads the global weights into
//! its online and target networks, but its replay buffer, step count (hence ε) and
//! optimiser carry over, so experience from earlier rounds still counts. PPO is on-policy,
//! so its experience is worthless once the weights change: each round builds a fresh
//! learner from the global weights, with a rollout no longer than the budget so that a
//! short round still produces an update.
//!
//! Pure and deterministic for a seed: no clock, no I/O after construction. The caller
//! (the client's blocking task) enforces deadlines by raising a cancellation flag, which
//! the loop checks between steps.

use std::sync::atomic::{AtomicBool, Ordering};

use common::env::{Env, Observation};
use common::proto::{LocalMetrics, ModelArchitecture, ModelPayload};
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::dqn::DqnLearner;
use common::rl::episodes::EpisodeCycle;
use common::rl::fleet_model::architecture;
use common::rl::params::{ParamLengthError, flatten};
use common::rl::ppo::{PpoConfig, PpoLearner, RolloutStep};
use common::rl::replay::Transition;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use serde::{Deserialize, Serialize};

use crate::meter::IntervalMeter;

/// What an update carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadForm {
    /// The trained weights.
    #[default]
    Weights,
    /// Trained minus base weights, which lets the coordinator clip each agent's step.
    Delta,
    /// The delta rounded to `f16` on the wire: half the bytes of `Delta`, each value off
    /// by at most a relative 2⁻¹¹ (a plain `Delta` is sent if a value exceeds the `f16`
    /// range).
    HalfDelta,
}

/// The trainer cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum TrainerSetupError {
    /// The learner or environment configuration is invalid.
    #[error(transparent)]
    Config(#[from] common::ConfigError),
    /// A training scenario cannot be built.
    #[error("training scenario `{spec}`: {source}")]
    Scenario {
        /// The scenario as configured.
        spec: String,
        /// Why it cannot be built (unknown name, unreadable trace…).
        source: common::TrafficError,
    },
}

/// A round's training did not produce an update.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The base weights do not fit this agent's network.
    #[error("the round's base model does not fit the local network: {0}")]
    BaseLength(#[from] ParamLengthError),
    /// The caller gave up (the round's deadline passed) before the budget was trained.
    #[error("cancelled after {steps} of {budget} steps")]
    Cancelled {
        /// Steps trained when the cancellation was seen.
        steps: u64,
        /// Steps the round asked for.
        budget: u64,
    },
    /// Training produced NaN or infinite weights; sending them would only get the update
    /// rejected (or, from a naive aggregator, poison the fleet).
    #[error("local training diverged: {non_finite} of the trained weights are NaN or infinite")]
    Diverged {
        /// How many.
        non_finite: usize,
    },
}

/// What one round of local training produced.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalUpdate {
    /// The trained model, in the configured form.
    pub payload: ModelPayload,
    /// Environment steps trained: the budget.
    pub sample_count: u64,
    /// How the local policy did while training.
    pub metrics: LocalMetrics,
}

/// Trains this agent's share of each round.
pub struct LocalTrainer {
    algo: Algo,
    cfg: TrainConfig,
    payload: PayloadForm,
    architecture: ModelArchitecture,
    episodes: EpisodeCycle,
    /// The episode in progress, carried from round to round.
    env: Option<Env>,
    /// DQN's learner, kept across rounds; `None` before the first DQN round.
    dqn: Option<Box<DqnLearner>>,
    rounds: u64,
}

impl std::fmt::Debug for LocalTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTrainer")
            .field("algo", &self.algo)
            .field("architecture", &self.architecture)
            .field("rounds", &self.rounds)
            .field("dqn", &self.dqn)
            .finish_non_exhaustive()
    }
}

impl LocalTrainer {
    /// A trainer for `algo` configured by `cfg`: the environment (`cfg.env`), the learner
    /// (`cfg.dqn` or `cfg.ppo`, which also fix the network's architecture), the agent's
    /// own traffic (`cfg.training.scenarios`, names or `trace:PATH` as for `evaluate`) and
    /// seed (`cfg.training.seed`). `cfg.training.timesteps` is the number of local steps
    /// the agent expects to train over all rounds: DQN decays ε over its
    /// `exploration_fraction` of it.
    pub fn new(
        algo: Algo,
        cfg: TrainConfig,
        payload: PayloadForm,
    ) -> Result<Self, TrainerSetupError> {
        cfg.validate()?;
        let scenarios = cfg
            .training
            .scenarios
            .iter()
            .map(|name| {
                let wrap = |source| TrainerSetupError::Scenario {
                    spec: name.clone(),
                    source,
                };
                let spec: ScenarioSpec = name.parse().map_err(wrap)?;
                Scenario::build(&spec, &ScenarioOptions::default(), &cfg.env.sim).map_err(wrap)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_scenarios(algo, cfg, scenarios, payload)
    }

    /// As [`new`](Self::new), with scenarios built by the caller (e.g. sized differently,
    /// or a recorded series); `cfg.training.scenarios` is then ignored.
    pub fn with_scenarios(
        algo: Algo,
        cfg: TrainConfig,
        scenarios: Vec<Scenario>,
        payload: PayloadForm,
    ) -> Result<Self, TrainerSetupError> {
        cfg.validate()?;
        let episodes = EpisodeCycle::new(cfg.env.clone(), scenarios, cfg.training.seed)?;
        Ok(Self {
            algo,
            architecture: architecture(algo, &cfg),
            cfg,
            payload,
            episodes,
            env: None,
            dqn: None,
            rounds: 0,
        })
    }

    /// The network this trainer trains, as the hello announces it.
    pub fn architecture(&self) -> &ModelArchitecture {
        &self.architecture
    }

    /// The learner.
    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// The configuration trained under.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Rounds started so far (cancelled ones included).
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Trains for `budget` environment steps starting from `base` (flat weights of
    /// [`architecture`](Self::architecture)). Checks `cancel` before every step and gives
    /// up with [`TrainError::Cancelled`] once it is set; the experience gathered until then
    /// stays with the trainer.
    pub fn train_round(
        &mut self,
        base: &[f32],
        budget: u64,
        cancel: &AtomicBool,
    ) -> Result<LocalUpdate, TrainError> {
        let expected = self.architecture.parameter_count as usize;
        if base.len() != expected {
            return Err(ParamLengthError {
                expected,
                got: base.len(),
            }
            .into());
        }
        let round_seed = self
            .cfg
            .training
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.rounds);
        self.rounds += 1;
        let actions = self.cfg.env.actions.len();
        let mut learner = match self.algo {
            // A hybrid federates its DQN; its tuner is trained per cluster, not here.
            Algo::Dqn | Algo::Hybrid => {
                let dqn = match self.dqn.take() {
                    Some(mut learner) => {
                        learner.load_weights(base)?;
                        learner
                    }
                    None => Box::new(DqnLearner::from_weights(
                        self.cfg.dqn.clone(),
                        actions,
                        self.cfg.training.timesteps,
                        base,
                        self.cfg.training.seed,
                    )?),
                };
                Learner::Dqn(dqn)
            }
            Algo::Ppo => Learner::Ppo(Box::new(PpoLearner::from_weights(
                rollout_within(&self.cfg.ppo, budget),
                actions,
                base,
                round_seed,
            )?)),
        };
        let outcome = self.run(&mut learner, budget, cancel);
        let weights = learner.weights();
        if let Learner::Dqn(dqn) = learner {
            self.dqn = Some(dqn);
        }
        let meter = outcome?;
        let non_finite = weights.iter().filter(|w| !w.is_finite()).count();
        if non_finite > 0 {
            return Err(TrainError::Diverged { non_finite });
        }
        let payload = match self.payload {
            PayloadForm::Weights => ModelPayload::Weights(weights),
            PayloadForm::Delta => {
                ModelPayload::Delta(weights.iter().zip(base).map(|(w, b)| w - b).collect())
            }
            PayloadForm::HalfDelta => {
                ModelPayload::compact_delta(weights.iter().zip(base).map(|(w, b)| w - b).collect())
            }
        };
        Ok(LocalUpdate {
            payload,
            sample_count: meter.intervals(),
            metrics: meter.local_metrics(&self.cfg.env.sim),
        })
    }

    /// The step loop shared by both learners.
    fn run(
        &mut self,
        learner: &mut Learner,
        budget: u64,
        cancel: &AtomicBool,
    ) -> Result<IntervalMeter, TrainError> {
        let mut meter = IntervalMeter::default();
        let mut env = match self.env.take() {
            Some(env) => env,
            None => self.episodes.next_env().0,
        };
        for done in 0..budget {
            if cancel.load(Ordering::Relaxed) {
                self.env = Some(env);
                return Err(TrainError::Cancelled {
                    steps: done,
                    budget,
                });
            }
            let observation: Observation = *env.observation();
            let step = learner.step(&mut env, &observation);
            meter.record(&step);
            if step.done {
                env = self.episodes.next_env().0;
            }
        }
        self.env = Some(env);
        Ok(meter)
    }
}

/// `cfg` with its rollout shortened to fit `budget`, so every round ends with at least one
/// update; a longer budget keeps the configured rollout.
fn rollout_within(cfg: &PpoConfig, budget: u64) -> PpoConfig {
    let n_steps = cfg
        .n_steps
        .min(usize::try_from(budget).unwrap_or(usize::MAX))
        .max(2);
    PpoConfig {
        n_steps,
        batch_size: cfg.batch_size.min(n_steps),
        ..cfg.clone()
    }
}

/// The learner of one round.
enum Learner {
    Dqn(Box<DqnLearner>),
    Ppo(Box<PpoLearner>),
}

impl Learner {
    /// Acts on `observation`, steps `env` and learns from the transition.
    fn step(&mut self, env: &mut Env, observation: &Observation) -> common::env::Step {
        match self {
            Learner::Dqn(learner) => {
                let action = learner.act(&observation.0, true);
                let step = env.step(action);
                learner.observe(Transition {
                    observation: observation.0,
                    action: action as u32,
                    reward: step.reward as f32,
                    next_observation: step.observation.0,
                    done: step.done,
                });
                step
            }
            Learner::Ppo(learner) => {
                let (action, log_prob, value) = learner.act(&observation.0, true);
                let step = env.step(action);
                learner.observe(RolloutStep {
                    observation: observation.0,
                    action,
                    log_prob,
                    value,
                    reward: step.reward as f32,
                    next_observation: step.observation.0,
                    done: step.done,
                });
                step
            }
        }
    }

    fn weights(&self) -> Vec<f32> {
        match self {
            Learner::Dqn(learner) => flatten(&learner.network()),
            Learner::Ppo(learner) => flatten(&learner.network()),
        }
    }
}

#[cfg(test)]
mod tests {
    use common::rl::fleet_model::fresh_weights;

    use super::*;

    /// A small network and short episodes, so a test trains in well under a second.
    fn small_config(seed: u64) -> TrainConfig {
        let mut cfg = crate::twin::test_support::small_config();
        cfg.training.scenarios = vec!["sudden_spike".into(), "steady".into()];
        cfg.training.seed = seed;
        cfg
    }

    fn trainer(algo: Algo, seed: u64, payload: PayloadForm) -> (LocalTrainer, Vec<f32>) {
        let cfg = small_config(seed);
        let base = fresh_weights(algo, &cfg, 42);
        (LocalTrainer::new(algo, cfg, payload).unwrap(), base)
    }

    fn weights(update: &LocalUpdate) -> &[f32] {
        update.payload.values()
    }

    #[test]
    fn a_round_trains_the_budget_and_changes_the_weights() {
        for algo in [Algo::Dqn, Algo::Ppo] {
            let (mut t, base) = trainer(algo, 1, PayloadForm::Weights);
            assert_eq!(t.architecture().parameter_count as usize, base.len());
            let update = t.train_round(&base, 300, &AtomicBool::new(false)).unwrap();
            assert_eq!(update.sample_count, 300, "{algo:?}");
            assert!(matches!(update.payload, ModelPayload::Weights(_)));
            let w = weights(&update);
            assert_eq!(w.len(), base.len());
            assert!(w.iter().all(|x| x.is_finite()));
            let changed = w.iter().zip(&base).filter(|(a, b)| a != b).count();
            assert!(
                changed > base.len() / 2,
                "{algo:?}: only {changed} weights moved"
            );
            let m = update.metrics;
            assert!(m.mean_reward.is_finite() && m.cost > 0.0, "{m:?}");
            assert!((0.0..=1.0).contains(&m.slo_compliance), "{m:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_updates_and_another_seed_others() {
        for algo in [Algo::Dqn, Algo::Ppo] {
            let run = |seed| {
                let (mut t, base) = trainer(algo, seed, PayloadForm::Weights);
                let first = t.train_round(&base, 200, &AtomicBool::new(false)).unwrap();
                // The second round starts from the first's result, as after a publish.
                let second = t
                    .train_round(weights(&first), 200, &AtomicBool::new(false))
                    .unwrap();
                (first, second)
            };
            assert_eq!(run(3), run(3), "{algo:?}");
            assert_ne!(run(3).1.payload, run(4).1.payload, "{algo:?}");
        }
    }

    #[test]
    fn a_delta_is_the_trained_weights_minus_the_base() {
        let (mut w, base) = trainer(Algo::Dqn, 5, PayloadForm::Weights);
        let (mut d, _) = trainer(Algo::Dqn, 5, PayloadForm::Delta);
        let full = w.train_round(&base, 100, &AtomicBool::new(false)).unwrap();
        let delta = d.train_round(&base, 100, &AtomicBool::new(false)).unwrap();
        assert!(matches!(delta.payload, ModelPayload::Delta(_)));
        for ((f, dl), b) in weights(&full).iter().zip(weights(&delta)).zip(&base) {
            assert_eq!(*dl, f - b);
        }
        assert_eq!(full.metrics, delta.metrics);
    }

    #[test]
    fn a_half_delta_is_the_delta_rounded_to_f16() {
        let (mut d, base) = trainer(Algo::Dqn, 5, PayloadForm::Delta);
        let (mut h, _) = trainer(Algo::Dqn, 5, PayloadForm::HalfDelta);
        let exact = d.train_round(&base, 100, &AtomicBool::new(false)).unwrap();
        let half = h.train_round(&base, 100, &AtomicBool::new(false)).unwrap();
        assert!(matches!(half.payload, ModelPayload::HalfDelta(_)));
        let (exact, half) = (exact.payload.values(), half.payload.values());
        assert_eq!(exact.len(), half.len());
        for (e, h) in exact.iter().zip(half) {
            assert!((e - h).abs() <= e.abs() * 2f32.powi(-11) + 6e-8, "{e} {h}");
        }
        assert!(
            exact.iter().zip(half).any(|(e, h)| e != h),
            "nothing was rounded"
        );
    }

    #[test]
    fn dqn_keeps_its_experience_and_starts_each_round_from_the_base() {
        let (mut t, base) = trainer(Algo::Dqn, 2, PayloadForm::Weights);
        t.train_round(&base, 150, &AtomicBool::new(false)).unwrap();
        let steps_after_one = t.dqn.as_ref().map(|l| l.steps());
        let other_base = fresh_weights(Algo::Dqn, t.config(), 7);
        t.train_round(&other_base, 150, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(steps_after_one, Some(150));
        assert_eq!(t.dqn.as_ref().map(|l| l.steps()), Some(300));
        assert_eq!(t.rounds(), 2);
    }

    #[test]
    fn a_raised_flag_cancels_the_round_and_the_trainer_carries_on() {
        let (mut t, base) = trainer(Algo::Dqn, 4, PayloadForm::Weights);
        let err = t
            .train_round(&base, 10_000, &AtomicBool::new(true))
            .unwrap_err();
        assert_eq!(
            err,
            TrainError::Cancelled {
                steps: 0,
                budget: 10_000
            }
        );
        let update = t.train_round(&base, 50, &AtomicBool::new(false)).unwrap();
        assert_eq!(update.sample_count, 50);
    }

    #[test]
    fn a_base_of_the_wrong_length_is_refused() {
        let (mut t, base) = trainer(Algo::Ppo, 1, PayloadForm::Weights);
        let err = t
            .train_round(&base[..10], 50, &AtomicBool::new(false))
            .unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::BaseLength(ParamLengthError { got: 10, .. })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_scenarios_are_named() {
        let mut cfg = small_config(0);
        cfg.training.scenarios = vec!["steddy".into()];
        let err = LocalTrainer::new(Algo::Dqn, cfg, PayloadForm::Weights).unwrap_err();
        assert!(err.to_string().contains("steddy"), "{err}");
    }

    #[test]
    fn a_short_budget_shortens_the_ppo_rollout_only() {
        let cfg = PpoConfig::default();
        let short = rollout_within(&cfg, 100);
        assert_eq!((short.n_steps, short.batch_size), (100, 64));
        let tiny = rollout_within(&cfg, 1);
        assert_eq!((tiny.n_steps, tiny.batch_size), (2, 2));
        tiny.validate().unwrap();
        assert_eq!(rollout_within(&cfg, 1_000_000), cfg);
    }
}
