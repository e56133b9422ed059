//! The DQN's Q-network: observation → one value per action.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::dropout::dropout;
use super::init::{ParamIds, linear};

/// `12 → 256 → 256 → 128 → |A|` with ReLU by default; dropout only in training.
///
/// The first [`QNetwork::EXTRACTOR_LAYERS`] hidden layers (`12 → 256 → 256`) are its
/// feature extractor, the same span PPO's actor-critic shares between its heads; the
/// rest (`256 → 128 → |A|`) is the head. The split is by index rather than by field so
/// that the burn record and the flat parameter layout stay those of the shipped models.
#[derive(Module, Debug)]
pub struct QNetwork {
    hidden: Vec<Linear>,
    head: Linear,
}

impl QNetwork {
    /// Hidden layers that form the feature extractor (all of them if there are fewer).
    pub const EXTRACTOR_LAYERS: usize = 2;

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

    /// ‖θ − θ₀‖² summed over every parameter, θ₀ taken from `anchor` as constants (no
    /// gradient flows into them): FedProx's proximal term before its μ/2.
    pub fn squared_distance(&self, anchor: &QNetwork) -> Tensor<1> {
        let layers = self.hidden.iter().chain([&self.head]);
        let anchors = anchor.hidden.iter().chain([&anchor.head]);
        let mut total: Option<Tensor<1>> = None;
        for (layer, fixed) in layers.zip(anchors) {
            let dw = layer.weight.val() - fixed.weight.val().detach();
            let mut term = (dw.clone() * dw).sum();
            if let (Some(b), Some(b0)) = (&layer.bias, &fixed.bias) {
                let db = b.val() - b0.val().detach();
                term = term + (db.clone() * db).sum();
            }
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        total.unwrap_or_else(|| Tensor::zeros([1], &self.head.weight.device()))
    }

    /// Stops gradients from reaching the feature extractor, so fine-tuning adapts the head
    /// to a new workload without forgetting the features the fleet learned. Optimiser
    /// state for the extractor is not consulted again: a parameter without a gradient is
    /// not stepped.
    pub fn freeze_extractor(mut self) -> Self {
        let n = self.extractor_len();
        self.hidden = std::mem::take(&mut self.hidden)
            .into_iter()
            .enumerate()
            .map(|(i, layer)| if i < n { layer.freeze() } else { layer })
            .collect();
        self
    }

    /// The extractor's parameters, flattened; they are the first
    /// `extractor_params().len()` values of [`crate::rl::params::flatten`] of the network.
    pub fn extractor_params(&self) -> Vec<f32> {
        crate::rl::params::flatten(&self.hidden[..self.extractor_len()].to_vec())
    }

    fn extractor_len(&self) -> usize {
        Self::EXTRACTOR_LAYERS.min(self.hidden.len())
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
