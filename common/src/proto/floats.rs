//! How vectors of floats travel: one block of little-endian bytes per vector.
//!
//! Weights are almost all of a federation's traffic. Handed to serde value by value, a
//! 100k-parameter model costs 100k visitor calls to decode, and at 50 agents per round
//! that was the coordinator's largest single cost after QUIC itself; as one byte block it
//! is a length check and a copy. Two precisions exist: `f32` for weights, which must
//! arrive bit for bit, and `f16` for deltas, whose values are small and whose rounding
//! (a relative 2⁻¹¹) is far below the noise of the training that produced them, for half
//! the bytes.

use std::fmt;

use half::f16;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// The largest magnitude an `f16` holds; larger finite values cannot travel as `f16`.
pub const F16_MAX: f32 = 65504.0;

/// Rounds every value to the nearest `f16`, in place, so what is kept is exactly what the
/// receiver will decode. Refuses, leaving `values` unchanged, if a finite value is beyond
/// [`F16_MAX`] (it would arrive as infinity): returns its index. Non-finite values stay
/// non-finite, for the receiver's validation to refuse.
pub fn round_to_f16(values: &mut [f32]) -> Result<(), usize> {
    if let Some(index) = values
        .iter()
        .position(|v| v.is_finite() && v.abs() > F16_MAX)
    {
        return Err(index);
    }
    for v in values.iter_mut() {
        *v = f16::from_f32(*v).to_f32();
    }
    Ok(())
}

/// `#[serde(with = "f32_block")]`: a `Vec<f32>` as its little-endian bytes.
pub(super) mod f32_block {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        s.serialize_bytes(&bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        d.deserialize_byte_buf(BlockVisitor { width: 4 })
    }
}

/// `#[serde(with = "f16_block")]`: a `Vec<f32>` as the little-endian bytes of each value
/// rounded to `f16`, widened back to `f32` on arrival.
pub(super) mod f16_block {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(values.len() * 2);
        for v in values {
            bytes.extend_from_slice(&f16::from_f32(*v).to_le_bytes());
        }
        s.serialize_bytes(&bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        d.deserialize_byte_buf(BlockVisitor { width: 2 })
    }
}

/// Decodes a byte block of `width`-byte little-endian floats into `f32`s.
struct BlockVisitor {
    width: usize,
}

impl BlockVisitor {
    fn widen<E: de::Error>(&self, bytes: &[u8]) -> Result<Vec<f32>, E> {
        if !bytes.len().is_multiple_of(self.width) {
            return Err(E::custom(format!(
                "a block of {} bytes is not a whole number of {}-byte floats",
                bytes.len(),
                self.width
            )));
        }
        Ok(if self.width == 4 {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect()
        })
    }
}

impl Visitor<'_> for BlockVisitor {
    type Value = Vec<f32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a block of {}-byte little-endian floats", self.width)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<f32>, E> {
        self.widen(bytes)
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<f32>, E> {
        self.widen(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_what_the_receiver_decodes_and_refuses_what_overflows() {
        let mut values = vec![0.1, -1e-3, 1.0, 3.0e-8, 65504.0, f32::NAN];
        round_to_f16(&mut values).unwrap();
        assert_eq!(values[2], 1.0);
        assert!((values[0] - 0.1).abs() < 1e-4 && values[0] != 0.1);
        assert_eq!(values[4], F16_MAX);
        assert!(values[5].is_nan(), "NaN stays for validation to refuse");
        let mut big = vec![0.5, 70000.0];
        assert_eq!(round_to_f16(&mut big), Err(1));
        assert_eq!(big, [0.5, 70000.0], "left unchanged");
    }
}
