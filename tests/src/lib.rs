//! Helpers for the end-to-end tests in `tests/tests/`: they run the workspace's binaries
//! as separate processes, exactly as a user would, and the services they stand in for a
//! real cluster ([`kube_emulator`]).

pub mod cluster_world;
pub mod kube_emulator;
pub mod ports;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of a binary built by this workspace (`target/<profile>/<name>`), found beside the
/// running test executable so it works for any profile and target directory.
///
/// # Panics
/// If the binary has not been built; `cargo test --workspace` builds it because the
/// binary's own package has integration tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace` or run `cargo test --workspace`",
        path.display()
    );
    path
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The shared trace directory that sits beside the checkout.
pub fn shared_traces() -> PathBuf {
    workspace_root().join("../shared/traces")
}

/// Runs `edge-agent` with `args` from the workspace root.
pub fn edge_agent(args: &[&str]) -> Output {
    Command::new(bin("edge-agent"))
        .args(args)
        .current_dir(workspace_root())
        .env_remove("EDGE_AGENT_CONFIG")
        .output()
        .expect("run edge-agent")
}

/// Runs `edge-agent` and parses its JSON output, failing with its stderr if it fails.
pub fn edge_agent_json(args: &[&str]) -> serde_json::Value {
    let out = edge_agent(args);
    assert!(
        out.status.success(),
        "edge-agent {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A real Prometheus process on loopback, for tests of the agent's metrics path.
pub mod prometheus;
/// A simulator-driven workload served as the metrics a real cluster's exporters publish.
pub mod workload_exporter;
