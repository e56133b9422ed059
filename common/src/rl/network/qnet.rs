//! The DQN's Q-network: observation → one value per action.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::dropout::dropout;
use super::init::{ParamIds, linear};

/// `12 → 256 → 256 → 128 → |A|` with ReLU by default; dropout only in training.
#[derive(Module, Debug)]
pub struct QNetwork {
    hidden: Vec<Linear>,
    head: Linear,
}

impl QNetwork {
    /// A network with the given layer widths, initialised from `rng`.
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
            hidden: layers,
            head: linear(width, actions, 1.0, rng, device, &mut ids),
        }
    }

    /// Q-values, `[batch, actions]`, without dropout.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        self.head.forward(x)
    }

    /// Q-values with dropout `p[i]` after hidden layer `i`.
    pub fn forward_train(
        &self,
        mut x: Tensor<2>,
        p: &[f64],
        rng: &mut impl rand::Rng,
        device: &Device,
    ) -> Tensor<2> {
        for (i, layer) in self.hidden.iter().enumerate() {
            x = relu(layer.forward(x));
            x = dropout(x, p.get(i).copied().unwrap_or(0.0), rng, device);
        }
        self.head.forward(x)
    }
}
