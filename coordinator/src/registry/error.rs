//! What can go wrong with the registry, each message naming the file involved and what
//! an operator can do about it.

use std::io;
use std::path::PathBuf;

use super::manifest::{FORMAT, version_label, version_name};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file system refused.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `read`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Inspecting a registry that is not there.
    #[error(
        "registry directory {} does not exist; pass the directory the coordinator keeps its models in",
        path.display()
    )]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// A manifest that does not parse or contradicts itself.
    #[error(
        "corrupt manifest {}: {reason}; restore this version from a backup or move its directory out of the registry",
        path.display()
    )]
    CorruptManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Weights of the wrong size or checksum.
    #[error(
        "corrupt weights {}: {reason}; restore this version from a backup or roll back to an intact one",
        path.display()
    )]
    CorruptWeights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest from another build of the registry.
    #[error(
        "{} has manifest format {found}, but this coordinator reads format {FORMAT}; use the coordinator that wrote it",
        path.display()
    )]
    UnsupportedFormat {
        /// The manifest file.
        path: PathBuf,
        /// Its format number.
        found: u32,
    },
    /// Asked for a version the registry does not hold.
    #[error(
        "no version {} in {}; `coordinator models list` shows the versions there are",
        version_name(*.version),
        dir.display()
    )]
    UnknownVersion {
        /// The version asked for.
        version: u64,
        /// The registry.
        dir: PathBuf,
    },
    /// A new version derived from something other than the newest one, e.g. a round
    /// whose base was rolled back while it ran.
    #[error(
        "the new version's parent is {} but the newest fleet version is {}; the registry changed since its base was read",
        version_label(*.parent),
        version_label(*.latest)
    )]
    StaleParent {
        /// The parent the caller named.
        parent: Option<u64>,
        /// The registry's newest fleet-line version.
        latest: Option<u64>,
    },
    /// Weights that do not fit the architecture they are published with.
    #[error("weights have {got} values, but the architecture has {expected} parameters")]
    WrongLength {
        /// The architecture's parameter count.
        expected: u64,
        /// The weights' length.
        got: usize,
    },
    /// Weights no agent could use.
    #[error(
        "weight {index} is NaN or infinite; refusing to publish a model that would break every agent"
    )]
    NonFinite {
        /// Position of the first offending value.
        index: usize,
    },
    /// A manifest that would not read back as written (a NaN or infinite metric becomes
    /// `null` in JSON and then fails to parse).
    #[error(
        "the manifest of {} would not read back as written (a NaN or infinite metric?); refusing to write it",
        version_name(*.version)
    )]
    Unrepresentable {
        /// The version being written.
        version: u64,
    },
    /// Rolling back to the version that is already the newest.
    #[error("{} is already the newest version; nothing to roll back", version_name(*.version))]
    AlreadyLatest {
        /// The version asked for.
        version: u64,
    },
    /// Another process holds the registry's writer lock.
    #[error(
        "registry {} is being written by another process (a running `coordinator serve`, `fine-tune` or `models rollback`); stop it first: one process writes a registry at a time (`models list` and `models show` only read, and work meanwhile)",
        dir.display()
    )]
    Busy {
        /// The registry directory.
        dir: PathBuf,
    },
    /// The version directory appeared while this process was writing it.
    #[error(
        "{} already exists: another process published to this registry; reopen it and retry",
        path.display()
    )]
    AlreadyExists {
        /// The version directory.
        path: PathBuf,
    },
}

impl RegistryError {
    /// An [`Io`](Self::Io) error as a closure for `map_err`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
