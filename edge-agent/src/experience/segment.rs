//! How the log's directory is laid out: numbered segment files
//! (`experience-000001.rlxp`, …), oldest first, appends going to the highest number.
//! Splitting the log into segments is what lets retention drop old experience by deleting
//! whole files instead of rewriting one large file.
//!
//! Before segmenting the log was a single `experience.log` in the same format; opening a
//! directory that still holds one renames it to the first segment, so an upgrade keeps
//! everything recorded before it.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::ExperienceError;

/// The single file of the log before it was segmented.
pub(super) const LEGACY_FILE: &str = "experience.log";
const PREFIX: &str = "experience-";
const SUFFIX: &str = ".rlxp";

/// The file of segment `number` in `dir`.
pub(crate) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{number:06}{SUFFIX}"))
}

fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first. Other files are not the log's and are left alone.
pub(super) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ExperienceError> {
    let io = |e| ExperienceError::io(dir, e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            out.push((n, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

/// Renames a pre-segmenting log in `dir` to the first segment; whether there was one.
pub(super) fn adopt_legacy(dir: &Path) -> Result<bool, ExperienceError> {
    let legacy = dir.join(LEGACY_FILE);
    if !legacy.exists() {
        return Ok(false);
    }
    if !list(dir)?.is_empty() {
        return Err(ExperienceError::LegacyBesideSegments {
            legacy,
            dir: dir.to_owned(),
        });
    }
    let first = segment_path(dir, 1);
    std::fs::rename(&legacy, &first).map_err(|e| ExperienceError::io(&legacy, e))?;
    sync_dir(dir).map_err(|e| ExperienceError::io(dir, e))?;
    Ok(true)
}

/// Makes creations, renames and deletions in `dir` durable: without it a crash can lose a
/// new segment's directory entry even though its data was synced.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What the log knows about one segment without reading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SegmentInfo {
    pub(super) number: u64,
    pub(super) path: PathBuf,
    /// Its length in bytes, header included.
    pub(super) bytes: u64,
    pub(super) records: u64,
    /// The largest `at_s` among its records; `None` when it holds none.
    pub(super) newest_at_s: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_foreign_names_are_ignored() {
        let dir = Path::new("/x");
        let p = segment_path(dir, 42);
        assert_eq!(p, Path::new("/x/experience-000042.rlxp"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(segment_number(name), Some(42));
        assert_eq!(segment_number("experience-1234567.rlxp"), Some(1_234_567));
        for foreign in [
            "experience.log",
            "experience-.rlxp",
            "experience-12a.rlxp",
            "experience-000001.rlxp.tmp",
            "other-000001.rlxp",
        ] {
            assert_eq!(segment_number(foreign), None, "{foreign}");
        }
    }
}
