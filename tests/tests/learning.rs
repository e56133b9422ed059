//! Training and scoring a learned policy end to end, through the binaries.

use rl_autoscaler_tests::{edge_agent, edge_agent_json};

/// Trains `algo` for 1,200 steps of `steady` (seed 3) into `out`, which must succeed.
fn train_tiny(algo: &str, out: &str) {
    let run = edge_agent(&[
        "train",
        "--algo",
        algo,
        "--timesteps",
        "1200",
        "--scenario",
        "steady",
        "--seed",
        "3",
        "--out",
        out,
    ]);
    assert!(
        run.status.success(),
        "training {algo} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn a_trained_dqn_is_written_and_scored() {
    let dir = std::env::temp_dir().join(format!("learning-e2e-{}", std::process::id()));
    let out = dir.join("dqn");
    let out_s = out.to_str().unwrap();
    train_tiny("dqn", out_s);
    for file in [
        "model.bpk",
        "config.toml",
        "manifest.toml",
        "curve.csv",
        "curve.png",
        "curve.svg",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("seed = 3"), "{config}");
    assert!(config.contains("timesteps = 1200"), "{config}");
    let curve = std::fs::read_to_string(out.join("curve.csv")).unwrap();
    assert_eq!(
        curve.lines().count(),
        1 + 2,
        "two 480-step episodes finished in 1,200 steps"
    );

    let policy = format!("hpa,dqn:{out_s}");
    let v = edge_agent_json(&[
        "evaluate",
        "--policy",
        &policy,
        "--scenario",
        "steady",
        "--duration",
        "30m",
        "--format",
        "json",
    ]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["policy"], format!("dqn:{out_s}"));
    assert!(rows[1]["pod_hours"].as_f64().unwrap() > 0.0);

    let wrong = edge_agent(&[
        "evaluate",
        "--policy",
        &format!("ppo:{out_s}"),
        "--scenario",
        "steady",
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("holds a dqn model"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_config_keys_are_refused_by_train() {
    let dir = std::env::temp_dir().join(format!("learning-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("train.toml");
    std::fs::write(&cfg, "[dqn]\nlearning_rat = 0.1\n").unwrap();
    let run = edge_agent(&[
        "train",
        "--algo",
        "dqn",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("learning_rat"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_trained_hybrid_is_written_and_scored_beside_the_shipped_one() {
    let dir = std::env::temp_dir().join(format!("learning-hybrid-{}", std::process::id()));
    let out = dir.join("hybrid");
    let out_s = out.to_str().unwrap();
    train_tiny("hybrid", out_s);
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert!(manifest.contains("algo = \"hybrid\""), "{manifest}");
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("[hybrid]"), "{config}");
    assert!(out.join("curve.csv").exists());

    let policy = format!("hpa,hybrid:{out_s},hybrid");
    let v = edge_agent_json(&[
        "evaluate",
        "--policy",
        &policy,
        "--scenario",
        "steady",
        "--duration",
        "30m",
        "--format",
        "json",
    ]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["policy"], format!("hybrid:{out_s}"));
    assert_eq!(rows[2]["policy"], "hybrid");
    for row in &rows[1..] {
        assert!(row["pod_hours"].as_f64().unwrap() > 0.0);
    }

    let wrong = edge_agent(&[
        "evaluate",
        "--policy",
        &format!("dqn:{out_s}"),
        "--scenario",
        "steady",
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("holds a hybrid model"));

    let cfg = dir.join("train.toml");
    std::fs::write(&cfg, "[hybrid]\nsegment_step = 10\n").unwrap();
    let bad = edge_agent(&[
        "train",
        "--algo",
        "hybrid",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("segment_step"));
    std::fs::remove_dir_all(&dir).ok();
}
