//! The model store: the directory a running agent loads its model from, which `retrain`
//! promotes candidates into and `rollback-model` rolls back.
//!
//! ```text
//! STORE/
//!   current  -> versions/v000007     the model in service (a TrainedModel directory)
//!   previous -> versions/v000006     the one before, for an instant rollback
//!   versions/v000006/ v000007/       model directories, never changed once written
//!   decisions.jsonl                  one JSON line per verdict, appended
//!   .writer.lock                     held by the one process changing the store
//! ```
//!
//! `current` and `previous` are symbolic links to immutable version directories, so every
//! change is one `rename(2)` of a link over another, which is atomic: a crash at any point
//! leaves `current` pointing at a complete model, old or new. A version is written into a
//! temporary directory, its files and the directory fsynced, and only then renamed into
//! place; links are replaced the same way, and the store directory is fsynced after each
//! step. Promotion moves `previous` first and `current` second, so a crash between the two
//! leaves the old model in service (and as `previous`): the promotion simply did not
//! happen. Versions no link points at are deleted after a promotion.
//!
//! Readers resolve `current` once ([`ModelStore::current_dir`]) and read the version
//! directory, so a promotion during a load never mixes the files of two models. When the
//! store has no `current` the model in service is the configured one: the shipped default
//! for the algorithm.
//!
//! Links need a Unix filesystem, which is where the agent runs (a Linux container and its
//! volume); elsewhere promotion and rollback report the platform as unsupported.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::rl::artifact::{Algo, ArtifactError, TrainedModel};
use serde::{Deserialize, Serialize};

/// The link to the model in service.
pub(crate) const CURRENT: &str = "current";
/// The link to the model before it.
pub(crate) const PREVIOUS: &str = "previous";
/// The directory of model versions.
pub(crate) const VERSIONS: &str = "versions";
/// The verdict log.
pub(crate) const DECISIONS: &str = "decisions.jsonl";
/// The file a writer locks (an OS advisory lock, released when the process exits, crash
/// included), so two `retrain`s (an overlapping CronJob) or a `rollback-model` during a
/// `retrain` cannot interleave their steps. Agents only read and never take it.
pub(crate) const LOCK_FILE: &str = ".writer.lock";

/// Cost and SLO compliance of one policy, as the verdict log keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Figures {
    /// Mean cost of a run of the held-back slice.
    pub(crate) cost: f64,
    /// Mean fraction of its intervals that met the SLO.
    pub(crate) slo_compliance: f64,
}

/// One line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DecisionRecord {
    /// Unix second of the decision (the caller's clock).
    pub(crate) at_s: u64,
    /// The learner.
    pub(crate) algo: Algo,
    /// The candidate's figures.
    pub(crate) candidate: Figures,
    /// The current policy's figures.
    pub(crate) current: Figures,
    /// The HPA's figures.
    pub(crate) hpa: Figures,
    /// Whether the candidate was promoted.
    pub(crate) promoted: bool,
    /// The version it became, when promoted.
    pub(crate) version: Option<String>,
    /// The gate's reason.
    pub(crate) reason: String,
    /// Unix second of the newest recorded sample the verdict saw: where the next "every
    /// N hours of recorded traffic" counts from. Absent in lines written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recorded_until_s: Option<u64>,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// A file or directory could not be read or written.
    #[error("model store: {path}: {source}")]
    Io {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A model could not be read or written.
    #[error("model store: {0}")]
    Model(#[from] ArtifactError),
    /// The store's model is another learner's.
    #[error(
        "model store {path} holds a {found} model, not {wanted}: use --algo {found}, or another store per learner"
    )]
    WrongAlgo {
        /// The version directory.
        path: PathBuf,
        /// What it holds.
        found: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
    /// Rollback without anything to roll back.
    #[error("model store {0}: nothing to roll back: no model was ever promoted")]
    NothingToRollBack(PathBuf),
    /// Another process is changing the store.
    #[error(
        "model store {0} is in use by another `retrain` or `rollback-model`; try again when it has finished"
    )]
    Busy(PathBuf),
    /// `current` or `previous` is not a link the store made.
    #[error(
        "model store: {0} is not a link made by the store; move it aside (its model can be promoted again with `retrain`)"
    )]
    NotALink(PathBuf),
    /// A decision line is not JSON.
    #[error("model store: {path} line {line}: {reason}")]
    Log {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Flushes a file or directory to disk.
fn fsync(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// The version directory the link `name` in the store `dir` points at, if it exists.
fn resolve_link(dir: &Path, name: &str) -> Result<Option<PathBuf>, StoreError> {
    let link = dir.join(name);
    match std::fs::symlink_metadata(&link) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&link)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(&link).map_err(io(&link))?;
            Ok(Some(dir.join(target)))
        }
        // A model directory put there by hand still loads; it just cannot be moved.
        Ok(m) if m.is_dir() => Ok(Some(link)),
        Ok(_) => Err(StoreError::NotALink(link)),
    }
}

/// The version directory the store in `dir` serves as `current`, read without the
/// writer's lock: what a running agent checks every interval, while `retrain` may hold
/// the store open. Versions are complete before a link points at them and never change
/// after, so whatever this returns loads whole (unless a later promotion has since
/// collected it, which the next check sees). `None` before any promotion, after rolling
/// the first one back, and while the store does not exist yet.
pub(crate) fn current_version_dir(dir: &Path) -> Result<Option<PathBuf>, StoreError> {
    resolve_link(dir, CURRENT)
}

/// The number of a store version directory (`…/versions/v000012` is 12), for the
/// `rl_agent_model_version` gauge.
pub(crate) fn version_number_of(dir: &Path) -> Option<u64> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(version_number)
}

/// Reads the verdicts `retrain` appends to a store's `decisions.jsonl`, each once, without
/// the writer's lock: how a running agent turns them into metrics. Only whole lines are
/// taken, so a line being appended is read at the next call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DecisionTail {
    /// Bytes of the log already read.
    offset: u64,
}

impl DecisionTail {
    /// The verdicts appended to the log of the store in `dir` since the last call (all of
    /// them at the first), and how many whole lines were not verdicts (skipped, so a
    /// damaged line is reported once rather than at every call).
    pub(crate) fn read_new(
        &mut self,
        dir: &Path,
    ) -> Result<(Vec<DecisionRecord>, usize), StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = dir.join(DECISIONS);
        let mut file = match File::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            other => other.map_err(io(&path))?,
        };
        let len = file.metadata().map_err(io(&path))?.len();
        if len < self.offset {
            // Replaced by a shorter log: start again.
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io(&path))?;
        let mut text = String::new();
        file.take(len - self.offset)
            .read_to_string(&mut text)
            .map_err(io(&path))?;
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        let mut out = Vec::new();
        let mut skipped = 0;
        for line in text[..whole].lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(record) => out.push(record),
                Err(_) => skipped += 1,
            }
        }
        self.offset += whole as u64;
        Ok((out, skipped))
    }
}

/// Where the model in service comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A version in the store.
    Store(PathBuf),
    /// The shipped default for the algorithm (nothing promoted yet).
    Shipped,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Store(p) => write!(f, "{}", p.display()),
            Source::Shipped => f.write_str("the shipped default"),
        }
    }
}

/// A model store directory, open for writing.
#[derive(Debug)]
pub(crate) struct ModelStore {
    dir: PathBuf,
    /// The locked [`LOCK_FILE`], held while the store is open.
    _writer_lock: File,
}

impl ModelStore {
    /// Opens the store in `dir` for writing, creating it (and `versions/`) if needed;
    /// refused while another process has it open.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let versions = dir.join(VERSIONS);
        std::fs::create_dir_all(&versions).map_err(io(&versions))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        Ok(Self {
            dir: dir.to_owned(),
            _writer_lock: lock,
        })
    }

    /// The store directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version directory the link `name` points at, if it exists.
    fn resolve(&self, name: &str) -> Result<Option<PathBuf>, StoreError> {
        resolve_link(&self.dir, name)
    }

    /// The directory of the model in service, resolved once; `None` before any promotion.
    pub(crate) fn current_dir(&self) -> Result<Option<PathBuf>, StoreError> {
        self.resolve(CURRENT)
    }

    /// The directory of the model before it.
    pub(crate) fn previous_dir(&self) -> Result<Option<PathBuf>, StoreError> {
        self.resolve(PREVIOUS)
    }

    /// The model in service for `algo`, and where it came from: the store's `current`, or
    /// the shipped default when nothing was promoted. A store holding another learner's
    /// model is an error, not a silent fallback.
    pub(crate) fn load_current(&self, algo: Algo) -> Result<(Source, TrainedModel), StoreError> {
        match self.current_dir()? {
            None => Ok((Source::Shipped, common::rl::defaults::load(algo)?)),
            Some(dir) => {
                let model = TrainedModel::load(&dir)?;
                if model.manifest.algo != algo {
                    return Err(StoreError::WrongAlgo {
                        path: dir,
                        found: model.manifest.algo.name(),
                        wanted: algo.name(),
                    });
                }
                Ok((Source::Store(dir), model))
            }
        }
    }

    /// The version names present, oldest first.
    fn versions(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.dir.join(VERSIONS);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let name = entry.map_err(io(&dir))?.file_name();
            let name = name.to_string_lossy();
            if version_number(&name).is_some() {
                names.push(name.into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Writes `model` as a new version and makes it current, the old current becoming
    /// previous. Returns the new version's name.
    pub(crate) fn promote(&self, model: &TrainedModel) -> Result<String, StoreError> {
        let versions_dir = self.dir.join(VERSIONS);
        self.remove_temporaries()?;
        let next = self
            .versions()?
            .iter()
            .filter_map(|v| version_number(v))
            .max()
            .map_or(1, |n| n + 1);
        let name = format!("v{next:06}");
        let tmp = versions_dir.join(format!(".tmp-{name}"));
        model.save(&tmp)?;
        for entry in std::fs::read_dir(&tmp).map_err(io(&tmp))? {
            fsync(&entry.map_err(io(&tmp))?.path())?;
        }
        fsync(&tmp)?;
        let final_dir = versions_dir.join(&name);
        std::fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
        fsync(&versions_dir)?;
        let old = self.link_target(CURRENT)?;
        if let Some(old) = old {
            self.set_link(PREVIOUS, Some(&old))?;
        }
        self.set_link(CURRENT, Some(&Path::new(VERSIONS).join(&name)))?;
        self.collect_garbage()?;
        Ok(name)
    }

    /// Makes `previous` current again (the very same files) and the rolled-back model
    /// previous, so a second rollback undoes the first. With no `previous` the model
    /// before the first promotion was the shipped default: `current` is removed, and the
    /// agent falls back to it. Returns where the model in service now comes from.
    pub(crate) fn rollback(&self) -> Result<Source, StoreError> {
        let current = self.link_target(CURRENT)?;
        let previous = self.link_target(PREVIOUS)?;
        if current.is_none() && previous.is_none() {
            return Err(StoreError::NothingToRollBack(self.dir.clone()));
        }
        // The rollback takes effect first; the link that makes it undoable follows.
        self.set_link(CURRENT, previous.as_deref())?;
        self.set_link(PREVIOUS, current.as_deref())?;
        Ok(match previous {
            Some(p) => Source::Store(self.dir.join(p)),
            None => Source::Shipped,
        })
    }

    /// Appends one verdict to `decisions.jsonl` and flushes it to disk.
    pub(crate) fn append_decision(&self, record: &DecisionRecord) -> Result<(), StoreError> {
        let path = self.dir.join(DECISIONS);
        let mut line = serde_json::to_string(record).map_err(|e| StoreError::Log {
            path: path.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        // One write of the whole line: a crash can only tear the last line.
        file.write_all(line.as_bytes()).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))
    }

    /// Every verdict logged, oldest first. A torn last line (a crash while appending) is
    /// skipped; a broken line anywhere else is an error. (Tests read the log through this;
    /// operators read the JSON lines with their own tools.)
    #[cfg(test)]
    pub(crate) fn decisions(&self) -> Result<Vec<DecisionRecord>, StoreError> {
        let path = self.dir.join(DECISIONS);
        let text = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(io(&path))?,
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(r) => out.push(r),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                Err(e) => {
                    return Err(StoreError::Log {
                        path,
                        line: i + 1,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// What the link `name` says, relative to the store; `None` if there is no link.
    fn link_target(&self, name: &str) -> Result<Option<PathBuf>, StoreError> {
        let link = self.dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&link)(e)),
            Ok(m) if m.file_type().is_symlink() => {
                Ok(Some(std::fs::read_link(&link).map_err(io(&link))?))
            }
            Ok(_) => Err(StoreError::NotALink(link)),
        }
    }

    /// Points the link `name` at `target` (relative to the store), or removes it; atomic.
    fn set_link(&self, name: &str, target: Option<&Path>) -> Result<(), StoreError> {
        let link = self.dir.join(name);
        match target {
            Some(target) => {
                let tmp = self.dir.join(format!(".{name}.new"));
                match std::fs::remove_file(&tmp) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io(&tmp)(e));
                    }
                    _ => {}
                }
                symlink(target, &tmp).map_err(io(&tmp))?;
                std::fs::rename(&tmp, &link).map_err(io(&link))?;
            }
            None => match std::fs::remove_file(&link) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&link)(e)),
                _ => {}
            },
        }
        fsync(&self.dir)
    }

    /// Deletes the leftovers of an interrupted promotion.
    fn remove_temporaries(&self) -> Result<(), StoreError> {
        let dir = self.dir.join(VERSIONS);
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            let is_tmp = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"));
            if is_tmp {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    /// Deletes the versions neither link points at.
    fn collect_garbage(&self) -> Result<(), StoreError> {
        let keep: Vec<PathBuf> = [self.link_target(CURRENT)?, self.link_target(PREVIOUS)?]
            .into_iter()
            .flatten()
            .collect();
        for name in self.versions()? {
            let rel = Path::new(VERSIONS).join(&name);
            if !keep.contains(&rel) {
                let path = self.dir.join(&rel);
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

/// `n` for a version directory named `v<digits>`.
fn version_number(name: &str) -> Option<u64> {
    name.strip_prefix('v')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the model store needs symbolic links (a Unix filesystem)",
    ))
}

#[cfg(test)]
mod tests {
    use common::rl::artifact::MODEL_FILE;
    use common::rl::fleet_model::network_weights;

    use super::*;
    use crate::twin::test_support::small_model;

    fn record(promoted: bool) -> DecisionRecord {
        let f = |cost| Figures {
            cost,
            slo_compliance: 0.99,
        };
        DecisionRecord {
            at_s: 1_700_000_000,
            algo: Algo::Dqn,
            candidate: f(1.0),
            current: f(1.5),
            hpa: f(2.0),
            promoted,
            version: promoted.then(|| "v000001".to_owned()),
            reason: "promoted: cheaper".into(),
            recorded_until_s: Some(1_699_990_000),
        }
    }

    #[test]
    fn an_empty_store_serves_the_shipped_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(&dir.path().join("store")).unwrap();
        assert!(matches!(
            ModelStore::open(&dir.path().join("store")),
            Err(StoreError::Busy(_))
        ));
        let (source, model) = store.load_current(Algo::Ppo).unwrap();
        assert_eq!(source, Source::Shipped);
        assert_eq!(model.manifest.algo, Algo::Ppo);
        assert!(matches!(
            store.rollback(),
            Err(StoreError::NothingToRollBack(_))
        ));
        drop(store);
        ModelStore::open(&dir.path().join("store")).unwrap();
    }

    #[test]
    fn promotion_keeps_the_previous_model_and_rollback_restores_it_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        let (a, b, c) = (
            small_model(Algo::Dqn, 1),
            small_model(Algo::Dqn, 2),
            small_model(Algo::Dqn, 3),
        );
        assert_eq!(store.promote(&a).unwrap(), "v000001");
        assert_eq!(store.previous_dir().unwrap(), None);
        assert_eq!(store.promote(&b).unwrap(), "v000002");
        assert_eq!(store.promote(&c).unwrap(), "v000003");
        // Only what the links point at is kept.
        assert_eq!(store.versions().unwrap(), ["v000002", "v000003"]);
        let (source, loaded) = store.load_current(Algo::Dqn).unwrap();
        assert_eq!(source, Source::Store(dir.path().join("versions/v000003")));
        assert_eq!(
            network_weights(&loaded.network),
            network_weights(&c.network)
        );

        let previous_bytes = std::fs::read(dir.path().join(PREVIOUS).join(MODEL_FILE)).unwrap();
        let current_bytes = std::fs::read(dir.path().join(CURRENT).join(MODEL_FILE)).unwrap();
        assert_ne!(previous_bytes, current_bytes);
        let now = store.rollback().unwrap();
        assert_eq!(now, Source::Store(dir.path().join("versions/v000002")));
        assert_eq!(
            std::fs::read(dir.path().join(CURRENT).join(MODEL_FILE)).unwrap(),
            previous_bytes,
            "the weights file is byte-identical after rollback"
        );
        let (_, loaded) = store.load_current(Algo::Dqn).unwrap();
        assert_eq!(
            network_weights(&loaded.network),
            network_weights(&b.network)
        );
        // A second rollback undoes the first.
        store.rollback().unwrap();
        assert_eq!(
            std::fs::read(dir.path().join(CURRENT).join(MODEL_FILE)).unwrap(),
            current_bytes
        );
    }

    #[test]
    fn rolling_back_the_first_promotion_returns_to_the_shipped_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        store.promote(&small_model(Algo::Dqn, 1)).unwrap();
        assert_eq!(store.rollback().unwrap(), Source::Shipped);
        assert_eq!(store.load_current(Algo::Dqn).unwrap().0, Source::Shipped);
        // ...and back.
        assert!(matches!(store.rollback().unwrap(), Source::Store(_)));
    }

    #[test]
    fn another_learners_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        store.promote(&small_model(Algo::Ppo, 1)).unwrap();
        let err = store.load_current(Algo::Dqn).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WrongAlgo {
                    found: "ppo",
                    wanted: "dqn",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("--algo ppo"), "{err}");
    }

    /// A crash at each point of a promotion, replayed by doing the steps before it by
    /// hand: `current` always loads, and the next promotion cleans up.
    #[test]
    fn an_interrupted_promotion_leaves_a_loadable_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        let a = small_model(Algo::Dqn, 1);
        store.promote(&a).unwrap();
        let a_weights = network_weights(&a.network);
        let current_weights = || network_weights(&store.load_current(Algo::Dqn).unwrap().1.network);
        // Crash while writing the new version: a half-written temporary directory.
        let tmp = dir.path().join(VERSIONS).join(".tmp-v000002");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join(MODEL_FILE), b"torn").unwrap();
        assert_eq!(current_weights(), a_weights);
        // Crash after the version was renamed into place but before any link moved.
        small_model(Algo::Dqn, 2)
            .save(&dir.path().join(VERSIONS).join("v000002"))
            .unwrap();
        assert_eq!(current_weights(), a_weights);
        // Crash after `previous` moved but before `current` did.
        store
            .set_link(PREVIOUS, Some(&Path::new(VERSIONS).join("v000001")))
            .unwrap();
        assert_eq!(current_weights(), a_weights);
        // Crash with the new link made but not yet renamed over `current`.
        symlink(
            &Path::new(VERSIONS).join("v000002"),
            &dir.path().join(".current.new"),
        )
        .unwrap();
        assert_eq!(current_weights(), a_weights);
        // The next promotion sweeps it all up.
        let c = small_model(Algo::Dqn, 3);
        assert_eq!(store.promote(&c).unwrap(), "v000003");
        assert_eq!(current_weights(), network_weights(&c.network));
        assert_eq!(store.versions().unwrap(), ["v000001", "v000003"]);
        assert!(!tmp.exists());
    }

    #[test]
    fn decisions_are_appended_and_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        assert!(store.decisions().unwrap().is_empty());
        store.append_decision(&record(true)).unwrap();
        store.append_decision(&record(false)).unwrap();
        assert_eq!(
            store.decisions().unwrap(),
            vec![record(true), record(false)]
        );
        let path = dir.path().join(DECISIONS);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["candidate"]["cost"], 1.0);
        assert_eq!(line["promoted"], true);
        // A crash mid-append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"at_s\": 17").unwrap();
        assert_eq!(store.decisions().unwrap().len(), 2);
        // Damage elsewhere is reported.
        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(matches!(
            store.decisions(),
            Err(StoreError::Log { line: 1, .. })
        ));
    }

    #[test]
    fn a_tail_reads_each_whole_verdict_once_and_skips_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = DecisionTail::default();
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![], 0));
        let store = ModelStore::open(dir.path()).unwrap();
        store.append_decision(&record(true)).unwrap();
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![record(true)], 0));
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![], 0));
        // Half a line being appended waits for its end.
        let path = dir.path().join(DECISIONS);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage").unwrap();
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![], 0));
        f.write_all(b"\n").unwrap();
        store.append_decision(&record(false)).unwrap();
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![record(false)], 1));
        assert_eq!(tail.read_new(dir.path()).unwrap(), (vec![], 0));
    }

    #[test]
    fn version_names_are_recognised() {
        assert_eq!(version_number("v000012"), Some(12));
        assert_eq!(version_number("v"), None);
        assert_eq!(version_number(".tmp-v000001"), None);
        assert_eq!(version_number("vx1"), None);
    }
}
