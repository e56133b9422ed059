//! Behaviour through the public API: round trips, incremental decoding, and refusal of
//! oversized, foreign and malformed input.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::*;

const MIB: usize = 1024 * 1024;

fn dqn() -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![12, 256, 256, 128, 3])
}

/// One of every variant, with the payload forms and non-trivial values in every field.
fn samples() -> Vec<Message> {
    vec![
        Message::Hello(Hello {
            cluster_id: "edge-eu-1".into(),
            agent_version: "0.1.0".into(),
            architecture: dqn(),
            workload_tags: vec!["web".into(), "nginx".into(), "ünïcode".into()],
        }),
        Message::RoundOffer(RoundOffer {
            round: 42,
            base_version: 41,
            budget: TrainingBudget { env_steps: 20_000 },
            deadline_ms: 300_000,
        }),
        Message::Update(Update {
            round: 42,
            base_version: 41,
            sample_count: 20_000,
            payload: ModelPayload::Weights(vec![0.25, -1.5, f32::MIN_POSITIVE, 3.0e7]),
            metrics: LocalMetrics {
                mean_reward: -0.125,
                episodes: 7,
                slo_compliance: 0.975,
                cost: 13.599,
            },
        }),
        Message::Update(Update {
            round: u64::MAX,
            base_version: 0,
            sample_count: 1,
            payload: ModelPayload::Delta(vec![-0.0, 1e-30]),
            metrics: LocalMetrics {
                mean_reward: 0.0,
                episodes: 0,
                slo_compliance: 1.0,
                cost: 0.0,
            },
        }),
        Message::Update(Update {
            round: 3,
            base_version: 2,
            sample_count: 9,
            payload: ModelPayload::compact_delta(vec![0.5, -1.0 / 3.0, 1e-3, -0.0, 6e-8]),
            metrics: LocalMetrics {
                mean_reward: 1.0,
                episodes: 2,
                slo_compliance: 0.5,
                cost: 1.5,
            },
        }),
        Message::GlobalModel(GlobalModel {
            version: 43,
            architecture: ModelArchitecture::dense(ModelKind::Ppo, vec![12, 256, 256]),
            weights: (0..1000).map(|i| i as f32 * 0.001).collect(),
            tags: vec!["batch".into()],
        }),
        Message::Error(ErrorMessage::new(
            ErrorCode::StaleBase,
            "update trained on version 40, current is 43: fetch the global model",
        )),
    ]
}

fn all_frames() -> Vec<u8> {
    samples().iter().flat_map(|m| encode(m).unwrap()).collect()
}

/// A frame of `payload` with a correct header.
fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut frame = u32::try_from(payload.len() + 2)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn every_variant_round_trips() {
    for message in samples() {
        let frame = encode(&message).unwrap();
        assert_eq!(decode(&frame, DEFAULT_MAX_FRAME_BYTES), Ok(message));
    }
    for code in [
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthorized,
        ErrorCode::IncompatibleArchitecture,
        ErrorCode::StaleBase,
        ErrorCode::WrongRound,
        ErrorCode::Invalid,
        ErrorCode::Internal,
    ] {
        let message = Message::Error(ErrorMessage::new(code, ""));
        assert_eq!(decode(&encode(&message).unwrap(), 64), Ok(message));
    }
}

#[test]
fn nan_and_infinite_weights_survive_bit_for_bit() {
    // The coordinator rejects them, so they must arrive as sent to be recognised.
    let weights = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0];
    let message = Message::GlobalModel(GlobalModel {
        version: 1,
        architecture: dqn(),
        weights: weights.clone(),
        tags: vec![],
    });
    let Message::GlobalModel(back) = decode(&encode(&message).unwrap(), MIB).unwrap() else {
        panic!("variant changed");
    };
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.weights), bits(&weights));
}

#[test]
fn frame_starts_with_body_length_and_version() {
    let frame = encode(&samples()[1]).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap());
    assert_eq!(len as usize, frame.len() - 4);
    assert_eq!(u16::from_be_bytes([frame[4], frame[5]]), PROTOCOL_VERSION);
}

#[test]
fn a_half_delta_takes_two_bytes_a_value_and_arrives_as_its_rounded_values() {
    let n = 102_403;
    let delta: Vec<f32> = (0..n).map(|i| (i as f32 - 5e4) * 1e-7).collect();
    let payload = ModelPayload::compact_delta(delta.clone());
    assert!(matches!(payload, ModelPayload::HalfDelta(_)));
    let update = |payload| {
        Message::Update(Update {
            round: 1,
            base_version: 1,
            sample_count: 1,
            payload,
            metrics: LocalMetrics {
                mean_reward: 0.0,
                episodes: 0,
                slo_compliance: 0.0,
                cost: 0.0,
            },
        })
    };
    let frame = encode(&update(payload.clone())).unwrap();
    assert_eq!(frame.len(), 6 + 4 + 24 + 4 + 8 + 2 * n + 32);
    let Message::Update(back) = decode(&frame, DEFAULT_MAX_FRAME_BYTES).unwrap() else {
        panic!("not an update");
    };
    assert_eq!(back.payload, payload, "the rounded values, bit for bit");
    for (sent, got) in delta.iter().zip(back.payload.values()) {
        assert!(
            (sent - got).abs() <= sent.abs() * 2f32.powi(-11) + 6e-8,
            "{sent} {got}"
        );
    }
    // A value beyond the f16 range keeps the whole delta in f32.
    let wide = ModelPayload::compact_delta(vec![1.0, 1e6]);
    assert_eq!(wide, ModelPayload::Delta(vec![1.0, 1e6]));
}

#[test]
fn a_float_block_that_is_not_whole_floats_is_malformed() {
    let frame = encode(&Message::GlobalModel(GlobalModel {
        version: 1,
        architecture: dqn(),
        weights: vec![1.0, 2.0],
        tags: Vec::new(),
    }))
    .unwrap();
    // Payload: variant 4, version 8, architecture (kind 4, layers 8 + 5·4, count 8), then
    // the block's byte length, 8 bytes.
    let at = 6 + 4 + 8 + 4 + 8 + 5 * 4 + 8;
    let mut bad = frame.to_vec();
    assert_eq!(u64::from_le_bytes(bad[at..at + 8].try_into().unwrap()), 8);
    bad[at..at + 8].copy_from_slice(&7u64.to_le_bytes());
    // One byte fewer in the block, so the frame's length prefix must shrink by one too.
    bad.remove(at + 8);
    let len = u32::from_be_bytes(bad[..4].try_into().unwrap()) - 1;
    bad[..4].copy_from_slice(&len.to_be_bytes());
    let err = decode(&bad, DEFAULT_MAX_FRAME_BYTES)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a whole number of 4-byte floats"), "{err}");
}

#[test]
fn a_full_dqn_update_has_the_documented_size_and_fits_the_default_limit() {
    let arch = dqn();
    assert_eq!(arch.parameter_count, 102_403);
    let n = usize::try_from(arch.parameter_count).unwrap();
    let frame = encode(&Message::Update(Update {
        round: 1,
        base_version: 1,
        sample_count: 1,
        payload: ModelPayload::Weights(vec![0.1; n]),
        metrics: LocalMetrics {
            mean_reward: 0.0,
            episodes: 0,
            slo_compliance: 0.0,
            cost: 0.0,
        },
    }))
    .unwrap();
    // Header 6, variant 4, three u64 24, payload variant 4, length 8, floats, metrics 32:
    // fixed-width integers, so the size depends on nothing but the weight count.
    assert_eq!(frame.len(), 6 + 4 + 24 + 4 + 8 + 4 * n + 32);
    assert!(frame.len() * 40 < DEFAULT_MAX_FRAME_BYTES);
    assert!(decode(&frame, DEFAULT_MAX_FRAME_BYTES).is_ok());
}

#[test]
fn byte_by_byte_pushes_yield_each_message_exactly_when_its_last_byte_arrives() {
    let messages = samples();
    let ends: Vec<usize> = messages
        .iter()
        .scan(0, |end, m| {
            *end += encode(m).unwrap().len();
            Some(*end)
        })
        .collect();
    let bytes = all_frames();
    let mut dec = FrameDecoder::new(MIB);
    let mut got = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        dec.push(std::slice::from_ref(byte));
        if let Some(m) = dec.next_message().unwrap() {
            assert!(
                ends.contains(&(i + 1)),
                "message completed at byte {}",
                i + 1
            );
            got.push(m);
        }
        assert_eq!(dec.next_message(), Ok(None));
    }
    assert_eq!(got, messages);
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.finish(), Ok(()));
}

#[test]
fn frames_split_at_random_points_decode_the_same() {
    let bytes = all_frames();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..50 {
        let mut dec = FrameDecoder::new(MIB);
        let mut got = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rng.random_range(1..=rest.len().min(300)));
            rest = tail;
            dec.push(chunk);
            while let Some(m) = dec.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, samples());
    }
}

#[test]
fn two_frames_in_one_push_come_out_in_order() {
    let (a, b) = (samples()[0].clone(), samples()[2].clone());
    let mut bytes = encode(&a).unwrap();
    bytes.extend(encode(&b).unwrap());
    let mut dec = FrameDecoder::new(MIB);
    dec.push(&bytes);
    assert_eq!(dec.next_message(), Ok(Some(a)));
    assert_eq!(dec.next_message(), Ok(Some(b)));
    assert_eq!(dec.next_message(), Ok(None));
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn a_truncated_frame_waits_and_is_reported_if_the_stream_ends() {
    let message = samples()[2].clone();
    let frame = encode(&message).unwrap();
    let (head, last) = frame.split_at(frame.len() - 1);
    let mut dec = FrameDecoder::new(MIB);
    dec.push(head);
    assert_eq!(dec.next_message(), Ok(None));
    assert_eq!(dec.next_message(), Ok(None));
    assert_eq!(
        dec.finish(),
        Err(CodecError::Truncated {
            got: frame.len() - 1,
            expected: frame.len()
        })
    );
    dec.push(last);
    assert_eq!(dec.next_message(), Ok(Some(message)));
    assert_eq!(dec.finish(), Ok(()));

    assert_eq!(
        decode(head, MIB),
        Err(CodecError::Truncated {
            got: frame.len() - 1,
            expected: frame.len()
        })
    );
    assert_eq!(
        decode(&frame[..3], MIB),
        Err(CodecError::Truncated {
            got: 3,
            expected: FRAME_HEADER_LEN
        })
    );
}

#[test]
fn bytes_after_a_whole_frame_are_refused() {
    let mut frame = encode(&samples()[1]).unwrap();
    frame.push(0);
    assert_eq!(
        decode(&frame, MIB),
        Err(CodecError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn another_version_is_refused_naming_both_versions() {
    let mut frame = encode(&samples()[0]).unwrap();
    let other = PROTOCOL_VERSION + 1;
    frame[4..6].copy_from_slice(&other.to_be_bytes());
    let expected = CodecError::UnsupportedVersion {
        peer: other,
        ours: PROTOCOL_VERSION,
    };
    assert_eq!(decode(&frame, MIB), Err(expected.clone()));
    let text = expected.to_string();
    assert!(text.contains(&format!("version {other}")), "{text}");
    assert!(
        text.contains(&format!("speaks {PROTOCOL_VERSION}")),
        "{text}"
    );
    assert_eq!(
        expected.to_error_message().code,
        ErrorCode::UnsupportedVersion
    );

    // Incrementally: refused as soon as the version bytes are in, not after the payload.
    let mut dec = FrameDecoder::new(MIB);
    dec.push(&frame[..FRAME_HEADER_LEN]);
    assert_eq!(dec.next_message(), Err(expected));
}

#[test]
fn garbage_payloads_are_errors_and_do_not_derail_the_stream() {
    let garbage: [&[u8]; 5] = [
        // Variant index far past the last variant.
        &[0xFF; 16],
        // Hello whose cluster id is not UTF-8.
        &[0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xC3, 0x28],
        // Empty payload.
        &[],
        // A complete message followed by a stray byte.
        &[4, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xEE],
        // Error code out of range.
        &[4, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for payload in garbage {
        let frame = frame_of(payload);
        let err = decode(&frame, MIB).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Malformed { .. } | CodecError::PayloadOverrun { .. }
            ),
            "{payload:?}: {err:?}"
        );
        // The frame boundary is intact, so the decoder drops just that frame.
        let mut dec = FrameDecoder::new(MIB);
        dec.push(&frame);
        dec.push(&encode(&samples()[1]).unwrap());
        assert_eq!(dec.next_message(), Err(err));
        assert_eq!(dec.next_message(), Ok(Some(samples()[1].clone())));
    }
    // The one with a stray byte was otherwise valid: it is the leftover that is refused.
    assert_eq!(
        decode(&frame_of(&garbage[3][..16]), MIB),
        Ok(Message::Error(ErrorMessage::new(ErrorCode::Internal, "")))
    );
    assert!(matches!(
        decode(&frame_of(garbage[3]), MIB),
        Err(CodecError::Malformed { reason }) if reason.contains("1 bytes left over")
    ));
}

/// Patches the u64 at `offset` of an encoded frame, checking it held `was` so a change of
/// layout breaks the test loudly instead of patching the wrong field.
fn patch_u64(frame: &mut [u8], offset: usize, was: u64, now: u64) {
    let field = &mut frame[offset..offset + 8];
    assert_eq!(u64::from_le_bytes(field.try_into().unwrap()), was);
    field.copy_from_slice(&now.to_le_bytes());
}

#[test]
fn a_huge_inner_string_length_is_refused_before_allocating_it() {
    // Without a decode budget, bincode would ask for a zeroed buffer of the claimed size
    // (one TiB here, all of the address space below) and abort the process.
    let hello = samples()[0].clone();
    let mut frame = encode(&hello).unwrap();
    let payload_len = frame.len() - FRAME_HEADER_LEN;
    // Header, variant index, then the cluster id's length.
    let offset = FRAME_HEADER_LEN + 4;
    patch_u64(&mut frame, offset, "edge-eu-1".len() as u64, 1 << 40);
    assert_eq!(
        decode(&frame, MIB),
        Err(CodecError::PayloadOverrun { payload_len })
    );
    patch_u64(&mut frame, offset, 1 << 40, u64::MAX);
    assert_eq!(
        decode(&frame, MIB),
        Err(CodecError::PayloadOverrun { payload_len })
    );
    // One byte more than the payload holds is already too much.
    let rest = payload_len - 4 - 8;
    patch_u64(&mut frame, offset, u64::MAX, rest as u64 + 1);
    assert_eq!(
        decode(&frame, MIB),
        Err(CodecError::PayloadOverrun { payload_len })
    );
}

#[test]
fn a_huge_inner_weight_count_is_refused_within_the_frame() {
    let update = samples()[2].clone();
    let mut frame = encode(&update).unwrap();
    let payload_len = frame.len() - FRAME_HEADER_LEN;
    // Header, variant index, round, base version, sample count, payload variant.
    let offset = FRAME_HEADER_LEN + 4 + 8 * 3 + 4;
    // The weights are a byte block: its length counts bytes, and one byte more than the
    // rest of the payload is already too much.
    let rest = (payload_len - (4 + 8 * 3 + 4 + 8)) as u64;
    for claim in [1 << 40, u64::MAX, rest + 1] {
        let was = u64::from_le_bytes(frame[offset..offset + 8].try_into().unwrap());
        patch_u64(&mut frame, offset, was, claim);
        assert_eq!(
            decode(&frame, MIB),
            Err(CodecError::PayloadOverrun { payload_len }),
            "claim {claim}"
        );
    }
    // The same through the incremental decoder, which then carries on.
    let mut dec = FrameDecoder::new(MIB);
    dec.push(&frame);
    assert_eq!(
        dec.next_message(),
        Err(CodecError::PayloadOverrun { payload_len })
    );
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn random_bytes_and_corrupted_frames_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let valid = all_frames();
    let mut decoded = 0;
    for round in 0..2000 {
        let mut bytes = if round % 2 == 0 {
            let len = rng.random_range(0..200);
            let mut b = vec![0u8; len];
            rng.fill(&mut b[..]);
            // Give half of these a plausible header so the payload decoder gets exercised.
            if len >= FRAME_HEADER_LEN && rng.random_bool(0.5) {
                let body = u32::try_from(len - 4).unwrap();
                b[..4].copy_from_slice(&body.to_be_bytes());
                b[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
            }
            b
        } else {
            let mut b = valid.clone();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            b
        };
        if rng.random_bool(0.2) {
            bytes.truncate(rng.random_range(0..=bytes.len()));
        }
        let _ = decode(&bytes, 64 * 1024);
        let mut dec = FrameDecoder::new(64 * 1024);
        for chunk in bytes.chunks(rng.random_range(1..64)) {
            dec.push(chunk);
            while let Ok(Some(_)) = dec.next_message() {
                decoded += 1;
            }
        }
        let _ = dec.finish();
    }
    // Flips in weights or metrics still decode: the loop reached the payload decoder.
    assert!(decoded > 0);
}

#[test]
fn alpn_is_derived_from_the_protocol_version() {
    assert_eq!(ALPN, format!("rlas/{PROTOCOL_VERSION}").as_bytes());
    for v in [0u16, 9, 10, 99, 100, 12345, u16::MAX] {
        let (buf, len) = alpn_for(v);
        assert_eq!(&buf[..len], format!("rlas/{v}").as_bytes());
    }
}

#[test]
fn architectures_are_compatible_only_when_identical() {
    let a = dqn();
    assert_eq!(a.check_compatible(&dqn()), Ok(()));
    assert!(a.is_compatible(&a.clone()));

    let ppo = ModelArchitecture {
        kind: ModelKind::Ppo,
        ..dqn()
    };
    assert_eq!(
        a.check_compatible(&ppo),
        Err(ArchitectureMismatch::Kind {
            ours: ModelKind::Dqn,
            theirs: ModelKind::Ppo
        })
    );

    let wider = ModelArchitecture::dense(ModelKind::Dqn, vec![12, 512, 256, 128, 3]);
    assert!(matches!(
        a.check_compatible(&wider),
        Err(ArchitectureMismatch::Layers { .. })
    ));
    assert!(!wider.is_compatible(&a));

    // Same widths, but one side counts no biases: 12·256 + 256·256 + 256·128 + 128·3.
    let no_bias = ModelArchitecture {
        parameter_count: 101_632,
        ..dqn()
    };
    let err = a.check_compatible(&no_bias).unwrap_err();
    assert_eq!(
        err,
        ArchitectureMismatch::ParameterCount {
            ours: 102_403,
            theirs: 101_632
        }
    );
    assert!(err.to_string().contains("101632 parameters"), "{err}");
    assert_eq!(
        ModelArchitecture::dense(ModelKind::Hybrid, vec![7]).parameter_count,
        0
    );
}
