//! The command line answers as documented: help, clear errors for bad input.

use std::process::Command;

fn edge_agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(args)
        .env_remove("EDGE_AGENT_CONFIG")
        .output()
        .expect("run edge-agent")
}

#[test]
fn help_lists_the_commands() {
    let out = edge_agent(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("evaluate"), "{text}");
}

#[test]
fn unknown_policy_and_scenario_are_named() {
    let out = edge_agent(&["evaluate", "--policy", "hpx"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy `hpx`"));
    let out = edge_agent(&["evaluate", "--policy", "hpa", "--scenario", "steddy"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scenario `steddy`"));
}

#[test]
fn bad_config_names_the_field() {
    let dir = std::env::temp_dir().join(format!("edge-agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[sim.replicas]\nmin = 5\nmax = 2\n").unwrap();
    let out = edge_agent(&[
        "evaluate",
        "--policy",
        "hpa",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replicas.min"), "{err}");
    std::fs::write(&path, "[sim.replicas]\nminimum = 5\n").unwrap();
    let out = edge_agent(&[
        "evaluate",
        "--policy",
        "hpa",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("minimum"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn default_config_round_trips() {
    let out = edge_agent(&["default-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cfg: common::env::EnvConfig = toml::from_str(&text).unwrap();
    assert_eq!(cfg, common::env::EnvConfig::default());
}

#[test]
fn the_default_federate_config_needs_only_a_cluster_id() {
    let out = edge_agent(&["default-federate-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("cluster_id = \"\""), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, &text).unwrap();
    let out = edge_agent(&["federate", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster_id is required"), "{err}");
}

/// With no coordinator answering, `federate` still autoscales, by the HPA rule.
#[test]
fn federate_autoscales_with_the_hpa_before_any_model_arrives() {
    use common::transport::ClusterId;
    use common::transport::certs::DevCa;

    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::generate().unwrap();
    let client = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(certs.join("alpha.pem"), client.cert_pem()).unwrap();
    std::fs::write(certs.join("alpha-key.pem"), client.key_pem()).unwrap();
    // A port that is bound but never answers: every connection attempt times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = format!(
        "cluster_id = \"alpha\"\n\
         [coordinator]\naddress = \"{}\"\nkeep_alive_ms = 100\nidle_timeout_ms = 400\n\
         [autoscale]\nscenarios = [\"sudden_spike\"]\nspeedup = 15000.0\nlog_every = 10\n\
         [dqn]\nhidden = [8]\ndropout = [0.0]\n",
        silent.local_addr().unwrap()
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config).unwrap();
    let out = edge_agent(&[
        "federate",
        "--config",
        path.to_str().unwrap(),
        "--intervals",
        "30",
        "--log-format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "autoscaling")
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    for line in &lines {
        assert_eq!(line["fields"]["policy"], "hpa (no model yet)", "{line}");
        assert!(
            line["fields"]["replicas"].as_u64().is_some_and(|r| r >= 1),
            "{line}"
        );
    }
    assert_eq!(lines[2]["fields"]["decisions"], 30);
}

#[test]
fn the_default_run_config_prints_the_experience_retention_limits() {
    let out = edge_agent(&["default-run-config"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "max_bytes = 67108864",
        "max_age_days = 30",
        "segment_bytes = 4194304",
    ] {
        assert!(text.contains(key), "{key} missing from\n{text}");
    }
}
