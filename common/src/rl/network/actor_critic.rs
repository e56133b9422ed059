//! PPO's actor-critic: a shared tanh feature extractor with an actor head (action logits)
//! and a critic head (state value).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::init::{ParamIds, linear};
use super::tanh::tanh;

/// `12 → 256 → 256` (tanh), then `→ |A|` logits and `→ 1` value.
#[derive(Module, Debug)]
pub struct ActorCritic {
    extractor: Vec<Linear>,
    actor: Linear,
    critic: Linear,
}

impl ActorCritic {
    /// A network with the given extractor widths, initialised from `rng`. The actor head
    /// starts small so the first policy is close to uniform.
    pub fn new(
        input: usize,
        hidden: &[usize],
        actions: usize,
        rng: &mut impl rand::Rng,
        device: &Device,
    ) -> Self {
        let mut ids = ParamIds::default();
        let mut layers = Vec::with_capacity(hidden.len());
        let mut width = input;
        for &h in hidden {
            layers.push(linear(width, h, 1.0, rng, device, &mut ids));
            width = h;
        }
        Self {
            extractor: layers,
            actor: linear(width, actions, 0.01, rng, device, &mut ids),
            critic: linear(width, 1, 1.0, rng, device, &mut ids),
        }
    }

    /// The shared features.
    pub fn features(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.extractor {
            x = tanh(layer.forward(x));
        }
        x
    }

    /// Action logits `[batch, actions]` and values `[batch, 1]`.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let f = self.features(x);
        (self.actor.forward(f.clone()), self.critic.forward(f))
    }

    /// Stops gradients from reaching the feature extractor, so fine-tuning adapts the heads
    /// to a new workload without forgetting what the shared features learned.
    pub fn freeze_extractor(mut self) -> Self {
        self.extractor = self.extractor.freeze();
        self
    }

    /// The extractor's parameters, flattened; for checking a freeze held.
    pub fn extractor_params(&self) -> Vec<f32> {
        crate::rl::params::flatten(&self.extractor)
    }
}
