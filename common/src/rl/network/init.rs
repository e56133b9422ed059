//! Seeded parameter initialisation.
//!
//! burn's own initialisers draw from a backend-wide generator whose seeding may be global,
//! so two trainings running in parallel (tests, the fleet simulation) could interleave
//! draws. Every network here is initialised from the caller's own seeded generator
//! instead, which makes "same seed → same weights" hold regardless of what else runs.

use burn::module::{Param, ParamId};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;

/// Parameter ids are numbered in construction order rather than drawn at random, so a
/// saved record, ids included, is byte-for-byte the same for the same seed.
#[derive(Debug, Default)]
pub(super) struct ParamIds(u64);

impl ParamIds {
    fn next(&mut self) -> ParamId {
        self.0 += 1;
        ParamId::from(self.0)
    }
}

/// A dense layer with weights and biases uniform in `±gain/√fan_in` (PyTorch's default
/// bound, scaled by `gain`: a small gain for policy heads starts them near uniform).
pub(super) fn linear(
    input: usize,
    output: usize,
    gain: f64,
    rng: &mut impl rand::Rng,
    device: &Device,
    ids: &mut ParamIds,
) -> Linear {
    let bound = gain / (input as f64).sqrt();
    let mut draw = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| rng.random_range(-bound..=bound) as f32)
            .collect()
    };
    let weight = draw(input * output);
    let bias = draw(output);
    let mut layer = LinearConfig::new(input, output)
        .with_initializer(Initializer::Zeros)
        .init(device);
    layer.weight = with_id(
        Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [input, output]),
            device,
        )),
        ids.next(),
    );
    layer.bias = Some(with_id(
        Param::from_tensor(Tensor::from_data(TensorData::new(bias, [output]), device)),
        ids.next(),
    ));
    layer
}

/// The same parameter under another id, its training state kept.
fn with_id<const D: usize>(param: Param<Tensor<D>>, id: ParamId) -> Param<Tensor<D>> {
    let (_, value, mapper) = param.consume();
    Param::from_mapped_value(id, value, mapper)
}

/// A free parameter vector (not part of a layer) holding `values`.
pub(super) fn vector(values: Vec<f32>, device: &Device, ids: &mut ParamIds) -> Param<Tensor<1>> {
    let n = values.len();
    with_id(
        Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), device)),
        ids.next(),
    )
}
