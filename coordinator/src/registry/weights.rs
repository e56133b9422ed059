//! The weights file: the flat parameter vector as little-endian `f32`, nothing else, so
//! any tool (numpy's `fromfile(dtype="<f4")`, a hex dump) can read it without this code.

/// The bytes of `weights.bin`.
pub(crate) fn encode(weights: &[f32]) -> Vec<u8> {
    weights.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The weights in `bytes`, whose length the caller has checked is a multiple of four.
pub(crate) fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| {
            let mut b = [0; 4];
            b.copy_from_slice(c);
            f32::from_le_bytes(b)
        })
        .collect()
}

/// The checksum stored in the manifest.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_little_endian_f32_bit_for_bit() {
        let w = [1.0_f32, -0.0, f32::MIN_POSITIVE / 2.0, f32::MAX];
        let bytes = encode(&w);
        assert_eq!(
            &bytes[..8],
            &[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x80]
        );
        let back = decode(&bytes);
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            w.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // The standard CRC-32 check value.
        assert_eq!(checksum(b"123456789"), 0xcbf4_3926);
    }
}
