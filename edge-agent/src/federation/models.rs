//! The global models an agent holds: which it accepts, which one is current, and which
//! bases it can train a round from.
//!
//! A model the agent cannot load (another learner or network shape, a weight vector of the
//! wrong length, NaN or infinite weights) is refused and the agent carries on with the
//! model it had: an autoscaler must never swap a working policy for one it cannot run.
//! Besides the current model a few recent ones are kept, so an offer built on the version
//! just before a fresh publish can still be answered.

use std::collections::VecDeque;
use std::sync::Arc;

use common::proto::{ArchitectureMismatch, GlobalModel, ModelArchitecture};

/// Models kept for answering offers, the current one included.
const KEPT: usize = 4;

/// Why a global model was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelRefusal {
    /// Its architecture is not this agent's.
    #[error(transparent)]
    Architecture(#[from] ArchitectureMismatch),
    /// The weights do not match the architecture it claims.
    #[error("it carries {got} weights but its architecture has {expected}")]
    Length {
        /// The architecture's parameter count.
        expected: u64,
        /// Weights sent.
        got: usize,
    },
    /// Some weights are NaN or infinite.
    #[error("{count} of its weights are NaN or infinite")]
    NonFinite {
        /// How many.
        count: usize,
    },
}

/// The accepted models, newest arrival last.
#[derive(Debug)]
pub(crate) struct HeldModels {
    architecture: ModelArchitecture,
    models: VecDeque<Arc<GlobalModel>>,
}

impl HeldModels {
    /// Nothing held yet; only models of `architecture` will be accepted.
    pub(crate) fn new(architecture: ModelArchitecture) -> Self {
        Self {
            architecture,
            models: VecDeque::with_capacity(KEPT),
        }
    }

    /// Accepts `model` as the current one, or says why not (and changes nothing).
    pub(crate) fn accept(&mut self, model: GlobalModel) -> Result<Arc<GlobalModel>, ModelRefusal> {
        self.architecture.check_compatible(&model.architecture)?;
        if model.weights.len() as u64 != model.architecture.parameter_count {
            return Err(ModelRefusal::Length {
                expected: model.architecture.parameter_count,
                got: model.weights.len(),
            });
        }
        let count = model.weights.iter().filter(|w| !w.is_finite()).count();
        if count > 0 {
            return Err(ModelRefusal::NonFinite { count });
        }
        self.models.retain(|m| m.version != model.version);
        if self.models.len() == KEPT {
            self.models.pop_front();
        }
        let model = Arc::new(model);
        self.models.push_back(model.clone());
        Ok(model)
    }

    /// The model accepted last.
    pub(crate) fn current(&self) -> Option<&Arc<GlobalModel>> {
        self.models.back()
    }

    /// The held model of `version`, to train an offered round from.
    pub(crate) fn get(&self, version: u64) -> Option<&Arc<GlobalModel>> {
        self.models.iter().rev().find(|m| m.version == version)
    }
}

#[cfg(test)]
mod tests {
    use common::proto::ModelKind;

    use super::*;

    fn arch() -> ModelArchitecture {
        ModelArchitecture::dense(ModelKind::Dqn, vec![12, 4, 3])
    }

    fn model(version: u64, architecture: ModelArchitecture) -> GlobalModel {
        GlobalModel {
            version,
            weights: vec![0.5; architecture.parameter_count as usize],
            architecture,
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_compatible_model_becomes_current_and_can_be_found_by_version() {
        let mut held = HeldModels::new(arch());
        assert!(held.current().is_none());
        held.accept(model(1, arch())).unwrap();
        held.accept(model(2, arch())).unwrap();
        assert_eq!(held.current().map(|m| m.version), Some(2));
        assert_eq!(held.get(1).map(|m| m.version), Some(1));
        assert!(held.get(3).is_none());
    }

    #[test]
    fn only_the_last_few_are_kept() {
        let mut held = HeldModels::new(arch());
        for v in 1..=10 {
            held.accept(model(v, arch())).unwrap();
        }
        assert!(held.get(6).is_none());
        for v in 7..=10 {
            assert!(held.get(v).is_some(), "{v}");
        }
    }

    #[test]
    fn a_republished_version_replaces_the_old_copy_and_becomes_current() {
        let mut held = HeldModels::new(arch());
        held.accept(model(1, arch())).unwrap();
        held.accept(model(2, arch())).unwrap();
        let mut again = model(1, arch());
        again.weights[0] = 9.0;
        held.accept(again).unwrap();
        assert_eq!(held.current().map(|m| m.version), Some(1));
        assert_eq!(held.get(1).map(|m| m.weights[0]), Some(9.0));
    }

    #[test]
    fn unusable_models_are_refused_and_the_current_one_kept() {
        let mut held = HeldModels::new(arch());
        held.accept(model(1, arch())).unwrap();
        let other_kind = ModelArchitecture::dense(ModelKind::Ppo, vec![12, 4, 3]);
        let other_shape = ModelArchitecture::dense(ModelKind::Dqn, vec![12, 8, 3]);
        let mut short = model(4, arch());
        short.weights.pop();
        let mut nan = model(5, arch());
        nan.weights[3] = f32::NAN;
        nan.weights[4] = f32::INFINITY;
        let refusals = [
            held.accept(model(2, other_kind)).unwrap_err(),
            held.accept(model(3, other_shape)).unwrap_err(),
            held.accept(short).unwrap_err(),
            held.accept(nan).unwrap_err(),
        ];
        assert!(matches!(
            refusals[0],
            ModelRefusal::Architecture(ArchitectureMismatch::Kind { .. })
        ));
        assert!(matches!(
            refusals[1],
            ModelRefusal::Architecture(ArchitectureMismatch::Layers { .. })
        ));
        assert!(
            matches!(refusals[2], ModelRefusal::Length { got: 66, .. }),
            "{:?}",
            refusals[2]
        );
        assert_eq!(refusals[3], ModelRefusal::NonFinite { count: 2 });
        assert_eq!(held.current().map(|m| m.version), Some(1));
        for v in 2..=5 {
            assert!(held.get(v).is_none());
        }
    }
}
