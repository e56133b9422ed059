//! The registry on a real (temporary) directory: round trips, crash leftovers, corruption,
//! rollback and tags.

use std::fs;
use std::path::Path;

use common::proto::{LocalMetrics, ModelArchitecture, ModelKind};

use super::error::RegistryError;
use super::manifest::{Contributor, Manifest};
use super::store::{LOCK_FILE, NewVersion, Registry};

/// 2 → 2 dense: 6 parameters.
fn arch() -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![2, 2])
}

fn contributor(cluster: &str, samples: u64) -> Contributor {
    Contributor {
        cluster_id: cluster.to_owned(),
        sample_count: samples,
        metrics: LocalMetrics {
            mean_reward: -0.25,
            episodes: 3,
            slo_compliance: 0.95,
            cost: 2.5,
        },
    }
}

fn weights(seed: f32) -> Vec<f32> {
    (0..6).map(|i| seed + i as f32 * 0.125).collect()
}

/// Publishes `weights(seed)` on top of the fleet line's newest version, as round `round`.
fn publish(reg: &mut Registry, seed: f32, round: u64, tags: &[&str]) -> Manifest {
    let parent = reg.latest_fleet().map(|m| m.version);
    reg.publish(NewVersion {
        parent,
        round: Some(round),
        architecture: arch(),
        weights: weights(seed),
        contributors: vec![contributor("edge-a", 100), contributor("edge-b", 300)],
        tags: tags.iter().map(|&t| t.to_owned()).collect(),
        created_at: format!("2026-01-0{round}T00:00:00Z"),
        fine_tuned_for: None,
    })
    .expect("publish")
    .clone()
}

fn initial(reg: &mut Registry) -> Manifest {
    reg.publish(NewVersion {
        parent: None,
        round: None,
        architecture: arch(),
        weights: vec![0.0, -0.0, 1.5, f32::MIN_POSITIVE, -3.0e38, 7.0],
        contributors: vec![],
        tags: vec![],
        created_at: "2026-01-01T00:00:00Z".into(),
        fine_tuned_for: None,
    })
    .expect("publish the initial model")
    .clone()
}

/// The entries of `dir`, without the writer's lock file.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect();
    names.sort();
    names
}

#[test]
fn published_versions_read_back_identically_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    assert!(reg.latest().is_none());
    let v1 = initial(&mut reg);
    let v2 = publish(&mut reg, 0.5, 1, &["web"]);
    assert_eq!((v1.version, v1.parent, v1.round), (1, None, None));
    assert_eq!((v2.version, v2.parent, v2.round), (2, Some(1), Some(1)));
    assert_eq!(v2.total_samples, 400);
    assert_eq!(v2.rolled_back_from, None);

    assert_eq!(names(tmp.path()), ["v000001", "v000002"]);
    assert_eq!(
        names(&tmp.path().join("v000002")),
        ["manifest.json", "weights.bin"]
    );
    // The weights file is the raw little-endian f32 vector: 0.5 is 0x3f000000.
    let raw = fs::read(tmp.path().join("v000002/weights.bin")).unwrap();
    assert_eq!(raw.len(), 6 * 4);
    assert_eq!(&raw[..4], &[0x00, 0x00, 0x00, 0x3f]);
    // The manifest is plain JSON with the documented fields.
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join("v000002/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["parent"], 1);
    assert_eq!(json["architecture"]["parameter_count"], 6);
    assert_eq!(json["contributors"][1]["cluster_id"], "edge-b");
    assert_eq!(json["contributors"][1]["metrics"]["slo_compliance"], 0.95);
    assert_eq!(json["created_at"], "2026-01-01T00:00:00Z");

    drop(reg); // a restart: the writer's lock goes with it
    let reopened = Registry::open(tmp.path()).unwrap();
    let manifests: Vec<&Manifest> = reopened.versions().collect();
    assert_eq!(manifests, [&v1, &v2]);
    assert_eq!(reopened.latest(), Some(&v2));
    assert_eq!(reopened.last_round(), Some(1));
    let bits = |w: Vec<f32>| w.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    assert_eq!(
        bits(reopened.load_weights(1).unwrap()),
        bits(vec![0.0, -0.0, 1.5, f32::MIN_POSITIVE, -3.0e38, 7.0])
    );
    assert_eq!(reopened.load_weights(2).unwrap(), weights(0.5));
    assert!(matches!(
        reopened.load_weights(3),
        Err(RegistryError::UnknownVersion { version: 3, .. })
    ));
}

#[test]
fn a_crashed_publication_is_ignored_and_the_newest_complete_version_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    let v2 = publish(&mut reg, 0.5, 1, &[]);
    drop(reg);

    // A crash while assembling v3 leaves its temporary directory with half the weights…
    let temp = tmp.path().join(".tmp-v000003-4242");
    fs::create_dir(&temp).unwrap();
    fs::write(temp.join("weights.bin"), [0u8; 10]).unwrap();
    // …and a partial restore left a v000004 with weights but no manifest.
    let partial = tmp.path().join("v000004");
    fs::create_dir(&partial).unwrap();
    fs::write(partial.join("weights.bin"), [0u8; 24]).unwrap();

    // Inspecting changes nothing.
    let inspected = Registry::inspect(tmp.path()).unwrap();
    assert_eq!(inspected.latest(), Some(&v2));
    assert!(temp.exists());

    // Opening for writing resumes from v2 and removes the temporary directory, but leaves
    // the incomplete version for an operator and numbers past it.
    let mut reg = Registry::open(tmp.path()).unwrap();
    assert_eq!(reg.latest(), Some(&v2));
    assert_eq!(reg.versions().count(), 2);
    assert!(!temp.exists());
    assert!(partial.exists());
    let next = publish(&mut reg, 1.0, 2, &[]);
    assert_eq!((next.version, next.parent), (5, Some(2)));
    assert_eq!(
        names(tmp.path()),
        ["v000001", "v000002", "v000004", "v000005"]
    );
}

#[test]
fn corrupt_weights_are_caught_by_the_checksum_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    publish(&mut reg, 0.5, 1, &[]);
    publish(&mut reg, 0.75, 2, &[]);
    drop(reg);

    // Flip one bit of an old version: the registry opens (only the newest is verified
    // on open) but refuses to load or roll back to it.
    let path = tmp.path().join("v000002/weights.bin");
    let mut bytes = fs::read(&path).unwrap();
    bytes[5] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    let err = reg.load_weights(2).unwrap_err();
    assert!(matches!(err, RegistryError::CorruptWeights { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("v000002/weights.bin"), "{text}");
    assert!(text.contains("checksum"), "{text}");
    assert!(matches!(
        reg.rollback(2, "2026-02-01T00:00:00Z"),
        Err(RegistryError::CorruptWeights { .. })
    ));
    assert_eq!(reg.latest().unwrap().version, 3, "nothing was published");

    // The same damage to the newest version stops the registry from opening at all.
    let newest = tmp.path().join("v000003/weights.bin");
    let mut bytes = fs::read(&newest).unwrap();
    bytes[0] ^= 0x80;
    fs::write(&newest, &bytes).unwrap();
    drop(reg); // a restart: the writer's lock goes with it
    let err = Registry::open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("v000003/weights.bin"), "{err}");

    // A truncated file is caught by its size, on any version, without reading it.
    fs::write(&path, &bytes[..7]).unwrap();
    let err = Registry::inspect(tmp.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("v000002/weights.bin"), "{text}");
    assert!(
        text.contains("7 bytes, but 6 f32 parameters take 24"),
        "{text}"
    );
}

#[test]
fn corrupt_or_foreign_manifests_refuse_to_open_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    publish(&mut reg, 0.5, 1, &[]);
    drop(reg);
    let path = tmp.path().join("v000001/manifest.json");
    let good = fs::read_to_string(&path).unwrap();

    let cases = [
        (good[..good.len() / 2].to_owned(), "not JSON"),
        (
            good.replace("\"version\": 1", "\"version\": 7"),
            "sits in v000001",
        ),
        (
            good.replace("\"created_at\"", "\"created\""),
            "missing field `created_at`",
        ),
        (good.replace("\"format\": 1", "\"format\": 2"), "format 2"),
    ];
    for (text, expected) in cases {
        fs::write(&path, &text).unwrap();
        let err = Registry::open(tmp.path()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("v000001/manifest.json"), "{message}");
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[test]
fn rollback_republishes_old_weights_as_a_new_version_on_top() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    let v2 = publish(&mut reg, 0.5, 1, &["web", "nginx"]);
    publish(&mut reg, 0.75, 2, &["web"]);

    let v4 = reg.rollback(2, "2026-03-01T12:00:00Z").unwrap().clone();
    assert_eq!(v4.version, 4);
    assert_eq!(
        v4.parent,
        Some(3),
        "the parent is the newest, not the source"
    );
    assert_eq!(v4.rolled_back_from, Some(2));
    assert_eq!(v4.round, None);
    assert!(v4.contributors.is_empty());
    assert_eq!(v4.total_samples, 0);
    assert_eq!(v4.tags, v2.tags);
    assert_eq!(v4.weights_crc32, v2.weights_crc32);
    assert_eq!(v4.created_at, "2026-03-01T12:00:00Z");
    assert_eq!(reg.load_weights(4).unwrap(), weights(0.5));

    // History is intact, and the rollback is what a restart resumes from.
    drop(reg); // a restart: the writer's lock goes with it
    let mut reg = Registry::open(tmp.path()).unwrap();
    let versions: Vec<u64> = reg.versions().map(|m| m.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(reg.latest(), Some(&v4));
    assert_eq!(reg.load_weights(3).unwrap(), weights(0.75));
    // Rounds keep counting from the last one that ran.
    assert_eq!(reg.last_round(), Some(2));

    assert!(matches!(
        reg.rollback(4, "t"),
        Err(RegistryError::AlreadyLatest { version: 4 })
    ));
    assert!(matches!(
        reg.rollback(9, "t"),
        Err(RegistryError::UnknownVersion { version: 9, .. })
    ));
}

#[test]
fn the_newest_version_of_a_workload_is_found_by_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    publish(&mut reg, 0.5, 1, &["web"]);
    publish(&mut reg, 0.75, 2, &["batch"]);
    publish(&mut reg, 1.0, 3, &["web", "nginx"]);
    publish(&mut reg, 1.25, 4, &["batch"]);
    assert_eq!(reg.latest_for_tag("web").map(|m| m.version), Some(4));
    assert_eq!(reg.latest_for_tag("nginx").map(|m| m.version), Some(4));
    assert_eq!(reg.latest_for_tag("batch").map(|m| m.version), Some(5));
    assert_eq!(reg.latest_for_tag("ml"), None);
    // Tags survive a reopen.
    let reopened = Registry::inspect(tmp.path()).unwrap();
    assert_eq!(reopened.latest_for_tag("web").map(|m| m.version), Some(4));
}

#[test]
fn publication_refuses_what_it_could_not_serve_or_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    let base = NewVersion {
        parent: Some(1),
        round: Some(1),
        architecture: arch(),
        weights: weights(0.0),
        contributors: vec![contributor("edge-a", 1)],
        tags: vec![],
        created_at: "t".into(),
        fine_tuned_for: None,
    };
    let refused = |reg: &mut Registry, new: NewVersion| reg.publish(new).unwrap_err();

    let stale = refused(
        &mut reg,
        NewVersion {
            parent: None,
            ..base.clone()
        },
    );
    assert!(matches!(
        stale,
        RegistryError::StaleParent {
            parent: None,
            latest: Some(1)
        }
    ));
    let short = refused(
        &mut reg,
        NewVersion {
            weights: vec![0.0; 5],
            ..base.clone()
        },
    );
    assert!(matches!(
        short,
        RegistryError::WrongLength {
            expected: 6,
            got: 5
        }
    ));
    let mut nan = weights(0.0);
    nan[3] = f32::NAN;
    let nan = refused(
        &mut reg,
        NewVersion {
            weights: nan,
            ..base.clone()
        },
    );
    assert!(matches!(nan, RegistryError::NonFinite { index: 3 }));
    let mut bad_metric = contributor("edge-a", 1);
    bad_metric.metrics.mean_reward = f64::NAN;
    let unreadable = refused(
        &mut reg,
        NewVersion {
            contributors: vec![bad_metric],
            ..base.clone()
        },
    );
    assert!(matches!(
        unreadable,
        RegistryError::Unrepresentable { version: 2 }
    ));

    // Nothing was written, not even a temporary directory.
    assert_eq!(names(tmp.path()), ["v000001"]);
    assert_eq!(reg.publish(base).unwrap().version, 2);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = Registry::open(tmp.path()).unwrap();
    initial(&mut first);
    let err = Registry::open(tmp.path()).unwrap_err();
    assert!(matches!(err, RegistryError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("stop it first"), "{err}");
    // Reading is always allowed, and sees what the writer published.
    assert_eq!(
        Registry::inspect(tmp.path())
            .unwrap()
            .latest()
            .unwrap()
            .version,
        1
    );
    // The lock goes with the writer (a crash releases it too: the OS drops it).
    drop(first);
    let mut second = Registry::open(tmp.path()).unwrap();
    assert_eq!(publish(&mut second, 0.5, 1, &[]).version, 2);
}

#[test]
fn a_writer_that_ignored_the_lock_still_cannot_overwrite_a_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = Registry::open(tmp.path()).unwrap();
    initial(&mut first);
    // Another writer that bypassed the lock (e.g. a file system without advisory locks)
    // renamed its v2 into place behind `first`'s back.
    fs::create_dir(tmp.path().join("v000002")).unwrap();
    fs::write(tmp.path().join("v000002/marker"), b"theirs").unwrap();
    let parent = first.latest().map(|m| m.version);
    let err = first
        .publish(NewVersion {
            parent,
            round: Some(1),
            architecture: arch(),
            weights: weights(9.0),
            contributors: vec![],
            tags: vec![],
            created_at: "t".into(),
            fine_tuned_for: None,
        })
        .unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        fs::read(tmp.path().join("v000002/marker")).unwrap(),
        b"theirs"
    );
}

#[test]
fn inspecting_a_missing_directory_fails_instead_of_creating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = Registry::inspect(&missing).unwrap_err();
    assert!(matches!(err, RegistryError::Missing { .. }));
    assert!(!missing.exists());
    assert!(err.to_string().contains("nope"));
}

#[test]
fn fine_tunes_branch_off_without_moving_the_fleet_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(tmp.path()).unwrap();
    initial(&mut reg);
    let tuned = reg
        .publish(NewVersion {
            parent: Some(1),
            round: None,
            architecture: arch(),
            weights: weights(7.0),
            contributors: vec![],
            tags: vec!["batch".into()],
            created_at: "t".into(),
            fine_tuned_for: Some("batch".into()),
        })
        .unwrap()
        .version;
    assert_eq!(tuned, 2);
    assert_eq!(reg.latest_fleet().map(|m| m.version), Some(1));
    let tags = ["web".to_owned(), "batch".to_owned()];
    assert_eq!(reg.latest_for_workload(&tags).map(|m| m.version), Some(2));
    assert!(reg.latest_for_workload(&["web".to_owned()]).is_none());

    // A round still builds on v1, the fleet line's head, although v2 is newer.
    publish(&mut reg, 0.5, 1, &[]);
    drop(reg); // a restart: the writer's lock goes with it
    let reopened = Registry::open(tmp.path()).unwrap();
    assert_eq!(reopened.latest_fleet().map(|m| m.version), Some(3));
    assert_eq!(reopened.manifest(3).unwrap().parent, Some(1));
    assert_eq!(
        reopened.manifest(2).unwrap().fine_tuned_for.as_deref(),
        Some("batch")
    );
}
