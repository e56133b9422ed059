//! `coordinator certs`: writes a development fleet CA and the certificates the transport
//! expects, so a fleet can be tried on a laptop or a test cluster without a PKI.
//!
//! Everything is generated in memory before the first file is written, and no existing
//! file is replaced without `--force`: regenerating a CA by accident would silently lock
//! every deployed agent out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use common::transport::ClusterId;
use common::transport::certs::DevCa;

/// The name a coordinator Service in the `rl-system` namespace is reached by in-cluster.
const DEFAULT_SERVER_NAME: &str = "coordinator.rl-system.svc";

/// Options of `coordinator certs`.
#[derive(Debug, Args)]
pub(crate) struct CertsArgs {
    /// Directory to write into; created if missing.
    #[arg(long, value_name = "DIR", env = "COORDINATOR_CERTS_OUT")]
    out: PathBuf,
    /// Cluster ids, comma-separated: one client certificate each. DNS labels (lowercase
    /// letters, digits, '-'), e.g. eu-west-1.
    #[arg(
        long,
        value_name = "ID,...",
        value_delimiter = ',',
        required = true,
        env = "COORDINATOR_CERTS_CLUSTERS"
    )]
    clusters: Vec<String>,
    /// The name agents dial the coordinator by: the server certificate's first name.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SERVER_NAME, env = "COORDINATOR_CERTS_SERVER_NAME")]
    server_name: String,
    /// More names for the server certificate, DNS names or IP addresses (repeatable or
    /// comma-separated), e.g. `--san localhost --san 127.0.0.1` for local runs.
    #[arg(
        long = "san",
        value_name = "NAME",
        value_delimiter = ',',
        env = "COORDINATOR_CERTS_SANS"
    )]
    sans: Vec<String>,
    /// Replace existing files instead of refusing.
    #[arg(long, env = "COORDINATOR_CERTS_FORCE")]
    force: bool,
}

/// One file to write.
struct Output {
    name: String,
    contents: String,
    /// Private keys are readable by the owner only.
    secret: bool,
}

pub(crate) fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let clusters = parse_clusters(&args.clusters)?;
    let mut names = vec![args.server_name.clone()];
    for san in &args.sans {
        if !names.contains(san) {
            names.push(san.clone());
        }
    }
    let planned = file_names(&clusters)?;
    if !args.force {
        refuse_existing(&args.out, &planned)?;
    }

    let ca = DevCa::generate()?;
    let server = ca.issue_server(&names)?;
    let mut outputs = vec![
        Output::public("ca.pem", ca.cert_pem()),
        Output::secret("ca-key.pem", ca.key_pem()),
        Output::public("server.pem", server.cert_pem().to_owned()),
        Output::secret("server-key.pem", server.key_pem()),
    ];
    for cluster in &clusters {
        let client = ca.issue_client(cluster)?;
        outputs.push(Output::public(
            &format!("{cluster}.pem"),
            client.cert_pem().to_owned(),
        ));
        outputs.push(Output::secret(
            &format!("{cluster}-key.pem"),
            client.key_pem(),
        ));
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for output in &outputs {
        write(&args.out.join(&output.name), output, args.force)?;
    }

    let mut summary = vec![
        (
            "ca.pem, ca-key.pem".to_owned(),
            "development fleet CA (keep the key off the clusters)".to_owned(),
        ),
        (
            "server.pem, server-key.pem".to_owned(),
            format!("coordinator, valid for {}", names.join(", ")),
        ),
    ];
    for cluster in &clusters {
        summary.push((
            format!("{cluster}.pem, {cluster}-key.pem"),
            format!("agent of cluster `{cluster}`"),
        ));
    }
    let width = summary
        .iter()
        .map(|(files, _)| files.len())
        .max()
        .unwrap_or(0);
    println!("wrote to {}:", args.out.display());
    for (files, what) in summary {
        println!("  {files:width$}  {what}");
    }
    println!(
        "the coordinator needs ca.pem, server.pem and server-key.pem; each agent needs ca.pem and its cluster's pair"
    );
    eprintln!(
        "WARNING: these are development certificates. Anyone holding ca-key.pem can mint a \
         certificate for any cluster, and nothing can revoke one that leaks. Production fleets \
         should issue from their own PKI (e.g. cert-manager): agent certificates with extended \
         key usage clientAuth and the URI SAN spiffe://rl-autoscaler/cluster/<id>, a serverAuth \
         certificate for the name agents dial."
    );
    Ok(())
}

impl Output {
    fn public(name: &str, contents: String) -> Self {
        Self {
            name: name.to_owned(),
            contents,
            secret: false,
        }
    }

    fn secret(name: &str, contents: String) -> Self {
        Self {
            name: name.to_owned(),
            contents,
            secret: true,
        }
    }
}

/// Validates the ids; a duplicate is refused rather than merged because it usually is a
/// typo for another cluster.
fn parse_clusters(raw: &[String]) -> anyhow::Result<Vec<ClusterId>> {
    let mut seen = BTreeSet::new();
    let mut clusters = Vec::with_capacity(raw.len());
    for id in raw {
        let cluster = ClusterId::new(id.trim())?;
        if !seen.insert(cluster.clone()) {
            bail!("cluster `{cluster}` is listed twice in --clusters");
        }
        clusters.push(cluster);
    }
    Ok(clusters)
}

/// Every file the command writes, refusing ids whose files would overwrite another's
/// (`ca`, `server`, or `x` next to `x-key`).
fn file_names(clusters: &[ClusterId]) -> anyhow::Result<Vec<String>> {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let fixed = [
        ("ca.pem", "the CA"),
        ("ca-key.pem", "the CA"),
        ("server.pem", "the server"),
        ("server-key.pem", "the server"),
    ];
    for (name, owner) in fixed {
        owners.insert(name.into(), owner.into());
    }
    for cluster in clusters {
        for name in [format!("{cluster}.pem"), format!("{cluster}-key.pem")] {
            let owner = format!("cluster `{cluster}`");
            if let Some(other) = owners.insert(name.clone(), owner.clone()) {
                bail!("{owner} and {other} would both write {name}; rename one of the clusters");
            }
        }
    }
    Ok(owners.into_keys().collect())
}

fn refuse_existing(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    let existing: Vec<&str> = names
        .iter()
        .filter(|name| dir.join(name).exists())
        .map(String::as_str)
        .collect();
    if !existing.is_empty() {
        bail!(
            "refusing to overwrite {} in {}; pass --force to replace them (agents holding certificates of the old CA will then be refused)",
            existing.join(", "),
            dir.display()
        );
    }
    Ok(())
}

/// Creates `path` afresh, so a key file is never, even briefly, readable with the
/// permissions of a file it replaces.
fn write(path: &Path, output: &Output, force: bool) -> anyhow::Result<()> {
    if force {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
        }
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if output.secret { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(output.contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[&str]) -> anyhow::Result<Vec<ClusterId>> {
        parse_clusters(&raw.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn cluster_ids_are_validated_and_unique() {
        assert_eq!(ids(&["a", " b "]).unwrap().len(), 2);
        let err = ids(&["Alpha"]).unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
        let err = ids(&["a", "a"]).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn ids_whose_files_collide_are_refused() {
        for clash in [&["ca"][..], &["server"], &["alpha", "alpha-key"]] {
            let err = file_names(&ids(clash).unwrap()).unwrap_err().to_string();
            assert!(err.contains("would both write"), "{clash:?}: {err}");
        }
        let names = file_names(&ids(&["alpha"]).unwrap()).unwrap();
        assert_eq!(names.len(), 6);
    }
}
