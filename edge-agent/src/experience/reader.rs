//! [`ExperienceReader`]: every retained transition, oldest first, streamed segment by
//! segment with one frame in memory at a time, for the learners and the digital twin's
//! calibration, which read months of experience the agent must not hold in memory.
//!
//! It may run beside a live agent. Segments are listed once at the start; one that
//! retention deletes before it is reached is skipped (its records are gone either way),
//! and a segment is read up to its length when opened. A broken last frame of the newest
//! segment is an append in progress or a crash the next start will recover, so it ends
//! the read quietly; anywhere else it is damage and an error.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::error::ExperienceError;
use super::frame::{Frame, FrameReader};
use super::segment::{self, LEGACY_FILE};
use super::transition::Transition;

/// The retained transitions of a log directory, in the order they were recorded.
#[derive(Debug)]
pub(crate) struct ExperienceReader {
    pending: VecDeque<PathBuf>,
    current: Option<(FrameReader, PathBuf, bool)>,
    failed: bool,
}

impl ExperienceReader {
    /// Reads the log in `dir` (a pre-segmenting `experience.log` not yet adopted included).
    pub(crate) fn open(dir: &Path) -> Result<Self, ExperienceError> {
        let mut pending: VecDeque<PathBuf> =
            segment::list(dir)?.into_iter().map(|(_, p)| p).collect();
        let legacy = dir.join(LEGACY_FILE);
        if pending.is_empty() && legacy.exists() {
            pending.push_back(legacy);
        }
        Ok(Self {
            pending,
            current: None,
            failed: false,
        })
    }

    fn next_record(&mut self) -> Result<Option<Transition>, ExperienceError> {
        loop {
            let Some((reader, path, newest)) = &mut self.current else {
                let Some(path) = self.pending.pop_front() else {
                    return Ok(None);
                };
                let newest = self.pending.is_empty();
                match FrameReader::open(&path) {
                    Ok(Some(reader)) => self.current = Some((reader, path, newest)),
                    // Header not yet on disk: a segment being started holds nothing.
                    Ok(None) if newest => {}
                    Ok(None) => {
                        return Err(ExperienceError::BrokenClosedSegment {
                            path,
                            offset: 0,
                            reason: "shorter than the header".to_owned(),
                        });
                    }
                    // Retired since the listing.
                    Err(ExperienceError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                continue;
            };
            match reader.next_frame()? {
                Frame::Record(t) => return Ok(Some(t)),
                Frame::End => self.current = None,
                Frame::BrokenTail { .. } if *newest => self.current = None,
                Frame::BrokenTail { at, reason } => {
                    return Err(ExperienceError::BrokenClosedSegment {
                        path: path.clone(),
                        offset: at,
                        reason,
                    });
                }
            }
        }
    }
}

impl Iterator for ExperienceReader {
    type Item = Result<Transition, ExperienceError>;

    /// The next transition; after an error, nothing more.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_record();
        self.failed = next.is_err();
        next.transpose()
    }
}
