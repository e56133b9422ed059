//! A network's parameters as one flat `Vec<f32>`.
//!
//! Federation averages weights and transfer learning copies them between runs, so both
//! need the parameters of an architecture laid out the same way every time. burn visits
//! a module's parameters in field declaration order, so the layout is fixed by the struct
//! definitions: reordering fields is a breaking change to saved and federated models.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

/// Reads every float parameter of `module`, in visit order.
pub fn flatten<M: Module>(module: &M) -> Vec<f32> {
    let mut v = Flatten(Vec::with_capacity(module.num_params()));
    module.visit(&mut v);
    v.0
}

/// Writes `values` back into `module`, in the same order [`flatten`] reads them.
///
/// Fails without changing anything when the length does not match the architecture.
pub fn unflatten<M: Module>(module: M, values: &[f32]) -> Result<M, ParamLengthError> {
    let expected = module.num_params();
    if values.len() != expected {
        return Err(ParamLengthError {
            expected,
            got: values.len(),
        });
    }
    let mut m = Unflatten { values, pos: 0 };
    Ok(module.map(&mut m))
}

/// A parameter vector does not fit the architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("parameter vector has {got} values but the architecture has {expected}")]
pub struct ParamLengthError {
    /// Parameters the architecture has.
    pub expected: usize,
    /// Values given.
    pub got: usize,
}

struct Flatten(Vec<f32>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data();
        self.0.extend(data.iter::<f32>());
    }
}

struct Unflatten<'a> {
    values: &'a [f32],
    pos: usize,
}

impl ModuleMapper for Unflatten<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let values = self.values;
        let pos = &mut self.pos;
        param.map(|tensor| {
            let shape = tensor.shape();
            let n = shape.num_elements();
            let data = TensorData::new(values[*pos..*pos + n].to_vec(), shape);
            *pos += n;
            let fresh = Tensor::from_data(data, &tensor.device());
            if tensor.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
