//! Both networks of a trained hybrid in one module, so a hybrid model is one burn record
//! (`dqn.*` and `tuner.*` tensors) and loads and saves like the other learners.

use burn::module::Module;

use super::{GaussianActorCritic, QNetwork};

/// The hybrid's DQN (which acts every step, and is the part a fleet federates) and its
/// tuner (which sets the utilisation floor once a segment).
#[derive(Module, Debug)]
pub struct HybridNetwork {
    /// The per-step Q-network, the same architecture as a plain DQN's.
    pub dqn: QNetwork,
    /// The per-segment Gaussian actor-critic.
    pub tuner: GaussianActorCritic,
}
