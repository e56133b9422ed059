//! The registry directory: scanning it, publishing into it, rolling back.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::proto::ModelArchitecture;

use super::durable::{sync_dir, write_synced};
use super::error::RegistryError;
use super::manifest::{
    Contributor, FORMAT, MANIFEST_FILE, Manifest, WEIGHTS_FILE, parse_version_name, total_samples,
    version_label, version_name,
};
use super::weights;

/// Prefix of the directory a version is assembled in before it is renamed into place.
/// The leading dot keeps it out of `ls` and out of anything that matches `v*`.
const TEMP_PREFIX: &str = ".tmp-";

/// The file a writer locks (an OS advisory lock, released when the process exits, even
/// by a crash), so a second writer is refused instead of racing the first.
pub(crate) const LOCK_FILE: &str = ".writer.lock";

/// A model to publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewVersion {
    /// The version it derives from. For a fleet version it must still be the newest on
    /// the fleet line: a round names its base here, so that a rollback published while
    /// the round ran is not silently overwritten by weights trained from the old base. A
    /// fine-tune may start from any existing version.
    pub(crate) parent: Option<u64>,
    /// The round that produced it, if any.
    pub(crate) round: Option<u64>,
    /// The weights' shape.
    pub(crate) architecture: ModelArchitecture,
    /// The weights, in parameter order.
    pub(crate) weights: Vec<f32>,
    /// The updates aggregated into it.
    pub(crate) contributors: Vec<Contributor>,
    /// Workload labels.
    pub(crate) tags: Vec<String>,
    /// The publication time, as the caller wants it recorded.
    pub(crate) created_at: String,
    /// `Some(tag)` publishes a transfer fine-tune for that workload, off the fleet line;
    /// see [`Manifest::fine_tuned_for`].
    pub(crate) fine_tuned_for: Option<String>,
}

/// The model registry: one directory per version, each complete or absent.
///
/// A version is assembled in a temporary directory, its files and the directory synced,
/// and then renamed to `v000042`; a crash at any point leaves either no version or a
/// complete one, plus perhaps a temporary directory that the next [`open`](Self::open)
/// removes. One process writes a registry at a time (the coordinator, or the CLI while
/// the coordinator is stopped): [`open`](Self::open) takes a lock on [`LOCK_FILE`] for
/// the registry's life and refuses a second writer, whose cleanup would otherwise
/// delete the first one's publication in flight and whose versions the first would not
/// see until restarted. [`inspect`](Self::inspect) never writes or locks and is safe at
/// any time.
#[derive(Debug)]
pub(crate) struct Registry {
    dir: PathBuf,
    /// The locked [`LOCK_FILE`] of a writer; `None` when only inspecting.
    _writer_lock: Option<fs::File>,
    versions: BTreeMap<u64, Manifest>,
    /// The highest version number with a directory, complete or not, so a new version
    /// never reuses the number of an incomplete one left for an operator to look at.
    highest_seen: u64,
}

impl Registry {
    /// Opens `dir` for writing, creating it if needed, and removes what crashed
    /// publications left behind. Fails, naming the file, if a manifest is corrupt or the
    /// newest version's weights fail their checksum: resuming from an older version
    /// instead would silently discard the fleet's progress.
    pub(crate) fn open(dir: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(RegistryError::io("create", &dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(RegistryError::io("create", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(RegistryError::Busy { dir }),
            Err(fs::TryLockError::Error(e)) => {
                return Err(RegistryError::io("lock", &lock_path)(e));
            }
        }
        Self::scan(dir, Some(lock))
    }

    /// Reads `dir` without changing anything, e.g. for listing while a coordinator runs.
    pub(crate) fn inspect(dir: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(RegistryError::Missing { path: dir });
        }
        Self::scan(dir, None)
    }

    /// Reads the versions in `dir`; a writer (holding `lock`) also removes leftovers.
    fn scan(dir: PathBuf, lock: Option<fs::File>) -> Result<Self, RegistryError> {
        let clean = lock.is_some();
        let mut registry = Self {
            _writer_lock: lock,
            versions: BTreeMap::new(),
            highest_seen: 0,
            dir,
        };
        let entries =
            fs::read_dir(&registry.dir).map_err(RegistryError::io("list", &registry.dir))?;
        for entry in entries {
            let entry = entry.map_err(RegistryError::io("list", &registry.dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !path.is_dir() {
                continue;
            }
            if name.starts_with(TEMP_PREFIX) {
                if clean {
                    registry.remove_leftover(&path);
                }
                continue;
            }
            let Some(version) = parse_version_name(&name) else {
                continue;
            };
            registry.highest_seen = registry.highest_seen.max(version);
            let manifest_path = path.join(MANIFEST_FILE);
            if !manifest_path.exists() {
                // Never produced by `publish`, whose rename is atomic, but a partial copy
                // or restore can leave one; skip it rather than guess what it holds.
                tracing::warn!(
                    path = %path.display(),
                    "ignoring version directory without {MANIFEST_FILE}: it is incomplete"
                );
                continue;
            }
            let manifest = read_manifest(&manifest_path, version)?;
            check_weights_size(&path.join(WEIGHTS_FILE), &manifest)?;
            registry.versions.insert(version, manifest);
        }
        if let Some(latest) = registry.latest_version() {
            registry.load_weights(latest)?;
        }
        Ok(registry)
    }

    fn remove_leftover(&self, path: &Path) {
        match fs::remove_dir_all(path) {
            Ok(()) => tracing::info!(
                path = %path.display(),
                "removed the remains of an unfinished publication"
            ),
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "cannot remove the remains of an unfinished publication"
            ),
        }
    }

    /// The registry's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every complete version, oldest first.
    pub(crate) fn versions(&self) -> impl DoubleEndedIterator<Item = &Manifest> {
        self.versions.values()
    }

    /// The manifest of `version`.
    pub(crate) fn manifest(&self, version: u64) -> Result<&Manifest, RegistryError> {
        self.versions
            .get(&version)
            .ok_or_else(|| RegistryError::UnknownVersion {
                version,
                dir: self.dir.clone(),
            })
    }

    /// The newest complete version, fleet line or fine-tune.
    pub(crate) fn latest(&self) -> Option<&Manifest> {
        self.versions.values().next_back()
    }

    fn latest_version(&self) -> Option<u64> {
        self.versions.keys().next_back().copied()
    }

    /// The newest version on the fleet line (not a fine-tune): what rounds build on and
    /// what a coordinator resumes from.
    pub(crate) fn latest_fleet(&self) -> Option<&Manifest> {
        self.versions
            .values()
            .rev()
            .find(|m| m.fine_tuned_for.is_none())
    }

    /// The newest fine-tune made for one of `workload_tags`: what an agent whose hello
    /// carries those tags should start from instead of the fleet model.
    pub(crate) fn latest_for_workload(&self, workload_tags: &[String]) -> Option<&Manifest> {
        self.versions.values().rev().find(|m| {
            m.fine_tuned_for
                .as_ref()
                .is_some_and(|w| workload_tags.contains(w))
        })
    }

    /// The newest version tagged `tag`, the starting point for a new cluster running
    /// that kind of workload.
    // Not called by the server yet: picking a starting model for a brand-new workload is
    // the transfer fine-tune's job.
    #[allow(dead_code)]
    pub(crate) fn latest_for_tag(&self, tag: &str) -> Option<&Manifest> {
        self.versions
            .values()
            .rev()
            .find(|m| m.tags.iter().any(|t| t == tag))
    }

    /// The highest round any version records, so a restarted coordinator continues the
    /// round numbering instead of repeating it.
    pub(crate) fn last_round(&self) -> Option<u64> {
        self.versions.values().filter_map(|m| m.round).max()
    }

    /// The weights of `version`, verified against the manifest's length and checksum.
    pub(crate) fn load_weights(&self, version: u64) -> Result<Vec<f32>, RegistryError> {
        let manifest = self.manifest(version)?;
        let path = self.dir.join(version_name(version)).join(WEIGHTS_FILE);
        let bytes = fs::read(&path).map_err(RegistryError::io("read", &path))?;
        check_len(&path, bytes.len() as u64, manifest)?;
        let crc = weights::checksum(&bytes);
        if crc != manifest.weights_crc32 {
            return Err(RegistryError::CorruptWeights {
                path,
                reason: format!(
                    "checksum {crc:08x} does not match the manifest's {:08x}",
                    manifest.weights_crc32
                ),
            });
        }
        Ok(weights::decode(&bytes))
    }

    /// Publishes `new` as the next version and returns its manifest.
    pub(crate) fn publish(&mut self, new: NewVersion) -> Result<&Manifest, RegistryError> {
        self.write(new, None)
    }

    /// Republishes the weights of `version` as a new version whose parent is the current
    /// newest. History is never rewritten: every version stays, and the new manifest
    /// records where its weights came from. The source's checksum is verified first, so
    /// a corrupt model is never served again.
    pub(crate) fn rollback(
        &mut self,
        version: u64,
        created_at: impl Into<String>,
    ) -> Result<&Manifest, RegistryError> {
        let source = self.manifest(version)?;
        if self.latest_fleet().map(|m| m.version) == Some(version) {
            return Err(RegistryError::AlreadyLatest { version });
        }
        let new = NewVersion {
            parent: self.latest_fleet().map(|m| m.version),
            round: None,
            architecture: source.architecture.clone(),
            weights: Vec::new(),
            contributors: Vec::new(),
            tags: source.tags.clone(),
            created_at: created_at.into(),
            fine_tuned_for: None,
        };
        let weights = self.load_weights(version)?;
        self.write(NewVersion { weights, ..new }, Some(version))
    }

    fn write(
        &mut self,
        new: NewVersion,
        rolled_back_from: Option<u64>,
    ) -> Result<&Manifest, RegistryError> {
        let latest = self.latest_version();
        if new.fine_tuned_for.is_none() {
            let latest_fleet = self.latest_fleet().map(|m| m.version);
            if new.parent != latest_fleet {
                return Err(RegistryError::StaleParent {
                    parent: new.parent,
                    latest: latest_fleet,
                });
            }
        } else if let Some(parent) = new.parent {
            self.manifest(parent)?;
        }
        let expected = new.architecture.parameter_count;
        if u64::try_from(new.weights.len()).ok() != Some(expected) {
            return Err(RegistryError::WrongLength {
                expected,
                got: new.weights.len(),
            });
        }
        if let Some(index) = new.weights.iter().position(|w| !w.is_finite()) {
            return Err(RegistryError::NonFinite { index });
        }
        let version = self.highest_seen.max(latest.unwrap_or(0)) + 1;
        let weight_bytes = weights::encode(&new.weights);
        let manifest = Manifest {
            format: FORMAT,
            version,
            parent: new.parent,
            round: new.round,
            created_at: new.created_at,
            architecture: new.architecture,
            weights_crc32: weights::checksum(&weight_bytes),
            total_samples: total_samples(&new.contributors),
            contributors: new.contributors,
            tags: new.tags,
            rolled_back_from,
            fine_tuned_for: new.fine_tuned_for,
        };
        let mut json = serde_json::to_vec_pretty(&manifest)
            .map_err(|_| RegistryError::Unrepresentable { version })?;
        json.push(b'\n');
        if serde_json::from_slice::<Manifest>(&json).ok().as_ref() != Some(&manifest) {
            return Err(RegistryError::Unrepresentable { version });
        }
        self.write_version_dir(version, &weight_bytes, &json)?;
        tracing::info!(
            version = %version_name(version),
            parent = %version_label(manifest.parent),
            round = manifest.round,
            contributors = manifest.contributors.len(),
            rolled_back_from = manifest.rolled_back_from.map(version_name),
            "published model version"
        );
        self.highest_seen = version;
        Ok(self.versions.entry(version).or_insert(manifest))
    }

    /// Assembles the version in a temporary directory and renames it into place, removing
    /// the temporary directory again if anything fails on the way.
    fn write_version_dir(
        &self,
        version: u64,
        weight_bytes: &[u8],
        manifest_json: &[u8],
    ) -> Result<(), RegistryError> {
        let target = self.dir.join(version_name(version));
        if target.exists() {
            return Err(RegistryError::AlreadyExists { path: target });
        }
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{}",
            version_name(version),
            std::process::id()
        ));
        if temp.exists() {
            fs::remove_dir_all(&temp).map_err(RegistryError::io("remove", &temp))?;
        }
        fs::create_dir(&temp).map_err(RegistryError::io("create", &temp))?;
        let result = (|| {
            let weights_path = temp.join(WEIGHTS_FILE);
            write_synced(&weights_path, weight_bytes)
                .map_err(RegistryError::io("write", &weights_path))?;
            let manifest_path = temp.join(MANIFEST_FILE);
            write_synced(&manifest_path, manifest_json)
                .map_err(RegistryError::io("write", &manifest_path))?;
            sync_dir(&temp).map_err(RegistryError::io("sync", &temp))?;
            // Renaming onto a directory that is not empty fails, so a version another
            // process published meanwhile is never replaced.
            fs::rename(&temp, &target).map_err(|source| {
                if target.exists() {
                    RegistryError::AlreadyExists {
                        path: target.clone(),
                    }
                } else {
                    RegistryError::io("rename into", &target)(source)
                }
            })
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&temp);
        }
        result?;
        sync_dir(&self.dir).map_err(RegistryError::io("sync", &self.dir))
    }
}

/// Parses and sanity-checks one manifest. JSON has no checksum of its own, so the checks
/// are that it parses, that nothing is missing, and that its fields agree with its
/// directory and with each other.
fn read_manifest(path: &Path, version: u64) -> Result<Manifest, RegistryError> {
    let text = fs::read(path).map_err(RegistryError::io("read", path))?;
    let corrupt = |reason: String| RegistryError::CorruptManifest {
        path: path.to_owned(),
        reason,
    };
    // Read the format first, so a newer layout is reported as such and not as damage.
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .map_err(|e| corrupt(format!("not JSON: {e}")))?
        .get("format")
        .and_then(serde_json::Value::as_u64);
    if let Some(found) = format.filter(|&f| f != u64::from(FORMAT)) {
        return Err(RegistryError::UnsupportedFormat {
            path: path.to_owned(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if manifest.version != version {
        return Err(corrupt(format!(
            "it says version {} but sits in {}",
            manifest.version,
            version_name(version)
        )));
    }
    if manifest.parent.is_some_and(|p| p >= version) {
        return Err(corrupt(format!(
            "its parent {:?} is not older than the version itself",
            manifest.parent
        )));
    }
    if manifest.total_samples != total_samples(&manifest.contributors) {
        return Err(corrupt(format!(
            "total_samples {} is not the sum of its contributors' sample counts",
            manifest.total_samples
        )));
    }
    Ok(manifest)
}

fn check_weights_size(path: &Path, manifest: &Manifest) -> Result<(), RegistryError> {
    let len = fs::metadata(path)
        .map_err(|e| RegistryError::CorruptWeights {
            path: path.to_owned(),
            reason: format!("cannot read it: {e}"),
        })?
        .len();
    check_len(path, len, manifest)
}

fn check_len(path: &Path, len: u64, manifest: &Manifest) -> Result<(), RegistryError> {
    let params = manifest.architecture.parameter_count;
    if Some(len) != params.checked_mul(4) {
        return Err(RegistryError::CorruptWeights {
            path: path.to_owned(),
            reason: format!(
                "{len} bytes, but {params} f32 parameters take {}",
                params.saturating_mul(4)
            ),
        });
    }
    Ok(())
}
