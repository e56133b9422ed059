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
