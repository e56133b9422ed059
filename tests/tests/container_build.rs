//! The container build, checked without a Docker engine (none runs on these machines):
//! the Dockerfile's stages copy binaries the workspace really builds, its base images are
//! pinned, its builder is new enough for the workspace's `rust-version`, its runtime user
//! and ports are the ones the manifests run and probe, and every image reference in
//! `deploy/` and the docs carries the workspace version.

// Helpers of the tests below: a panic is how they report a broken manifest.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rl_autoscaler_tests::workspace_root;
use serde_json::Value;

/// One `FROM … AS name` stage and the instructions under it.
#[derive(Debug)]
struct Stage {
    image: String,
    name: String,
    lines: Vec<String>,
}

/// The Dockerfile's stages, continuation lines joined.
fn stages() -> Vec<Stage> {
    let text = std::fs::read_to_string(workspace_root().join("Dockerfile")).unwrap();
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            joined.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in joined {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0] == "FROM" {
            assert_eq!(words.len(), 4, "FROM without a stage name: {line}");
            assert_eq!(words[2], "AS", "{line}");
            stages.push(Stage {
                image: words[1].to_owned(),
                name: words[3].to_owned(),
                lines: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("an instruction before FROM")
                .lines
                .push(line);
        }
    }
    stages
}

/// The workspace's binary targets, by package, from `cargo metadata`.
fn workspace_binaries() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let bins = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), bins)
        })
        .collect()
}

fn yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    use serde::Deserialize;
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn each_image_stage_copies_a_binary_the_workspace_builds() {
    let stages = stages();
    let bins = workspace_binaries();
    let build = stages
        .iter()
        .find(|s| s.name == "build")
        .expect("a build stage");
    let cargo = build
        .lines
        .iter()
        .find(|l| l.contains("cargo build"))
        .expect("cargo build in the build stage");
    assert!(
        cargo.contains("--release") && cargo.contains("--locked"),
        "{cargo}"
    );
    for image in ["edge-agent", "coordinator"] {
        let stage = stages
            .iter()
            .find(|s| s.name == image)
            .unwrap_or_else(|| panic!("no stage {image}"));
        assert!(
            cargo.contains(&format!("-p {image}")),
            "the build stage does not build package {image}: {cargo}"
        );
        assert!(
            bins.get(image)
                .is_some_and(|b| b.iter().any(|b| b == image)),
            "package {image} has no binary {image}: {bins:?}"
        );
        assert!(
            cargo.contains(&format!("target/release/{image}")),
            "the build stage does not keep target/release/{image}"
        );
        let copy = format!("COPY --from=build /out/{image} /usr/local/bin/{image}");
        assert!(stage.lines.contains(&copy), "stage {image} lacks `{copy}`");
        let entry = format!("ENTRYPOINT [\"/usr/local/bin/{image}\"]");
        assert!(
            stage.lines.contains(&entry),
            "stage {image} lacks `{entry}`"
        );
    }
}

#[test]
fn base_images_are_pinned_and_the_builder_meets_the_rust_version() {
    let manifest: toml::Table = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let wanted = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap()).collect() };
    for stage in stages() {
        let (repo, tag) = stage
            .image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{} has no tag", stage.image));
        assert_ne!(tag, "latest", "{} is not pinned", stage.image);
        assert!(
            repo.contains('/') && repo.contains('.'),
            "{} names no registry",
            stage.image
        );
        if repo.ends_with("/rust") {
            let toolchain = tag.split('-').next().unwrap();
            assert!(
                version(toolchain) >= version(&wanted),
                "builder rust {toolchain} is older than rust-version {wanted}"
            );
        }
    }
}

#[test]
fn runtime_user_and_ports_are_what_the_manifests_run() {
    let stages = stages();
    let deploy = workspace_root().join("deploy/base");
    for (image, file, ports) in [
        ("edge-agent", "agent/daemonset.yaml", vec!["9464/tcp"]),
        (
            "coordinator",
            "coordinator/deployment.yaml",
            vec!["4433/udp", "9465/tcp"],
        ),
    ] {
        let stage = stages.iter().find(|s| s.name == image).unwrap();
        let user = stage
            .lines
            .iter()
            .find_map(|l| l.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("stage {image} sets no USER"));
        let uid: u64 = user.split(':').next().unwrap().parse().unwrap();
        assert_ne!(uid, 0, "stage {image} runs as root");
        let workload = &yaml(&deploy.join(file))[0];
        let pod = &workload["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsUser"].as_u64(),
            Some(uid),
            "{file}"
        );
        let exposed: Vec<String> = stage
            .lines
            .iter()
            .filter_map(|l| l.strip_prefix("EXPOSE "))
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect();
        let declared: Vec<String> = pod["containers"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p["containerPort"],
                    p["protocol"].as_str().unwrap_or("TCP").to_lowercase()
                )
            })
            .collect();
        assert_eq!(exposed, ports, "stage {image} EXPOSE");
        assert_eq!(declared, ports, "{file} container ports");
    }
}

#[test]
fn every_image_reference_carries_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    let root = workspace_root();
    let mut kustomizations = Vec::new();
    let mut stack = vec![root.join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                kustomizations.push(path);
            }
        }
    }
    let mut ours = 0;
    for k in &kustomizations {
        for image in yaml(k)[0]["images"].as_array().into_iter().flatten() {
            let name = image["newName"].as_str().unwrap_or_default();
            if let Some(stage) = name.strip_prefix("ghcr.io/rl-autoscaler/") {
                assert!(
                    ["edge-agent", "coordinator"].contains(&stage),
                    "{}: no Dockerfile stage builds {name}",
                    k.display()
                );
                assert_eq!(image["newTag"], version, "{}: tag of {name}", k.display());
                ours += 1;
            }
        }
    }
    assert!(
        ours >= 2,
        "the edge-agent and coordinator images are named somewhere"
    );
    // The build commands people copy from the Dockerfile and the deploy guide.
    for doc in ["Dockerfile", "deploy/README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for (i, _) in text.match_indices("ghcr.io/rl-autoscaler/") {
            let reference: String = text[i..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '`' && *c != '"')
                .collect();
            assert!(
                reference.ends_with(&format!(":{version}")) || !reference.contains(':'),
                "{doc}: {reference} does not carry version {version}"
            );
        }
    }
}

#[test]
fn the_build_context_leaves_out_build_output_and_keys() {
    let ignore = std::fs::read_to_string(workspace_root().join(".dockerignore")).unwrap();
    for entry in ["target/", "**/certs/"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}
