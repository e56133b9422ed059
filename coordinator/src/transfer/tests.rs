//! Choosing and checking a base, and the version a fine-tune publishes, on a real
//! (temporary) registry holding the shipped DQN.

use common::rl::artifact::{Algo, TrainConfig};
use common::rl::defaults;
use common::rl::fleet_model::{architecture, network_weights};

use super::*;
use crate::registry::store::{NewVersion, Registry};

fn shipped() -> (TrainConfig, Vec<f32>) {
    let model = defaults::load(Algo::Dqn).expect("the shipped DQN loads");
    let weights = network_weights(&model.network);
    (model.config, weights)
}

/// A registry whose fleet line is v1 (the shipped DQN) and v2 (its weights halved).
fn registry(dir: &std::path::Path) -> (Registry, TrainConfig, Vec<f32>) {
    let (cfg, weights) = shipped();
    let mut reg = Registry::open(dir).unwrap();
    for (parent, scale) in [(None, 1.0), (Some(1), 0.5)] {
        reg.publish(NewVersion {
            parent,
            round: parent,
            architecture: architecture(Algo::Dqn, &cfg),
            weights: weights.iter().map(|w| w * scale).collect(),
            contributors: vec![],
            tags: vec![],
            created_at: "2026-01-01T00:00:00Z".into(),
            fine_tuned_for: None,
        })
        .unwrap();
    }
    (reg, cfg, weights)
}

#[test]
fn a_base_is_read_by_number_or_as_the_newest_fleet_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut reg, cfg, weights) = registry(tmp.path());
    let v1 = BaseModel::load(&reg, BaseRef::Version(1), &cfg).unwrap();
    assert_eq!((v1.version, v1.algo), (1, Algo::Dqn));
    assert_eq!(v1.weights, weights);
    assert_eq!(
        BaseModel::load(&reg, BaseRef::Latest, &cfg)
            .unwrap()
            .version,
        2
    );

    // A fine-tune is a side branch: `latest` still means the fleet line's newest, and
    // an agent announcing the tag is offered the fine-tune.
    let tag: WorkloadTag = "checkout-api".parse().unwrap();
    let tuned: Vec<f32> = weights.iter().map(|w| w + 1.0).collect();
    let new = fine_tune_version(&v1, tuned, &tag, "2026-01-02T00:00:00Z".into());
    let published = reg.publish(new).unwrap().clone();
    assert_eq!(published.version, 3);
    assert_eq!(published.parent, Some(1));
    assert_eq!(published.round, None);
    assert_eq!(published.tags, ["checkout-api"]);
    assert_eq!(published.fine_tuned_for.as_deref(), Some("checkout-api"));
    assert_eq!(
        BaseModel::load(&reg, BaseRef::Latest, &cfg)
            .unwrap()
            .version,
        2
    );
    assert_eq!(reg.latest_fleet().map(|m| m.version), Some(2));
    let hello_tags = ["web".to_owned(), "checkout-api".to_owned()];
    assert_eq!(
        reg.latest_for_workload(&hello_tags).map(|m| m.version),
        Some(3)
    );
    assert_eq!(reg.latest_for_workload(&["web".to_owned()]), None);
}

#[test]
fn a_base_that_does_not_fit_the_configuration_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg, mut cfg, _) = registry(tmp.path());
    cfg.dqn.hidden = vec![64, 64];
    let e = BaseModel::load(&reg, BaseRef::Version(2), &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "v000002 holds a Dqn network with layers [12, 256, 256, 128, 3] (102403 parameters)"
        ) && e.contains("builds Dqn [12, 64, 64, 3]")
            && e.contains("--config"),
        "{e}"
    );
    let e = BaseModel::load(&reg, BaseRef::Version(9), &TrainConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no version v000009"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let reg = Registry::open(empty.path()).unwrap();
    let e = BaseModel::load(&reg, BaseRef::Latest, &TrainConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no fleet model"), "{e}");
}

#[test]
fn base_names_and_tags_parse_as_an_operator_types_them() {
    assert_eq!("latest".parse(), Ok(BaseRef::Latest));
    assert_eq!("v000042".parse(), Ok(BaseRef::Version(42)));
    assert_eq!("7".parse(), Ok(BaseRef::Version(7)));
    assert!("newest".parse::<BaseRef>().unwrap_err().contains("latest"));
    for ok in ["web", "checkout-api", "nasa_1995.v2"] {
        assert_eq!(ok.parse::<WorkloadTag>().unwrap().as_str(), ok);
    }
    for bad in ["", "two words", "a,b", &"x".repeat(65)] {
        let e = bad.parse::<WorkloadTag>().unwrap_err().to_string();
        assert!(e.contains("invalid workload tag"), "{e}");
    }
}
