//! Offline fine-tuning of a DQN from the cluster's own transitions (`retrain
//! --offline-dqn`, off by default): the experience log replayed as (observation, action,
//! reward, next observation) into the learner's replay buffer, starting from the
//! candidate's weights, with no exploration at all since nothing acts.
//!
//! Conservative by construction: a small learning rate, a proximal term pulling every step
//! back towards the starting weights (the FedProx term the federation already uses), a
//! bounded number of passes, and the promotion gate judging the result like any other
//! candidate. The risks stay, and are why it is off by default:
//! - only actions the agent actually took are seen, so Q-values of the others are
//!   extrapolated and can be overestimated (there is no CQL-style penalty here);
//! - the reward is read from the next interval's metrics, which lag the action by the
//!   `rate()` window: credit is delayed and noisy, unlike the simulator's exact interval;
//! - whatever the safety layer or the HPA fallback decided is learned as if the policy had
//!   chosen it; intervals whose executed change is not one of the actions are skipped;
//! - observations were normalised by the model in service when recorded.

use common::env::{ActionSpace, RewardConfig, RewardInputs, RewardTerms, ThrashTracker};
use common::rl::artifact::{TrainedModel, TrainedNetwork};
use common::rl::dqn::DqnLearner;
use common::rl::network::HybridNetwork;
use common::rl::replay::Transition as Replayed;

use crate::experience::Transition;

/// How gently to learn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OfflineSpec {
    /// Passes over the replayed transitions. Default 3.
    pub(crate) passes: u32,
    /// Learning rate. Default 1e-5, fifty times below the DQN's own.
    pub(crate) learning_rate: f64,
    /// Weight of the proximal term towards the starting weights. Default 0.1.
    pub(crate) proximal_mu: f64,
    pub(crate) seed: u64,
}

impl Default for OfflineSpec {
    fn default() -> Self {
        Self {
            passes: 3,
            learning_rate: 1e-5,
            proximal_mu: 0.1,
            seed: 0,
        }
    }
}

/// Why offline fine-tuning could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OfflineError {
    /// Only DQNs (and a hybrid's DQN) learn from replayed transitions.
    #[error("offline fine-tuning needs a DQN (or a hybrid), not {0}")]
    NotADqn(&'static str),
    /// Too few usable transitions.
    #[error(
        "offline fine-tuning: {have} usable transitions (consecutive intervals with metrics and an executed change that is one of the actions), at least {need} are needed"
    )]
    TooLittle { have: usize, need: usize },
    /// The weights do not fit.
    #[error(transparent)]
    Length(#[from] common::rl::params::ParamLengthError),
}

/// The replayable transitions of a recording (oldest first), rewarded as the model's
/// environment rewards them.
pub(crate) fn replayable(
    log: &[Transition],
    actions: &ActionSpace,
    reward: &RewardConfig,
    slo_s: f64,
) -> Vec<Replayed> {
    let mut thrash = ThrashTracker::default();
    let mut out = Vec::new();
    for pair in log.windows(2) {
        let (t, next) = (&pair[0], &pair[1]);
        let Some(m) = next.metrics else { continue };
        if t.metrics.is_none() {
            continue;
        }
        let executed = if t.applied {
            i64::from(t.decided) - i64::from(t.replicas_before)
        } else {
            0
        };
        let Some(action) = (0..actions.len()).find(|&a| i64::from(actions.delta(a)) == executed)
        else {
            continue;
        };
        let direction = executed.signum() as i32;
        let reversal = thrash.record(direction, t.at_s, reward.thrash_window_s);
        let terms = RewardTerms::new(
            reward,
            &RewardInputs {
                p95_s: m.p95_latency_s,
                slo_s,
                error_rate: m.error_rate,
                cpu_utilization: m.cpu_utilization,
                direction,
                reversal,
            },
        );
        out.push(Replayed {
            observation: t.observation,
            action: action as u32,
            reward: terms.total(reward) as f32,
            next_observation: next.observation,
            done: false,
        });
    }
    out
}

/// Fine-tunes `model`'s DQN on `replayed`; a hybrid keeps its tuner.
pub(crate) fn fine_tune_offline(
    model: &TrainedModel,
    replayed: &[Replayed],
    spec: &OfflineSpec,
) -> Result<TrainedModel, OfflineError> {
    let dqn_net = match &model.network {
        TrainedNetwork::Dqn(n) => n.clone(),
        TrainedNetwork::Hybrid(h) => h.dqn.clone(),
        TrainedNetwork::Ppo(_) => return Err(OfflineError::NotADqn("ppo")),
    };
    let mut cfg = model.config.dqn.clone();
    let need = cfg.batch_size.max(32);
    if replayed.len() < need {
        return Err(OfflineError::TooLittle {
            have: replayed.len(),
            need,
        });
    }
    cfg.learning_rate = spec.learning_rate;
    cfg.proximal_mu = spec.proximal_mu;
    cfg.learning_starts = cfg.batch_size as u64;
    cfg.buffer_size = cfg.buffer_size.max(replayed.len());
    let passes = u64::from(spec.passes.max(1));
    let total = replayed.len() as u64 * passes;
    let weights = common::rl::params::flatten(&dqn_net);
    let mut learner =
        DqnLearner::from_weights(cfg, model.actions.len(), total, &weights, spec.seed)?;
    for _ in 0..passes {
        for t in replayed {
            learner.observe(*t);
        }
    }
    let trained = learner.network();
    let network = match &model.network {
        TrainedNetwork::Hybrid(h) => TrainedNetwork::Hybrid(Box::new(HybridNetwork {
            dqn: trained,
            tuner: h.tuner.clone(),
        })),
        _ => TrainedNetwork::Dqn(trained),
    };
    Ok(TrainedModel {
        network,
        ..model.clone()
    })
}

#[cfg(test)]
mod tests {
    use common::rl::artifact::Algo;
    use common::rl::fleet_model::network_weights;
    use common::sim::SimConfig;
    use common::traffic::ArrivalSeries;

    use super::*;
    use crate::twin::synthetic::{recorded_transition, simulated_recording};
    use crate::twin::test_support::small_model;

    fn step(at_s: u64, before: u32, decided: u32, applied: bool, p95_s: f64) -> Transition {
        let mut t = recorded_transition(at_s, 200.0, before);
        t.replicas_before = before;
        t.decided = decided;
        t.applied = applied;
        if let Some(m) = &mut t.metrics {
            m.p95_latency_s = p95_s;
        }
        t
    }

    #[test]
    fn executed_changes_become_actions_rewarded_by_the_next_intervals_metrics() {
        let actions = ActionSpace::default(); // −1, 0, +1
        let reward = RewardConfig::default();
        let log = [
            step(0, 2, 3, true, 0.05),   // +1
            step(15, 3, 3, false, 0.40), // hold (nothing written)
            step(30, 3, 6, true, 0.05),  // +3: not an action, skipped
            step(45, 6, 5, true, 0.05),  // −1
            step(60, 5, 5, false, 0.05),
        ];
        let r = replayable(&log, &actions, &reward, 0.2);
        assert_eq!(
            r.iter().map(|t| t.action).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        // Each is rewarded by the interval after it: the scale-up by one whose p95 was
        // twice the SLO, the hold by a calm one.
        let hold = RewardTerms::new(
            &reward,
            &RewardInputs {
                p95_s: 0.05,
                slo_s: 0.2,
                error_rate: 0.0,
                cpu_utilization: 0.5,
                direction: 0,
                reversal: false,
            },
        );
        assert_eq!(r[1].reward, hold.total(&reward) as f32);
        let up = RewardTerms::new(
            &reward,
            &RewardInputs {
                p95_s: 0.40,
                slo_s: 0.2,
                error_rate: 0.0,
                cpu_utilization: 0.5,
                direction: 1,
                reversal: false,
            },
        );
        assert_eq!(r[0].reward, up.total(&reward) as f32);
        assert_eq!(r[0].next_observation, log[1].observation);
    }

    #[test]
    fn fine_tuning_moves_the_weights_a_little_deterministically_and_refuses_ppo() {
        let model = small_model(Algo::Dqn, 3);
        let rates = (0..4 * 3600)
            .map(|t| 300.0 + 200.0 * ((t as f32) / 900.0).sin())
            .collect();
        let log = simulated_recording(&SimConfig::default(), ArrivalSeries::new("w", rates), 5, 0)
            .unwrap();
        let env = &model.config.env;
        let replayed = replayable(&log, &env.actions, &env.reward, env.sim.slo_s());
        assert!(replayed.len() > 500, "{}", replayed.len());
        let spec = OfflineSpec::default();
        let a = fine_tune_offline(&model, &replayed, &spec).unwrap();
        let b = fine_tune_offline(&model, &replayed, &spec).unwrap();
        let (w0, wa) = (network_weights(&model.network), network_weights(&a.network));
        assert_eq!(wa, network_weights(&b.network), "same seed, same weights");
        let moved: f32 = w0
            .iter()
            .zip(&wa)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt();
        let size: f32 = w0.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(moved > 0.0, "nothing learned");
        assert!(
            moved < 0.05 * size,
            "moved {moved} of {size}: not conservative"
        );

        let err = fine_tune_offline(&small_model(Algo::Ppo, 1), &replayed, &spec).unwrap_err();
        assert!(matches!(err, OfflineError::NotADqn("ppo")), "{err}");
        let err = fine_tune_offline(&model, &replayed[..10], &spec).unwrap_err();
        assert!(
            matches!(err, OfflineError::TooLittle { have: 10, .. }),
            "{err}"
        );
    }
}
