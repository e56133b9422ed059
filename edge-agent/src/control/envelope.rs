//! The training envelope of a model the agent is about to run: the range of observations
//! it acted on in the scenarios of its own training configuration, replayed greedily in the
//! simulator. Models do not carry the envelope of their training run, so it is rebuilt at
//! start-up (a few thousand forward passes, well under a second); the greedy replay misses
//! the corners only exploration visited, which errs on the side of handing more
//! observations to the HPA rule, not fewer.

use common::env::Observation;
use common::policy::Policy;
use common::rl::artifact::{TrainConfig, TrainedModel};
use common::rl::episodes::EpisodeCycle;
use common::rl::policy::LearnedPolicy;
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};

use crate::safety::envelope::TrainingEnvelope;

/// The envelope of `model` over one episode of each of its training scenarios, or why it
/// could not be built (a trace the model trained on that is not on this machine).
pub(crate) fn replay_envelope(model: &TrainedModel) -> Result<TrainingEnvelope, String> {
    replay_policy_envelope(
        &LearnedPolicy::new("envelope", model.clone()),
        &model.config,
    )
}

/// The envelope of `policy` over one episode of each scenario `cfg` trains on: for a
/// global model, the agent's own federation training configuration.
pub(crate) fn replay_policy_envelope(
    policy: &LearnedPolicy,
    cfg: &TrainConfig,
) -> Result<TrainingEnvelope, String> {
    let specs = ScenarioSpec::parse_list(&cfg.training.scenarios.join(","))
        .map_err(|e| format!("its training scenarios: {e}"))?;
    let scenarios = specs
        .iter()
        .map(|s| {
            Scenario::build(s, &ScenarioOptions::default(), &cfg.env.sim)
                .map_err(|e| format!("training scenario {s}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = scenarios.len();
    let mut episodes = EpisodeCycle::new(cfg.env.clone(), scenarios, cfg.training.seed)
        .map_err(|e| e.to_string())?;
    let mut policy = policy.clone();
    let mut seen: Vec<Observation> = Vec::new();
    for _ in 0..count {
        let (mut env, _) = episodes.next_env();
        policy.reset();
        loop {
            seen.push(*env.observation());
            let desired = policy.desired_replicas(&env.view());
            if env.step_to(desired).done {
                break;
            }
        }
    }
    TrainingEnvelope::from_observations(&seen).ok_or_else(|| "no observations".to_owned())
}

#[cfg(test)]
mod tests {
    use common::env::OBSERVATION_LEN;
    use common::rl::artifact::Algo;
    use common::rl::defaults;

    use super::*;

    #[test]
    fn the_shipped_dqn_has_an_envelope_that_holds_its_own_observations_and_not_extremes() {
        let model = defaults::load(Algo::Dqn).unwrap();
        let envelope = replay_envelope(&model).unwrap();
        for i in 0..OBSERVATION_LEN {
            assert!(
                envelope.low[i] <= envelope.high[i],
                "entry {i}: {envelope:?}"
            );
        }
        // Every entry is in [0, 1]; a flat-out overload (all entries 1) is further out
        // than any training episode went in at least one entry.
        let extreme = Observation([1.0; OBSERVATION_LEN]);
        assert!(envelope.excursion(&extreme, 0.05).is_some(), "{envelope:?}");
    }
}
