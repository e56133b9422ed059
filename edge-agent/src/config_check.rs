//! `edge-agent check-config`: loads a `run` configuration the way `run` does, with its
//! federation file, and reports what a deployment must agree with (the workload it scales,
//! the port it serves, the paths it reads and writes) without touching a cluster. Users
//! run it before a rollout; the manifest tests run the same code on the ConfigMaps in
//! `deploy/`, so a manifest whose configuration the agent would refuse fails in CI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::federate_config::FederateConfig;
use crate::run_config::RunConfig;

/// What a valid `run` configuration commits the deployment to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    /// Namespace of the scaled Deployment: where the agent's workload Role must be.
    pub workload_namespace: String,
    /// The scaled Deployment.
    pub workload_name: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
    /// The experience log's directory: must be writable.
    pub experience_dir: PathBuf,
    /// The federation file, when the agent federates.
    pub federation: Option<PathBuf>,
    /// Namespace and name of the leader-election Lease, when election is on.
    pub lease: Option<(String, String)>,
}

/// What a valid federation file commits the deployment to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederateFacts {
    /// The cluster id its certificate must carry.
    pub cluster_id: String,
    /// `host:port` of the coordinator.
    pub coordinator: String,
    /// The name the coordinator's certificate must carry.
    pub server_name: String,
    /// The fleet CA, the agent's certificate and its key.
    pub ca: PathBuf,
    /// The agent's certificate.
    pub cert: PathBuf,
    /// The agent's private key.
    pub key: PathBuf,
}

/// Loads and validates a `run` configuration (not the files it names), with defaults
/// from this process's environment.
pub fn inspect_run_config(path: &Path) -> anyhow::Result<RunFacts> {
    facts(RunConfig::load(path)?, |name| {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    })
}

/// [`inspect_run_config`] for a process whose environment is `env`, such as a pod's
/// (`POD_NAMESPACE` and `POD_NAME` from the downward API).
pub fn inspect_run_config_with_env(
    path: &Path,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> anyhow::Result<RunFacts> {
    facts(RunConfig::load_with_env(path, env)?, env)
}

fn facts(cfg: RunConfig, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<RunFacts> {
    let lease = cfg
        .leader_election_with(env)?
        .map(|le| (le.namespace, le.lease_name));
    Ok(RunFacts {
        workload_namespace: cfg.target.namespace.clone(),
        workload_name: cfg.target.deployment.clone(),
        listen: cfg.observability.listen,
        experience_dir: cfg.experience.dir.clone(),
        federation: cfg.federation.config.clone(),
        lease,
    })
}

/// Loads and validates a federation file (not the certificates it names).
pub fn inspect_federate_config(path: &Path) -> anyhow::Result<FederateFacts> {
    let cfg = FederateConfig::load(path)?;
    let tls = cfg.tls_files();
    Ok(FederateFacts {
        cluster_id: cfg.cluster_id.clone(),
        coordinator: cfg.coordinator.address.clone(),
        server_name: cfg.coordinator.server_name.clone(),
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
    })
}

/// The whole check `check-config` runs: both files, and the certificates, which must load
/// and name the configured cluster. Returns a summary for the terminal.
pub(crate) fn check(path: &Path) -> anyhow::Result<String> {
    let run = inspect_run_config(path)?;
    let mut summary = format!(
        "{}: scales deployment {}/{}, serves {}, experience in {}",
        path.display(),
        run.workload_namespace,
        run.workload_name,
        run.listen,
        run.experience_dir.display()
    );
    if let Some((namespace, name)) = &run.lease {
        summary.push_str(&format!(
            ", writes only while holding Lease {namespace}/{name}"
        ));
    }
    if let Some(fed_path) = &run.federation {
        let cfg = FederateConfig::load(fed_path)
            .with_context(|| format!("federation.config {}", fed_path.display()))?;
        cfg.load_tls()
            .with_context(|| format!("certificates of {}", fed_path.display()))?;
        summary.push_str(&format!(
            "\n{}: cluster {} federates with {} (certificates load)",
            fed_path.display(),
            cfg.cluster_id,
            cfg.coordinator.address
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_federating_configuration_reports_its_files_and_refuses_missing_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("agent.toml");
        std::fs::write(
            &run,
            "[target]\nnamespace = \"shop\"\ndeployment = \"api\"\n[federation]\nconfig = \"fed.toml\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("fed.toml"),
            "cluster_id = \"east\"\n[tls]\ndir = \"pki\"\n",
        )
        .unwrap();
        let facts = inspect_run_config(&run).unwrap();
        assert_eq!(
            (
                facts.workload_namespace.as_str(),
                facts.workload_name.as_str()
            ),
            ("shop", "api")
        );
        let fed = inspect_federate_config(facts.federation.as_ref().unwrap()).unwrap();
        assert_eq!(fed.cert, dir.path().join("pki/east.pem"));
        let err = format!("{:#}", check(&run).unwrap_err());
        assert!(
            err.contains("certificates of") && err.contains("pki/ca.pem"),
            "{err}"
        );

        let ca = common::transport::certs::DevCa::generate().unwrap();
        let cert = ca
            .issue_client(&common::transport::ClusterId::new("east").unwrap())
            .unwrap();
        let pki = dir.path().join("pki");
        std::fs::create_dir(&pki).unwrap();
        std::fs::write(pki.join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(pki.join("east.pem"), cert.cert_pem()).unwrap();
        std::fs::write(pki.join("east-key.pem"), cert.key_pem()).unwrap();
        let summary = check(&run).unwrap();
        assert!(
            summary.contains("shop/api") && summary.contains("cluster east"),
            "{summary}"
        );
    }
}
