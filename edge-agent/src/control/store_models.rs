//! The model store (`[twin] store`) as the source of the policy in service: `retrain`
//! promotes into it and `rollback-model` swaps its links from another process, and the
//! control loop looks before every interval, so either takes effect at the next decision.
//!
//! A look is one `readlink`: versions are immutable and complete before a link points at
//! them, so only a change of the link's target means a new model to load. A version that
//! cannot be loaded (another learner's, or collected by a newer promotion meanwhile) is
//! refused once and the model in service keeps deciding until the link moves again.

use std::path::{Path, PathBuf};

use common::rl::artifact::{Algo, TrainedModel};

use crate::model_source::load_model;
use crate::twin::store::{DecisionRecord, DecisionTail, current_version_dir, version_number_of};

/// What the store serves, as the loop sees it.
#[derive(Debug)]
pub(crate) struct StoreModels {
    dir: PathBuf,
    algo: Algo,
    /// `policy.model`'s directory, deciding while nothing is promoted; `None` is the
    /// shipped default.
    configured: Option<PathBuf>,
    /// The version deciding now; `None` when the configured model does.
    in_service: Option<PathBuf>,
    /// The last version that could not be loaded.
    refused: Option<PathBuf>,
    /// The gate's verdicts read so far.
    verdicts: DecisionTail,
}

/// A model to switch to.
#[derive(Debug)]
pub(crate) struct Switch {
    /// For logs and the policy's label.
    pub(crate) label: String,
    /// The store version's number; 0 for the configured model.
    pub(crate) version: u64,
    pub(crate) model: TrainedModel,
}

impl StoreModels {
    /// Watches the store in `dir` for `algo`'s models; `in_service` is the version the
    /// agent started with (see [`StoreModels::load_current`]).
    pub(crate) fn new(
        dir: &Path,
        algo: Algo,
        configured: Option<PathBuf>,
        in_service: Option<PathBuf>,
    ) -> Self {
        Self {
            dir: dir.to_owned(),
            algo,
            configured,
            in_service,
            refused: None,
            verdicts: DecisionTail::default(),
        }
    }

    /// The promotion gate's verdicts appended since the last look (every one in the log
    /// at the first), for the metrics and the log.
    pub(crate) fn new_verdicts(&mut self) -> Result<(Vec<DecisionRecord>, usize), String> {
        self.verdicts.read_new(&self.dir).map_err(|e| e.to_string())
    }

    /// The store's current version directory and its model, or `None` when nothing is
    /// promoted: what the agent starts with.
    pub(crate) fn load_current(
        dir: &Path,
        algo: Algo,
    ) -> anyhow::Result<Option<(PathBuf, String, TrainedModel)>> {
        let Some(version) = current_version_dir(dir)? else {
            return Ok(None);
        };
        let (label, model) = load_model(algo, Some(&version))?;
        Ok(Some((version, label, model)))
    }

    /// The model to decide with from now on, when the store's `current` has moved since
    /// the last look; `Err` (once per version) when it cannot be loaded.
    pub(crate) fn poll(&mut self) -> Option<Result<Switch, String>> {
        let target = match current_version_dir(&self.dir) {
            Ok(t) => t,
            Err(e) => return self.refuse_once(None, e.to_string()),
        };
        if target == self.in_service || (target.is_some() && target == self.refused) {
            return None;
        }
        let loaded = load_model(self.algo, target.as_deref().or(self.configured.as_deref()));
        match loaded {
            Ok((label, model)) => {
                let version = target.as_deref().and_then(version_number_of).unwrap_or(0);
                self.in_service = target;
                self.refused = None;
                Some(Ok(Switch {
                    label,
                    version,
                    model,
                }))
            }
            Err(e) => self.refuse_once(target, format!("{e:#}")),
        }
    }

    fn refuse_once(
        &mut self,
        target: Option<PathBuf>,
        why: String,
    ) -> Option<Result<Switch, String>> {
        if target.is_some() && target == self.refused {
            return None;
        }
        self.refused = target;
        Some(Err(why))
    }
}

#[cfg(test)]
mod tests {
    use common::rl::fleet_model::network_weights;

    use super::*;
    use crate::twin::store::ModelStore;
    use crate::twin::test_support::small_model;

    #[test]
    fn promotions_and_rollbacks_are_seen_at_the_next_look_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut models = StoreModels::new(dir.path(), Algo::Dqn, None, None);
        // Nothing promoted: the configured model decides, nothing to switch to.
        assert!(models.poll().is_none());

        let store = ModelStore::open(dir.path()).unwrap();
        let first = small_model(Algo::Dqn, 1);
        store.promote(&first).unwrap();
        let switch = models.poll().unwrap().unwrap();
        assert_eq!(switch.version, 1);
        assert_eq!(
            network_weights(&switch.model.network),
            network_weights(&first.network)
        );
        assert!(models.poll().is_none(), "the same version twice");

        let second = small_model(Algo::Dqn, 2);
        store.promote(&second).unwrap();
        let switch = models.poll().unwrap().unwrap();
        assert_eq!(switch.version, 2);
        assert_eq!(
            network_weights(&switch.model.network),
            network_weights(&second.network)
        );

        // Rollback: the previous version decides again, bit for bit.
        store.rollback().unwrap();
        let switch = models.poll().unwrap().unwrap();
        assert_eq!(switch.version, 1);
        assert_eq!(
            network_weights(&switch.model.network),
            network_weights(&first.network)
        );
        // A second rollback undoes the first.
        store.rollback().unwrap();
        assert_eq!(models.poll().unwrap().unwrap().version, 2);
    }

    #[test]
    fn rolling_back_the_first_promotion_hands_back_to_the_configured_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        store.promote(&small_model(Algo::Dqn, 1)).unwrap();
        let (version, ..) = StoreModels::load_current(dir.path(), Algo::Dqn)
            .unwrap()
            .unwrap();
        let mut models = StoreModels::new(dir.path(), Algo::Dqn, None, Some(version));
        assert!(models.poll().is_none(), "started with the current version");
        store.rollback().unwrap();
        let switch = models.poll().unwrap().unwrap();
        assert_eq!(switch.version, 0);
        // No `policy.model` directory configured: the shipped DQN.
        let shipped = common::rl::defaults::load(Algo::Dqn).unwrap();
        assert_eq!(
            network_weights(&switch.model.network),
            network_weights(&shipped.network)
        );
    }

    #[test]
    fn another_learners_model_is_refused_once_and_the_current_one_keeps_deciding() {
        let dir = tempfile::tempdir().unwrap();
        let mut models = StoreModels::new(dir.path(), Algo::Dqn, None, None);
        let store = ModelStore::open(dir.path()).unwrap();
        store.promote(&small_model(Algo::Ppo, 1)).unwrap();
        let why = models.poll().unwrap().unwrap_err();
        assert!(why.contains("ppo"), "{why}");
        assert!(models.poll().is_none(), "refused once, not every interval");
        store.promote(&small_model(Algo::Dqn, 2)).unwrap();
        assert_eq!(models.poll().unwrap().unwrap().version, 2);
    }
}
