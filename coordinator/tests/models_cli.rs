//! `coordinator models` end to end: the binary against a registry this test writes in the
//! documented on-disk format (`vNNNNNN/manifest.json` + little-endian `weights.bin`), so
//! the format is checked from outside as well as the commands.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn coordinator(registry: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .arg("models")
        .arg("--registry")
        .arg(registry)
        .args(args)
        .env_remove("COORDINATOR_REGISTRY")
        .env_remove("COORDINATOR_LOG")
        .env_remove("COORDINATOR_LOG_FORMAT")
        .output()
        .expect("run the coordinator binary")
}

fn succeeds(registry: &Path, args: &[&str]) -> String {
    let out = coordinator(registry, args);
    assert!(
        out.status.success(),
        "coordinator models {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn fails(registry: &Path, args: &[&str]) -> String {
    let out = coordinator(registry, args);
    assert!(
        !out.status.success(),
        "coordinator models {args:?} succeeded"
    );
    String::from_utf8(out.stderr).expect("UTF-8 output")
}

fn weights_bytes(seed: f32) -> Vec<u8> {
    (0..6)
        .flat_map(|i| (seed + i as f32).to_le_bytes())
        .collect()
}

/// Writes version `v` the way the registry does, and returns its manifest.
fn write_version(
    dir: &Path,
    v: u64,
    parent: Option<u64>,
    round: Option<u64>,
    contributors: &[(&str, u64)],
    tags: &[&str],
    seed: f32,
) -> Value {
    let weights = weights_bytes(seed);
    let manifest = json!({
        "format": 1,
        "version": v,
        "parent": parent,
        "round": round,
        "created_at": format!("2026-01-0{v}T10:00:00Z"),
        "architecture": {"kind": "Dqn", "layers": [2, 2], "parameter_count": 6},
        "weights_crc32": crc32fast::hash(&weights),
        "contributors": contributors.iter().map(|(c, n)| json!({
            "cluster_id": c,
            "sample_count": n,
            "metrics": {"mean_reward": -0.5, "episodes": 2, "slo_compliance": 0.99, "cost": 1.5},
        })).collect::<Vec<_>>(),
        "total_samples": contributors.iter().map(|(_, n)| n).sum::<u64>(),
        "tags": tags,
        "rolled_back_from": null,
        "fine_tuned_for": null,
    });
    let vdir = dir.join(format!("v{v:06}"));
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    fs::create_dir(&vdir).expect("create the version directory");
    fs::write(vdir.join("weights.bin"), weights).expect("write weights.bin");
    fs::write(vdir.join("manifest.json"), text).expect("write manifest.json");
    manifest
}

/// v1: the initial model; v2: round 1 from two clusters.
fn seeded() -> (tempfile::TempDir, Value) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    write_version(tmp.path(), 1, None, None, &[], &[], 0.0);
    let v2 = write_version(
        tmp.path(),
        2,
        Some(1),
        Some(1),
        &[("edge-a", 100), ("edge-b", 300)],
        &["web"],
        10.0,
    );
    (tmp, v2)
}

/// The words of the table row that starts with `version` (the table has no inner rules,
/// and no cell but the note holds a space).
fn row<'a>(table: &'a str, version: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.trim_start_matches('│').trim_start().starts_with(version))
        .unwrap_or_else(|| panic!("no row for {version} in\n{table}"));
    line.split_whitespace().filter(|w| *w != "│").collect()
}

#[test]
fn list_prints_one_row_per_version() {
    let (tmp, _) = seeded();
    let table = succeeds(tmp.path(), &["list"]);
    for column in [
        "version",
        "parent",
        "round",
        "contributors",
        "samples",
        "created",
    ] {
        assert!(table.contains(column), "{column} missing from\n{table}");
    }
    assert_eq!(
        row(&table, "v000001"),
        ["v000001", "-", "-", "0", "0", "2026-01-01T10:00:00Z"]
    );
    assert_eq!(
        row(&table, "v000002"),
        [
            "v000002",
            "v000001",
            "1",
            "2",
            "400",
            "2026-01-02T10:00:00Z",
            "web"
        ]
    );
    assert!(table.find("v000001").unwrap() < table.find("v000002 ").unwrap());
    assert_eq!(
        table.lines().count(),
        2 + 2 + 2,
        "borders, header and two rows"
    );
}

#[test]
fn show_prints_the_manifest_as_json() {
    let (tmp, v2) = seeded();
    for spelling in ["2", "v2", "v000002"] {
        let out = succeeds(tmp.path(), &["show", spelling]);
        let shown: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(shown, v2);
    }
    let err = fails(tmp.path(), &["show", "9"]);
    assert!(err.contains("no version v000009"), "{err}");
}

#[test]
fn rollback_publishes_the_old_weights_as_a_new_version() {
    let (tmp, _) = seeded();
    // A crashed publication's remains: `list` leaves them, the writing `rollback` removes them.
    let leftover = tmp.path().join(".tmp-v000003-777");
    fs::create_dir(&leftover).unwrap();
    succeeds(tmp.path(), &["list"]);
    assert!(leftover.exists());

    let out = succeeds(tmp.path(), &["rollback", "1"]);
    assert!(
        out.contains("published v000003: the weights of v000001 on top of v000002"),
        "{out}"
    );
    assert!(!leftover.exists());

    let v3 = tmp.path().join("v000003");
    assert_eq!(
        fs::read(v3.join("weights.bin")).unwrap(),
        fs::read(tmp.path().join("v000001/weights.bin")).unwrap()
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(v3.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["version"], 3);
    assert_eq!(manifest["parent"], 2);
    assert_eq!(manifest["rolled_back_from"], 1);
    assert_eq!(manifest["round"], Value::Null);
    assert_eq!(
        manifest["weights_crc32"],
        crc32fast::hash(&weights_bytes(0.0))
    );
    let created = manifest["created_at"].as_str().unwrap();
    assert!(
        created.starts_with("20") && created.ends_with('Z'),
        "{created}"
    );

    // `show` prints exactly the file, and `list` marks the rollback.
    let shown = succeeds(tmp.path(), &["show", "3"]);
    assert_eq!(shown, fs::read_to_string(v3.join("manifest.json")).unwrap());
    let table = succeeds(tmp.path(), &["list"]);
    let r = row(&table, "v000003");
    assert_eq!(r[..5], ["v000003", "v000002", "-", "0", "0"]);
    assert_eq!(r[r.len() - 3..], ["rollback", "of", "v000001"]);

    // The old versions are untouched.
    let v2: Value = serde_json::from_str(&succeeds(tmp.path(), &["show", "2"])).unwrap();
    assert_eq!(v2["total_samples"], 400);
    let err = fails(tmp.path(), &["rollback", "3"]);
    assert!(err.contains("already the newest"), "{err}");
}

#[test]
fn damage_is_reported_with_the_file_it_is_in() {
    let (tmp, _) = seeded();
    // A bit flipped in v1's weights: listing still works (only the newest is verified
    // when opening), but rolling back to it is refused and publishes nothing.
    let w1 = tmp.path().join("v000001/weights.bin");
    let mut bytes = fs::read(&w1).unwrap();
    bytes[9] ^= 0x04;
    fs::write(&w1, &bytes).unwrap();
    succeeds(tmp.path(), &["list"]);
    let err = fails(tmp.path(), &["rollback", "1"]);
    assert!(err.contains("v000001/weights.bin"), "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(!tmp.path().join("v000003").exists());

    // A manifest that is not JSON stops every command, naming the file.
    fs::write(tmp.path().join("v000002/manifest.json"), "{\"format\": 1, ").unwrap();
    let err = fails(tmp.path(), &["list"]);
    assert!(err.contains("v000002/manifest.json"), "{err}");
}

#[test]
fn a_missing_registry_is_an_error_and_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("typo");
    for args in [&["list"][..], &["rollback", "1"]] {
        let err = fails(&missing, args);
        assert!(err.contains("does not exist"), "{err}");
    }
    assert!(!missing.exists());
    let empty = succeeds(tmp.path(), &["list"]);
    assert!(empty.contains("no model versions"), "{empty}");
}

#[test]
fn rollback_is_refused_while_another_process_writes_the_registry() {
    let (tmp, _) = seeded();
    // What a running `coordinator serve` holds for its whole life.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(tmp.path().join(".writer.lock"))
        .unwrap();
    lock.try_lock().expect("nobody else holds it");
    let err = fails(tmp.path(), &["rollback", "1"]);
    assert!(err.contains("being written by another process"), "{err}");
    assert!(err.contains("stop it first"), "{err}");
    assert!(!tmp.path().join("v000003").exists());
    // Reading needs no lock.
    succeeds(tmp.path(), &["list"]);
    succeeds(tmp.path(), &["show", "2"]);
    // Once the writer is gone, the rollback goes through. The lock is an flock, held by
    // every copy of the file descriptor: a process another test forks at this moment holds
    // a copy until it execs (which closes it). So the lock may outlive `drop` for that
    // instant; the rollback is retried while it is still refused for the lock, and only
    // for that.
    drop(lock);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = coordinator(tmp.path(), &["rollback", "1"]);
        if out.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("being written by another process")
                && std::time::Instant::now() < deadline,
            "coordinator models rollback 1 failed:\n{err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(tmp.path().join("v000003").exists());
}
