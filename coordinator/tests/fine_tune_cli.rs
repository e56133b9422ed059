//! `coordinator fine-tune` end to end: the binary fine-tunes the shipped DQN, written
//! into a registry in the documented on-disk format, and publishes a fine-tune that the
//! manifest and the weights file describe correctly; bad input fails clearly and
//! publishes nothing.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::rl::artifact::{Algo, TrainConfig};
use common::rl::defaults;
use common::rl::fleet_model::{architecture, extractor_len, network_weights};
use serde_json::{Value, json};

fn coordinator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .arg("fine-tune")
        .args(args)
        .env_remove("COORDINATOR_REGISTRY")
        .env_remove("COORDINATOR_TRAIN_CONFIG")
        .env_remove("COORDINATOR_LOG")
        .env_remove("COORDINATOR_LOG_FORMAT")
        .output()
        .expect("run the coordinator binary")
}

fn encode(weights: &[f32]) -> Vec<u8> {
    weights.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Writes version `v` the way the registry does.
fn write_version(dir: &Path, v: u64, architecture: Value, weights: &[f32]) {
    let bytes = encode(weights);
    let manifest = json!({
        "format": 1,
        "version": v,
        "parent": null,
        "round": null,
        "created_at": "2026-01-01T10:00:00Z",
        "architecture": architecture,
        "weights_crc32": crc32fast::hash(&bytes),
        "contributors": [],
        "total_samples": 0,
        "tags": [],
        "rolled_back_from": null,
        "fine_tuned_for": null,
    });
    let vdir = dir.join(format!("v{v:06}"));
    fs::create_dir(&vdir).expect("create the version directory");
    fs::write(vdir.join("weights.bin"), bytes).expect("write weights.bin");
    fs::write(
        vdir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).expect("a manifest serialises"),
    )
    .expect("write manifest.json");
}

/// A registry whose only version, v1, is the shipped DQN.
fn shipped_registry() -> (tempfile::TempDir, Vec<f32>) {
    let model = defaults::load(Algo::Dqn).expect("the shipped DQN loads");
    let weights = network_weights(&model.network);
    let arch = architecture(Algo::Dqn, &TrainConfig::default());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    write_version(
        tmp.path(),
        1,
        serde_json::to_value(arch).expect("an architecture serialises"),
        &weights,
    );
    (tmp, weights)
}

fn manifest(dir: &Path, v: u64) -> Value {
    let path = dir.join(format!("v{v:06}/manifest.json"));
    serde_json::from_slice(&fs::read(path).expect("read the manifest")).expect("JSON")
}

fn weights(dir: &Path, v: u64) -> Vec<f32> {
    decode(&fs::read(dir.join(format!("v{v:06}/weights.bin"))).expect("read the weights"))
}

/// A short fine-tune: 1,100 steps is 25 gradient steps after the 1,000 collected first.
fn tune<'a>(registry: &'a str, freeze: &'a str, tag: &'a str) -> Vec<&'a str> {
    vec![
        "--registry",
        registry,
        "--base",
        "1",
        "--scenario",
        "flash_crowd",
        "--duration",
        "30m",
        "--steps",
        "1100",
        "--freeze",
        freeze,
        "--tag",
        tag,
        "--seed",
        "1",
        "--eval-seeds",
        "1",
    ]
}

#[test]
fn a_fine_tune_is_published_for_its_workload_with_only_the_head_changed() {
    let (tmp, base) = shipped_registry();
    let dir = tmp.path().to_str().expect("a UTF-8 path");
    let out = coordinator(&tune(dir, "feature-extractor", "shop"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fine-tune failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in ["hpa", "base v000001", "fine-tuned", "SLO met", "vs HPA"] {
        assert!(stdout.contains(row), "{row} missing from\n{stdout}");
    }
    assert!(
        stdout.contains(
            "published v000002: v000001 fine-tuned for workload `shop` (1100 steps, feature extractor frozen)"
        ),
        "{stdout}"
    );

    let m = manifest(tmp.path(), 2);
    assert_eq!(m["parent"], 1);
    assert_eq!(m["round"], Value::Null);
    assert_eq!(m["tags"], json!(["shop"]));
    assert_eq!(m["fine_tuned_for"], "shop");
    assert_eq!(m["architecture"], manifest(tmp.path(), 1)["architecture"]);

    let n = extractor_len(Algo::Dqn, &TrainConfig::default());
    let tuned = weights(tmp.path(), 2);
    assert_eq!(tuned.len(), base.len());
    let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&tuned[..n]),
        bits(&base[..n]),
        "the frozen extractor moved"
    );
    let changed = tuned[n..]
        .iter()
        .zip(&base[n..])
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 1_000, "only {changed} head weights changed");

    // Unfrozen, the extractor trains too; the new version still branches off v1.
    let out = coordinator(&tune(dir, "none", "shop-all"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(tmp.path(), 3);
    assert_eq!(
        (m["parent"].clone(), m["fine_tuned_for"].clone()),
        (json!(1), json!("shop-all"))
    );
    assert_ne!(bits(&weights(tmp.path(), 3)[..n]), bits(&base[..n]));
}

fn fails(args: &[&str]) -> String {
    let out = coordinator(args);
    assert!(!out.status.success(), "fine-tune {args:?} succeeded");
    String::from_utf8(out.stderr).expect("UTF-8 output")
}

#[test]
fn bad_input_fails_clearly_and_publishes_nothing() {
    let (tmp, _) = shipped_registry();
    let dir = tmp.path().to_str().expect("a UTF-8 path");
    let with = |flag: &'static str, value: &'static str| {
        let mut args = tune(dir, "feature-extractor", "shop");
        let i = args
            .iter()
            .position(|a| *a == flag)
            .expect("a flag of tune()");
        args[i + 1] = value;
        args
    };
    let e = fails(&with("--base", "9"));
    assert!(e.contains("no version v000009"), "{e}");
    let e = fails(&with("--base", "newest"));
    assert!(
        e.contains("expected e.g. 42, v42, v000042 or latest"),
        "{e}"
    );
    let e = fails(&with("--scenario", "flash_crowed"));
    assert!(e.contains("unknown scenario `flash_crowed`"), "{e}");
    let e = fails(&with("--tag", "my shop"));
    assert!(e.contains("invalid workload tag `my shop`"), "{e}");
    let e = fails(&with("--freeze", "head"));
    assert!(e.contains("feature-extractor"), "{e}");
    let e = fails(&with("--registry", "/nonexistent/registry"));
    assert!(e.contains("does not exist"), "{e}");
    assert!(!tmp.path().join("v000002").exists());

    // A registry whose model is not the network the configuration builds.
    let other = tempfile::tempdir().expect("a temporary directory");
    write_version(
        other.path(),
        1,
        json!({"kind": "Dqn", "layers": [2, 2], "parameter_count": 6}),
        &[0.5; 6],
    );
    let e = fails(&tune(other.path().to_str().expect("UTF-8"), "none", "shop"));
    assert!(
        e.contains("v000001 holds a Dqn network with layers [2, 2] (6 parameters)")
            && e.contains("the training configuration builds Dqn [12, 256, 256, 128, 3]"),
        "{e}"
    );
    assert!(!other.path().join("v000002").exists());
}
