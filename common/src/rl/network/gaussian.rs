//! The hybrid's tuner network: an actor-critic whose actor is a diagonal Gaussian over
//! continuous outputs, for PPO on a continuous action.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor};

use super::init::{ParamIds, linear, vector};

/// `input → hidden… (tanh)`, then a mean head `→ outputs` and a value head `→ 1`, plus one
/// learnable log standard deviation per output.
///
/// The spread does not depend on the observation (as in Stable-Baselines3's default
/// continuous policy): the tuner sees a handful of summary numbers once an hour, and a
/// state-dependent spread would be one more thing to learn from few samples.
#[derive(Module, Debug)]
pub struct GaussianActorCritic {
    trunk: Vec<Linear>,
    mean: Linear,
    critic: Linear,
    log_std: Param<Tensor<1>>,
}

impl GaussianActorCritic {
    /// A network with the given trunk widths and initial log standard deviation,
    /// initialised from `rng`. The mean head starts small so the first policy is centred
    /// on the middle of every output range.
    pub fn new(
        input: usize,
        hidden: &[usize],
        outputs: usize,
        log_std_init: f64,
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
            trunk: layers,
            mean: linear(width, outputs, 0.01, rng, device, &mut ids),
            critic: linear(width, 1, 1.0, rng, device, &mut ids),
            log_std: vector(vec![log_std_init as f32; outputs], device, &mut ids),
        }
    }

    /// Gaussian means `[batch, outputs]` and values `[batch, 1]`.
    pub fn forward(&self, mut x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        for layer in &self.trunk {
            x = tanh(layer.forward(x));
        }
        (self.mean.forward(x.clone()), self.critic.forward(x))
    }

    /// The log standard deviations `[outputs]`.
    pub fn log_std(&self) -> Tensor<1> {
        self.log_std.val()
    }
}
