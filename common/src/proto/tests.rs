//! Behaviour through the public API: round trips, incremental decoding, and refusal of
//! oversized, foreign and malformed input.

use super::*;

fn dqn() -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![12, 256, 256, 128, 3])
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
