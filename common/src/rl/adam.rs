//! Adam in one pass per parameter tensor, with the arithmetic of burn's own Adam.
//!
//! burn's Adam (0.22) runs each of its dozen elementwise steps (two moment updates, the
//! bias correction, the square root, the division, the learning-rate scaling) as a tensor
//! operation of its own, each reading and allocating a full copy of the parameter. On the
//! DQN's 100k-parameter network that made the optimiser step 43 % of training time
//! (`perf` of `edge-agent train --algo dqn`), more than the matrix products. Here the same
//! `f32` operations run in the same order in one loop over the parameter, so every
//! trained weight is bit for bit what burn's Adam gives (tested below): the shipped
//! models still reproduce from their seeds, only faster.
//!
//! Gradient clipping comes in two kinds. Per parameter tensor (the DQN's) is burn's
//! [`GradientClipping::Norm`], applied as burn's optimiser applies it; it is skipped when
//! the tensor's norm is clearly under the bound, where burn's coefficient is exactly 1.
//! By the global norm over all parameters (PPO's and the hybrid tuner's 0.5, as in
//! Stable-Baselines3, which the seed used) the whole gradient is scaled together, keeping
//! its direction and giving `max_grad_norm` one meaning for every layer.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::optim::grad_clipping::GradientClipping;
use burn::tensor::{Tensor, TensorData};

/// burn's `AdamConfig` defaults, which the shipped models were trained with.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam's state: the two moments of every parameter that has had a gradient.
pub struct Adam {
    clipping: Clipping,
    moments: HashMap<ParamId, Moments>,
    global_norm: f64,
}

#[derive(Debug, Clone, Copy)]
enum Clipping {
    None,
    PerTensor(f32),
    Global(f64),
}

struct Moments {
    /// Steps taken: bias correction depends on it.
    time: i32,
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Adam {
    /// Adam without gradient clipping.
    pub fn new() -> Self {
        Self::with(Clipping::None)
    }

    /// Adam that first scales each parameter tensor's gradient down to at most
    /// `max_norm`, as burn's `GradientClippingConfig::Norm` does.
    pub fn with_norm_clipping(max_norm: f32) -> Self {
        Self::with(Clipping::PerTensor(max_norm))
    }

    /// Adam that first scales the whole gradient by `max_norm / ‖g‖` when its global L2
    /// norm `‖g‖` exceeds `max_norm`.
    pub fn with_global_norm_clipping(max_norm: f64) -> Self {
        Self::with(Clipping::Global(max_norm))
    }

    fn with(clipping: Clipping) -> Self {
        Self {
            clipping,
            moments: HashMap::new(),
            global_norm: 0.0,
        }
    }

    /// The global L2 norm of the last step's gradient, before any clipping.
    pub fn global_norm(&self) -> f64 {
        self.global_norm
    }

    /// Steps every parameter of `module` that has a gradient in `grads`; parameters
    /// without one (a frozen extractor) are returned untouched and their moments kept.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        let per_tensor = match self.clipping {
            Clipping::PerTensor(max_norm) => Some(max_norm),
            _ => None,
        };
        let mut gradients = Gradients {
            grads,
            per_tensor,
            global: matches!(self.clipping, Clipping::Global(_)),
            values: HashMap::new(),
            squared_norm: 0.0,
        };
        module.visit(&mut gradients);
        self.global_norm = gradients.squared_norm.sqrt();
        let scale = match self.clipping {
            Clipping::Global(max_norm) if self.global_norm > max_norm => {
                (max_norm / (self.global_norm + 1e-6)) as f32
            }
            _ => 1.0,
        };
        module.map(&mut Stepper {
            adam: self,
            grads: gradients.values,
            scale,
            lr: lr as f32,
        })
    }

    /// One parameter tensor's update, in place on `values`.
    /// The gradient is `grad · scale`.
    fn update(&mut self, id: ParamId, values: &mut [f32], grad: &[f32], scale: f32, lr: f32) {
        assert_eq!(
            values.len(),
            grad.len(),
            "a gradient has its parameter's shape"
        );
        let moments = self.moments.entry(id).or_insert_with(|| Moments {
            time: 0,
            first: Vec::new(),
            second: Vec::new(),
        });
        moments.time += 1;
        let correction_2 = (1.0 - BETA_2.powi(moments.time)).sqrt();
        let factor = correction_2 / (1.0 - BETA_1.powi(moments.time));
        let epsilon = EPSILON * correction_2;
        if moments.time == 1 {
            // burn starts the moments from the first gradient rather than from zero
            // (`0·β + x` is `x` up to the sign of a zero, which the update keeps).
            let grad = grad.iter().map(|&g| g * scale);
            moments.first = grad.clone().map(|g| g * (1.0 - BETA_1)).collect();
            moments.second = grad.map(|g| g * g * (1.0 - BETA_2)).collect();
            for ((p, &m), &v) in values.iter_mut().zip(&moments.first).zip(&moments.second) {
                *p -= m * factor / (v.sqrt() + epsilon) * lr;
            }
            return;
        }
        let first = moments.first.iter_mut();
        let second = moments.second.iter_mut();
        for (((p, m), v), &g) in values.iter_mut().zip(first).zip(second).zip(grad) {
            let g = g * scale;
            *m = flush(*m * BETA_1 + g * (1.0 - BETA_1));
            *v = flush(*v * BETA_2 + g * g * (1.0 - BETA_2));
            *p -= *m * factor / (v.sqrt() + epsilon) * lr;
        }
    }
}

/// Zero for a subnormal moment.
///
/// A unit that stops receiving gradient (a dead ReLU) has its first moment decay by
/// `BETA_1` a step, and it then spends about 150 steps in the subnormal range (below
/// 1.2e-38) on its way to zero. On x86 every arithmetic operation with a subnormal
/// operand or result takes a microcode assist, about a hundred times the normal cost:
/// with 5–20 % of the DQN's first moments subnormal at any time, the update loop took
/// 32 % of training. The update such a moment gives, below `1.2e-38 / (EPSILON · √(1 −
/// β₂ᵗ)) · lr`, is far under half an ulp of any weight larger than 1e-28, so flushing it
/// leaves the trained weights as they were (the shipped models still reproduce bit for
/// bit) while the loop runs at full speed.
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

impl Default for Adam {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Adam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adam")
            .field("parameters", &self.moments.len())
            .finish_non_exhaustive()
    }
}

/// Takes every gradient out of burn's container as plain values, clipping per tensor when
/// asked, and sums their squares for the global norm.
struct Gradients {
    grads: GradientsParams,
    per_tensor: Option<f32>,
    global: bool,
    values: HashMap<ParamId, Vec<f32>>,
    squared_norm: f64,
}

impl ModuleVisitor for Gradients {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.remove::<D>(param.id) else {
            return;
        };
        let device = grad.device();
        let shape = grad.shape();
        // For the global norm, each tensor's `Σ g²` is summed by burn in `f32` (in its own
        // order) and the tensors' sums added in `f64`: how the shipped PPO and hybrid
        // models were trained.
        let global = self
            .global
            .then(|| f64::from(grad.clone().square().sum().into_scalar::<f32>()));
        let mut values = grad
            .into_data()
            .try_into_vec::<f32>()
            .expect("gradients are f32");
        let squared = global.unwrap_or_else(|| squared_sum(&values));
        // burn computes the tensor's norm in f32 and scales by `min(1, max/norm)`, which is
        // exactly 1 — the gradient unchanged — unless the norm is close to the bound.
        if let Some(max_norm) = self.per_tensor
            && squared.sqrt() > 0.99 * f64::from(max_norm)
        {
            let grad = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
            values = GradientClipping::Norm(max_norm)
                .clip_gradient(grad)
                .into_data()
                .try_into_vec::<f32>()
                .expect("gradients are f32");
        }
        self.squared_norm += squared;
        self.values.insert(param.id, values);
    }
}

/// `Σ g²` in `f64`, over eight independent partial sums so that it vectorises (one chain
/// of dependent additions ran at a quarter of the speed).
fn squared_sum(values: &[f32]) -> f64 {
    let mut partial = [0.0f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (sum, &g) in partial.iter_mut().zip(chunk) {
            *sum += f64::from(g) * f64::from(g);
        }
    }
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&g| f64::from(g) * f64::from(g))
        .sum();
    partial.iter().sum::<f64>() + rest
}

struct Stepper<'a> {
    adam: &'a mut Adam,
    grads: HashMap<ParamId, Vec<f32>>,
    scale: f32,
    lr: f32,
}

impl ModuleMapper for Stepper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let checkpointing = tensor.gradient_checkpointing_strategy();
        let inner = tensor.inner();
        let device = inner.device();
        let shape = inner.shape();
        let mut values = inner
            .into_data()
            .try_into_vec::<f32>()
            .expect("parameters are f32");
        self.adam
            .update(id, &mut values, &grad, self.scale, self.lr);
        // Back onto autodiff as a fresh leaf, with the state burn's optimiser restores.
        let mut updated =
            Tensor::from_inner(Tensor::from_data(TensorData::new(values, shape), &device));
        if let Some(strategy) = checkpointing {
            updated = updated.with_gradient_checkpointing_strategy(strategy);
        }
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::AdamConfig;
    use burn::optim::grad_clipping::GradientClippingConfig;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;

    use super::*;
    use crate::env::OBSERVATION_LEN;
    use crate::rl::device::training_device;
    use crate::rl::network::QNetwork;
    use crate::rl::params::flatten;

    fn loss_of(net: &QNetwork, step: usize) -> Tensor<1> {
        let device = training_device();
        let x: Vec<f32> = (0..8 * OBSERVATION_LEN)
            .map(|i| ((i * 7 + step * 13) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [8, OBSERVATION_LEN]), &device);
        // Large enough that norm clipping at 1.0 bites on some parameters.
        let y = net.forward(x).mul_scalar(10.0);
        (y.clone() * y).mean()
    }

    /// Trains the same network with burn's Adam and with this one.
    fn both(clip: Option<f32>, frozen: bool) -> (Vec<f32>, Vec<f32>) {
        let device = training_device();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut start = QNetwork::new(OBSERVATION_LEN, &[32, 16], 3, &mut rng, &device);
        if frozen {
            start = start.freeze_extractor();
        }
        let mut theirs = AdamConfig::new()
            .with_grad_clipping(clip.map(GradientClippingConfig::Norm))
            .init();
        let mut ours = match clip {
            Some(norm) => Adam::with_norm_clipping(norm),
            None => Adam::new(),
        };
        let (mut a, mut b) = (start.clone(), start);
        for step in 0..25 {
            let lr = 5e-4 * (1.0 + step as f64 / 10.0);
            let grads = GradientsParams::from_grads(loss_of(&a, step).backward(), &a);
            a = theirs.step(lr, a, grads);
            let grads = GradientsParams::from_grads(loss_of(&b, step).backward(), &b);
            b = ours.step(lr, b, grads);
        }
        (flatten(&a), flatten(&b))
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn every_weight_is_bit_for_bit_what_burns_adam_gives() {
        let (theirs, ours) = both(None, false);
        assert_eq!(bits(&theirs), bits(&ours));
    }

    #[test]
    fn with_norm_clipping_every_weight_is_bit_for_bit_what_burns_adam_gives() {
        let (theirs, ours) = both(Some(1.0), false);
        assert_eq!(bits(&theirs), bits(&ours));
        let (unclipped, _) = both(None, false);
        assert_ne!(bits(&theirs), bits(&unclipped), "the clipping must bite");
    }

    #[test]
    fn a_frozen_extractor_is_left_untouched_as_by_burns_adam() {
        let (theirs, ours) = both(None, true);
        assert_eq!(bits(&theirs), bits(&ours));
        let device = training_device();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let start = QNetwork::new(OBSERVATION_LEN, &[32, 16], 3, &mut rng, &device);
        let frozen = start.extractor_params().len();
        assert_eq!(bits(&ours[..frozen]), bits(&flatten(&start)[..frozen]));
        assert_ne!(bits(&ours[frozen..]), bits(&flatten(&start)[frozen..]));
    }

    /// Global clipping steps as Adam would with the whole gradient scaled by
    /// `max / (‖g‖ + 1e-6)`, and reports `‖g‖`.
    #[test]
    fn global_clipping_scales_the_whole_gradient_by_its_norm() {
        struct Scale<'a> {
            grads: &'a mut GradientsParams,
            norm: f64,
            factor: Option<f32>,
        }
        impl ModuleVisitor for Scale<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let Some(g) = self.grads.remove::<D>(param.id) else {
                    return;
                };
                match self.factor {
                    None => {
                        let g2 = f64::from(g.clone().square().sum().into_scalar::<f32>());
                        self.norm += g2;
                        self.grads.register(param.id, g);
                    }
                    Some(factor) => self.grads.register(param.id, g.mul_scalar(factor)),
                }
            }
        }

        let device = training_device();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let start = QNetwork::new(OBSERVATION_LEN, &[32, 16], 3, &mut rng, &device);
        let (mut clipped, mut scaled) = (start.clone(), start);
        let mut by_norm = Adam::with_global_norm_clipping(0.5);
        let mut plain = Adam::new();
        for step in 0..10 {
            let grads = GradientsParams::from_grads(loss_of(&clipped, step).backward(), &clipped);
            clipped = by_norm.step(1e-3, clipped, grads);

            let mut grads = GradientsParams::from_grads(loss_of(&scaled, step).backward(), &scaled);
            let mut scale = Scale {
                grads: &mut grads,
                norm: 0.0,
                factor: None,
            };
            scaled.visit(&mut scale);
            let norm = scale.norm.sqrt();
            assert_eq!(by_norm.global_norm(), norm, "step {step}");
            assert!(norm > 0.5, "step {step}: the bound must bite, ‖g‖ = {norm}");
            scale.factor = Some((0.5 / (norm + 1e-6)) as f32);
            scaled.visit(&mut scale);
            scaled = plain.step(1e-3, scaled, grads);
        }
        assert_eq!(bits(&flatten(&clipped)), bits(&flatten(&scaled)));
    }
}
