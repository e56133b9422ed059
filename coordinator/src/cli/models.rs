//! `coordinator models`: the operator's view of the model registry.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, Table};

use crate::registry::error::RegistryError;
use crate::registry::manifest::{Manifest, rfc3339, version_label, version_name};
use crate::registry::store::Registry;

/// Arguments of `coordinator models`.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// The registry directory (the coordinator's model store).
    #[arg(long, env = "COORDINATOR_REGISTRY", value_name = "DIR")]
    registry: PathBuf,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List every version, oldest first: parent, round, contributors, samples, creation time.
    List,
    /// Print a version's manifest as JSON.
    Show {
        /// The version: `42`, `v42` or `v000042`.
        #[arg(value_parser = parse_version)]
        version: u64,
    },
    /// Publish an earlier version's weights again, as a new newest version.
    ///
    /// Nothing is deleted: the new version's parent is the current newest one and its
    /// manifest records `rolled_back_from`. The old weights' checksum is verified first.
    /// Stop the coordinator before rolling back; it picks the new version up when it
    /// starts.
    Rollback {
        /// The version whose weights to republish: `42`, `v42` or `v000042`.
        #[arg(value_parser = parse_version)]
        version: u64,
    },
}

/// Runs `coordinator models …`.
pub(crate) fn run(args: ModelsArgs) -> anyhow::Result<()> {
    match args.command {
        ModelsCommand::List => {
            let registry = Registry::inspect(&args.registry)?;
            if registry.latest().is_none() {
                println!("no model versions in {}", registry.dir().display());
            } else {
                print!("{}", table(registry.versions()));
            }
        }
        ModelsCommand::Show { version } => {
            let registry = Registry::inspect(&args.registry)?;
            let manifest = registry.manifest(version)?;
            println!("{}", serde_json::to_string_pretty(manifest)?);
        }
        ModelsCommand::Rollback { version } => {
            // `open` would create a missing directory; a typo must not become a registry.
            if !args.registry.is_dir() {
                return Err(RegistryError::Missing {
                    path: args.registry,
                }
                .into());
            }
            let mut registry = Registry::open(&args.registry)?;
            let created = registry
                .rollback(version, now_rfc3339()?)
                .with_context(|| format!("cannot roll back to {}", version_name(version)))?;
            println!(
                "published {}: the weights of {} on top of {}",
                version_name(created.version),
                version_name(version),
                version_label(created.parent)
            );
        }
    }
    Ok(())
}

fn table<'a>(versions: impl Iterator<Item = &'a Manifest>) -> String {
    let dash = || "-".to_owned();
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY);
    t.set_header([
        "version",
        "parent",
        "round",
        "contributors",
        "samples",
        "created",
        "tags",
        "note",
    ]);
    for m in versions {
        t.add_row([
            version_name(m.version),
            m.parent.map_or_else(dash, version_name),
            m.round.map_or_else(dash, |r| r.to_string()),
            m.contributors.len().to_string(),
            m.total_samples.to_string(),
            m.created_at.clone(),
            m.tags.join(","),
            note(m),
        ]);
    }
    for i in [2, 3, 4] {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = t.to_string();
    out.push('\n');
    out
}

/// What kind of version it is, when it is not a plain round result.
fn note(m: &Manifest) -> String {
    if let Some(v) = m.rolled_back_from {
        format!("rollback of {}", version_name(v))
    } else if let Some(workload) = &m.fine_tuned_for {
        format!("fine-tune for {workload}")
    } else {
        String::new()
    }
}

/// Accepts what an operator is likely to type or paste from `list`.
fn parse_version(s: &str) -> Result<u64, String> {
    s.strip_prefix('v')
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("`{s}` is not a version; expected e.g. 42, v42 or v000042"))
}

/// The current time for a manifest, in UTC to the second.
pub(super) fn now_rfc3339() -> anyhow::Result<String> {
    rfc3339(SystemTime::now()).context("the system clock is before 1970 or out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_every_form_list_prints() {
        assert_eq!(parse_version("42"), Ok(42));
        assert_eq!(parse_version("v42"), Ok(42));
        assert_eq!(parse_version("v000042"), Ok(42));
        assert!(parse_version("latest").unwrap_err().contains("`latest`"));
        assert!(parse_version("-1").is_err());
    }
}
