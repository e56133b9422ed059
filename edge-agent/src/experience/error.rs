//! Why the experience log could not be opened, written or read. Every variant names the
//! file, because the operator's remedy (free space, move a damaged segment aside) is about
//! that file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::frame::FORMAT_VERSION;

/// Why the log could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExperienceError {
    #[error("experience log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "experience log {path}: disk full ({source}); free space on the volume or lower `experience.max_bytes`"
    )]
    DiskFull {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an experience log (bad header); move it aside or point `experience.dir` elsewhere"
    )]
    NotALog { path: PathBuf },
    #[error(
        "experience log {path} is format version {found}, this agent reads versions 1 to {FORMAT_VERSION}; upgrade the agent or move the file aside"
    )]
    Version { path: PathBuf, found: u16 },
    #[error(
        "experience log {path} is damaged at byte {offset} ({reason}) with {after} more bytes behind it; this is not a torn write from a crash, so nothing was discarded: move the file aside (the other segments stay readable)"
    )]
    Damaged {
        path: PathBuf,
        offset: u64,
        reason: String,
        after: u64,
    },
    #[error(
        "experience log {path} ends in a broken frame at byte {offset} ({reason}) but is not the newest segment, so a crash cannot have torn it and nothing was discarded: move the file aside (the other segments stay readable)"
    )]
    BrokenClosedSegment {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "{legacy} is an experience log from before segmenting, but {dir} already holds segments; move one of them aside"
    )]
    LegacyBesideSegments { legacy: PathBuf, dir: PathBuf },
    #[error("cannot encode a transition for the experience log: {0}")]
    Encode(common::proto::CodecError),
}

impl ExperienceError {
    /// `source` on `path`, told apart when it is the disk filling up: that one the operator
    /// fixes on the volume, not in the log.
    pub(super) fn io(path: &Path, source: std::io::Error) -> Self {
        let path = path.to_owned();
        if matches!(
            source.kind(),
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded
        ) {
            Self::DiskFull { path, source }
        } else {
            Self::Io { path, source }
        }
    }
}
