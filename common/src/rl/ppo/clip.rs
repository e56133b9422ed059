//! Gradient clipping by the global norm over all parameters.
//!
//! burn's `GradientClippingConfig::Norm` clips each parameter tensor on its own, which
//! changes the update's direction and makes `max_grad_norm` mean something different per
//! layer. PPO's 0.5 is a global bound (as in Stable-Baselines3, which the seed used), so
//! the whole gradient is scaled together instead.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Scales every gradient of `module` by `max_norm / ‖g‖` when the global L2 norm `‖g‖`
/// exceeds `max_norm`. Returns the norm before clipping.
pub(crate) fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let mut sum = SquaredSum { grads, total: 0.0 };
    module.visit(&mut sum);
    let norm = sum.total.sqrt();
    if norm > max_norm {
        let factor = (max_norm / (norm + 1e-6)) as f32;
        module.visit(&mut Scale { grads, factor });
    }
    norm
}

struct SquaredSum<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredSum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.total += f64::from(g.square().sum().into_scalar::<f32>());
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}
