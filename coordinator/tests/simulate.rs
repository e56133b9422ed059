//! `coordinator simulate` end to end, tiny: two clusters, two short rounds, a short
//! transfer race. It checks that the fleet really federated (versions published by
//! rounds with both agents' updates, in the registry it was pointed at) and that the
//! report compares every policy on every cluster; the real figures come from the full
//! run the README gives.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_small_fleet_federates_and_reports_every_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = tmp.path().join("registry");
    let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .args([
            "simulate",
            "--clusters",
            "2",
            "--rounds",
            "2",
            "--budget",
            "300",
            "--eval-seeds",
            "1",
            "--transfer-steps",
            "400",
            "--transfer-eval-every",
            "200",
            "--format",
            "json",
            "--registry",
        ])
        .arg(&registry)
        .env_remove("COORDINATOR_LOG")
        .output()
        .expect("run the coordinator binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "simulate failed:\n{stderr}");
    assert!(
        stderr.contains("round   2/2"),
        "no per-round progress:\n{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");

    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    for (i, round) in rounds.iter().enumerate() {
        assert_eq!(round["accepted"], 2, "round {i}: {round}");
        assert_eq!(round["version"], i as u64 + 2, "round {i}: {round}");
    }
    assert_eq!(report["settings"]["final_version"], 3);
    for v in ["v000001", "v000002", "v000003"] {
        assert!(
            registry.join(v).join("weights.bin").is_file(),
            "{v} missing"
        );
    }

    let clusters = report["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters[0]["workload"], "daily_pattern");
    assert_eq!(clusters[1]["workload"], "flash_crowd");
    for c in clusters {
        for policy in ["federated", "alone", "hpa", "oracle"] {
            let cost = c[policy]["cost"].as_f64().unwrap();
            assert!(cost > 0.0, "{policy} on {}: {c}", c["cluster"]);
        }
        let oracle = c["oracle"]["cost"].as_f64().unwrap();
        assert!(oracle <= c["hpa"]["cost"].as_f64().unwrap(), "{c}");
    }

    let transfer = &report["transfer"];
    assert_eq!(transfer["workload"], "sudden_spike");
    // A fresh fleet never saw the held-out workload.
    assert_eq!(transfer["seen_by_start"], false);
    for curve in ["fine_tuned_curve", "scratch_curve"] {
        let points = transfer[curve].as_array().unwrap();
        let steps: Vec<u64> = points.iter().map(|p| p[0].as_u64().unwrap()).collect();
        assert_eq!(steps.first(), Some(&0), "{curve}: {steps:?}");
        assert_eq!(steps.last(), Some(&400), "{curve}: {steps:?}");
    }
}

/// The shipped model was trained on every named pattern, so a fleet started from it has
/// seen the held-out one: the report must say the race measures no transfer.
#[test]
fn a_race_on_a_workload_the_shipped_model_knows_is_flagged() {
    let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .args([
            "simulate",
            "--clusters",
            "1",
            "--rounds",
            "1",
            "--budget",
            "50",
            "--start",
            "shipped",
            "--skip-alone",
            "--eval-seeds",
            "1",
            "--transfer-steps",
            "100",
            "--transfer-eval-every",
            "100",
        ])
        .env_remove("COORDINATOR_LOG")
        .output()
        .expect("run the coordinator binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "simulate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("not a new workload: the shipped model"),
        "{stdout}"
    );
}

#[test]
fn a_registry_with_versions_is_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("v000001")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .args(["simulate", "--registry"])
        .arg(tmp.path())
        .output()
        .expect("run the coordinator binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
}
