//! Batch-1 inference without burn.
//!
//! A decision is one observation through a 100k-parameter MLP: about 100k multiply-adds.
//! burn spends most of a batch-1 forward pass dispatching its operations (34 µs measured
//! for the Q-network on one core, against a 20 µs budget), so the agent's hot path runs
//! the same weights, read through [`crate::rl::params::flatten`], in a plain loop that
//! the compiler vectorises. Tests check it against burn's forward pass.

/// What follows a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// Nothing (output layers).
    Identity,
}

#[derive(Debug, Clone)]
struct Layer {
    input: usize,
    output: usize,
    /// Row-major `[input × output]`, as burn's `Linear` stores it.
    weight: Vec<f32>,
    bias: Vec<f32>,
    activation: Activation,
}

/// A stack of dense layers.
#[derive(Debug, Clone)]
pub struct DenseNet {
    layers: Vec<Layer>,
}

impl DenseNet {
    /// Reads layers of the given `widths` (input first) from `params` laid out as burn's
    /// `Linear` layers flatten: weight `[in × out]` then bias `[out]`, layer by layer.
    /// `activations` has one entry per layer. Returns `None` when the sizes disagree.
    pub fn from_flat(widths: &[usize], activations: &[Activation], params: &[f32]) -> Option<Self> {
        if widths.len() < 2 || activations.len() != widths.len() - 1 {
            return None;
        }
        let mut pos = 0;
        let mut layers = Vec::with_capacity(activations.len());
        for (w, &activation) in widths.windows(2).zip(activations) {
            let (input, output) = (w[0], w[1]);
            let weight = params.get(pos..pos + input * output)?.to_vec();
            pos += input * output;
            let bias = params.get(pos..pos + output)?.to_vec();
            pos += output;
            layers.push(Layer {
                input,
                output,
                weight,
                bias,
                activation,
            });
        }
        (pos == params.len()).then_some(Self { layers })
    }

    /// The output for one input.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        let mut x = input.to_vec();
        let mut y = Vec::new();
        for l in &self.layers {
            y.clear();
            y.extend_from_slice(&l.bias);
            for (i, &xi) in x.iter().enumerate().take(l.input) {
                let row = &l.weight[i * l.output..(i + 1) * l.output];
                for (acc, &w) in y.iter_mut().zip(row) {
                    *acc += xi * w;
                }
            }
            match l.activation {
                Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
                Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
                Activation::Identity => {}
            }
            std::mem::swap(&mut x, &mut y);
        }
        x
    }
}
