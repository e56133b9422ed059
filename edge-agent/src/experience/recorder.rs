//! [`Recorder`], what the control loop records through: the [`ExperienceLog`] when it could
//! be opened, and otherwise the reason it could not, tried again at every append.
//!
//! Opening can need to write (a first segment's header, a new segment after an older
//! format), and a volume that is already full refuses that. Autoscaling must not wait on
//! the recording, so a full disk at start-up is reported like a full disk later on: an
//! error naming the file, counted by the caller at every interval it loses, until there is
//! room again. Anything else that stops the log from opening (a damaged segment, a foreign
//! file, a newer format) still stops the agent, because only the operator can decide what
//! to do with the history that is there.

use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

use super::disk::Disk;
use super::error::ExperienceError;
use super::log::ExperienceLog;
use super::retention::Retention;
use super::transition::Transition;

/// The experience log, or the wait for room to open it.
#[derive(Debug)]
pub(crate) struct Recorder {
    dir: PathBuf,
    retention: Retention,
    log: Option<ExperienceLog>,
    /// The room a test gives the disk, for the log and for any later attempt to open it.
    #[cfg(test)]
    room: Option<u64>,
}

impl Recorder {
    /// Opens the log in `dir`. A full disk is not an error here: the recorder starts
    /// without a log and tries again at the next append.
    pub(crate) fn open(dir: &Path, retention: Retention) -> Result<Self, ExperienceError> {
        let mut recorder = Self {
            dir: dir.to_owned(),
            retention,
            log: None,
            #[cfg(test)]
            room: None,
        };
        match recorder.try_open() {
            Ok(()) => Ok(recorder),
            Err(e @ ExperienceError::DiskFull { .. }) => {
                error!(
                    error = %e,
                    "cannot open the experience log; autoscaling starts without recording and tries again every interval"
                );
                Ok(recorder)
            }
            Err(e) => Err(e),
        }
    }

    fn try_open(&mut self) -> Result<(), ExperienceError> {
        #[allow(unused_mut)]
        let mut disk = Disk::default();
        #[cfg(test)]
        disk.set_room(self.room);
        let log = ExperienceLog::open_on(&self.dir, self.retention, disk)?;
        if log.recovered_bytes() > 0 {
            warn!(
                bytes = log.recovered_bytes(),
                "dropped a transition torn by a crash at the end of the experience log"
            );
        }
        info!(
            dir = %log.dir().display(),
            transitions = log.len(),
            segments = log.segments(),
            bytes = log.bytes(),
            max_bytes = self.retention.max_bytes,
            max_age_s = self.retention.max_age_s,
            "experience log open"
        );
        self.log = Some(log);
        Ok(())
    }

    /// Appends `t`, first opening the log if it could not be opened before. On an error
    /// nothing of `t` is recorded.
    pub(crate) fn append(&mut self, t: &Transition) -> Result<(), ExperienceError> {
        if self.log.is_none() {
            self.try_open()?;
        }
        match &mut self.log {
            Some(log) => log.append(t),
            None => unreachable!("try_open succeeded, so the log is open"),
        }
    }

    /// Whether the log is open (false while a full disk keeps it from opening).
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.log.is_some()
    }

    /// Transitions in the retained segments; 0 while the log is not open.
    pub(crate) fn len(&self) -> u64 {
        self.log.as_ref().map_or(0, ExperienceLog::len)
    }

    /// The log's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lets only `room` more bytes be written, now and by any later attempt to open the
    /// log (`None`: unlimited).
    #[cfg(test)]
    pub(crate) fn limit_disk_room(&mut self, room: Option<u64>) {
        self.room = room;
        if let Some(log) = &mut self.log {
            log.limit_disk_room(room);
        }
    }

    /// A recorder whose first attempt to open meets a disk with only `room` bytes free.
    #[cfg(test)]
    pub(crate) fn open_with_room(
        dir: &Path,
        retention: Retention,
        room: u64,
    ) -> Result<Self, ExperienceError> {
        let mut recorder = Self {
            dir: dir.to_owned(),
            retention,
            log: None,
            room: Some(room),
        };
        match recorder.try_open() {
            Ok(()) | Err(ExperienceError::DiskFull { .. }) => Ok(recorder),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experience::ExperienceReader;
    use crate::experience::log::tests::transition;

    #[test]
    fn a_full_disk_at_start_up_is_not_fatal_and_recording_starts_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().join("experience");
        // Not even a segment header fits.
        let mut rec = Recorder::open_with_room(&logdir, Retention::default(), 4).unwrap();
        assert!(!rec.is_open());
        assert_eq!(rec.len(), 0);
        assert!(
            std::fs::read_dir(&logdir).unwrap().next().is_none(),
            "no half-written segment is left behind"
        );

        let err = rec.append(&transition(0)).unwrap_err();
        assert!(matches!(err, ExperienceError::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(!rec.is_open());

        rec.limit_disk_room(None);
        rec.append(&transition(1)).unwrap();
        rec.append(&transition(2)).unwrap();
        assert!(rec.is_open());
        assert_eq!(rec.len(), 2);
        drop(rec);

        let read: Vec<Transition> = ExperienceReader::open(&logdir)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read, vec![transition(1), transition(2)]);
    }

    #[test]
    fn an_existing_log_opens_on_a_full_disk_and_other_damage_still_stops_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), Retention::default()).unwrap();
        log.append(&transition(0)).unwrap();
        drop(log);
        // Reopening an intact log writes nothing, so a full disk does not get in the way.
        let rec = Recorder::open_with_room(dir.path(), Retention::default(), 0).unwrap();
        assert!(rec.is_open());
        assert_eq!(rec.len(), 1);
        drop(rec);

        let foreign = tempfile::tempdir().unwrap();
        std::fs::write(
            foreign.path().join("experience-000001.rlxp"),
            b"not a log at all",
        )
        .unwrap();
        let err = Recorder::open(foreign.path(), Retention::default()).unwrap_err();
        assert!(matches!(err, ExperienceError::NotALog { .. }), "{err}");
    }
}
