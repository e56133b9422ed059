//! [`ExperienceLog`], the writer: appends go to the newest segment, each followed by
//! `fdatasync`, so a transition the loop has moved past is on disk. An append that would
//! take the segment past `segment_bytes` first starts a new one, and every new segment is
//! followed by a retention pass that deletes the oldest closed segments while the
//! directory could exceed `max_bytes` or their records are past `max_age_s` (see
//! [`Retention`]). The directory therefore never holds more than `max_bytes` of segments,
//! counting the active segment as already full.
//!
//! A crash can only tear the frame being written, and only at the end of the newest
//! segment: a new segment is started only after the last frame of the previous one is on
//! disk. Opening therefore drops a broken *last* frame of the newest segment (truncating
//! it away, so later appends stay readable) and reports how many bytes it dropped. A broken
//! frame anywhere else is damage, and the log refuses to open, naming the file, rather than
//! silently discard what is behind it.
//!
//! A failed write (a full disk) is cut back off the segment before the error is returned,
//! so the next append lands after the last intact frame and the file stays readable.
//! Opening reads every segment once to count and check it, but keeps only a summary of
//! each; [`super::ExperienceReader`] streams the records themselves.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::disk::Disk;
use super::error::ExperienceError;
use super::frame::{self, Frame, FrameReader, HEADER_LEN};
use super::retention::Retention;
use super::segment::{self, SegmentInfo, segment_path};
use super::transition::Transition;

/// The segment appends go to.
#[derive(Debug)]
struct Active {
    file: File,
    info: SegmentInfo,
    /// The segment's format version; only a new segment has today's.
    version: u16,
}

/// The log, open for appending.
#[derive(Debug)]
pub(crate) struct ExperienceLog {
    dir: PathBuf,
    retention: Retention,
    /// Segments before the active one, oldest first.
    closed: VecDeque<SegmentInfo>,
    active: Active,
    /// Transitions in the retained segments.
    records: u64,
    /// The largest `at_s` recorded: the "now" that age retention is judged against.
    newest_at_s: Option<u64>,
    /// Bytes of a torn last frame dropped when the log was opened.
    recovered_bytes: u64,
    /// Whether the active segment has a failed write's bytes past its last intact frame.
    dirty: bool,
    disk: Disk,
    buf: Vec<u8>,
}

impl ExperienceLog {
    /// Opens (or creates) the log in `dir`, adopting a pre-segmenting `experience.log`,
    /// recovering a torn append and applying `retention` to what is there.
    pub(crate) fn open(dir: &Path, retention: Retention) -> Result<Self, ExperienceError> {
        Self::open_on(dir, retention, Disk::default())
    }

    /// [`Self::open`], writing through `disk` (which a test may have given little room).
    pub(super) fn open_on(
        dir: &Path,
        retention: Retention,
        mut disk: Disk,
    ) -> Result<Self, ExperienceError> {
        std::fs::create_dir_all(dir).map_err(|e| ExperienceError::io(dir, e))?;
        if segment::adopt_legacy(dir)? {
            info!(
                dir = %dir.display(),
                "adopted the pre-segmenting experience log as the first segment"
            );
        }
        let mut listed = segment::list(dir)?;
        let newest = listed.pop();
        let mut closed = VecDeque::with_capacity(listed.len());
        for (number, path) in listed {
            closed.push_back(scan_closed(number, path)?);
        }
        let (number, path) = newest.unwrap_or_else(|| (1, segment_path(dir, 1)));
        let (mut active, recovered_bytes) = open_active(&mut disk, dir, number, path)?;
        if active.version < frame::FORMAT_VERSION {
            // Its payloads decode by its header's version: close it as it is and append
            // to a new segment in today's format.
            info!(
                path = %active.info.path.display(),
                version = active.version,
                "the newest segment has an older format; new records go to a new segment"
            );
            let next = active.info.number + 1;
            let (fresh, _) = open_active(&mut disk, dir, next, segment_path(dir, next))?;
            closed.push_back(std::mem::replace(&mut active, fresh).info);
        }
        let records = closed.iter().map(|s| s.records).sum::<u64>() + active.info.records;
        let newest_at_s = closed
            .iter()
            .chain([&active.info])
            .filter_map(|s| s.newest_at_s)
            .max();
        let mut log = Self {
            dir: dir.to_owned(),
            retention,
            closed,
            active,
            records,
            newest_at_s,
            recovered_bytes,
            dirty: false,
            disk,
            buf: Vec::new(),
        };
        log.retire();
        Ok(log)
    }

    /// Appends `t` and waits until it is on disk. On an error nothing of `t` stays in the
    /// log, and the next append may succeed (once there is room again).
    pub(crate) fn append(&mut self, t: &Transition) -> Result<(), ExperienceError> {
        frame::encode_frame(t, &mut self.buf)?;
        self.repair()?;
        let frame_len = self.buf.len() as u64;
        if self.active.info.records > 0
            && self.active.info.bytes + frame_len > self.retention.segment_bytes
        {
            self.rotate()?;
        }
        let Active { file, info, .. } = &mut self.active;
        let written = self
            .disk
            .write(file, &self.buf)
            .and_then(|()| self.disk.sync(file));
        if let Err(e) = written {
            let err = ExperienceError::io(&info.path, e);
            self.dirty = true;
            // Best effort now; the next append retries before writing.
            let _ = self.repair();
            return Err(err);
        }
        info.bytes += frame_len;
        info.records += 1;
        info.newest_at_s = info.newest_at_s.max(Some(t.at_s));
        self.newest_at_s = self.newest_at_s.max(Some(t.at_s));
        self.records += 1;
        Ok(())
    }

    /// Cuts a failed write's bytes off the active segment.
    fn repair(&mut self) -> Result<(), ExperienceError> {
        if !self.dirty {
            return Ok(());
        }
        let Active { file, info, .. } = &mut self.active;
        file.set_len(info.bytes)
            .and_then(|()| file.seek(SeekFrom::Start(info.bytes)))
            .map_err(|e| ExperienceError::io(&info.path, e))?;
        self.dirty = false;
        Ok(())
    }

    /// Closes the active segment, starts the next and applies retention.
    fn rotate(&mut self) -> Result<(), ExperienceError> {
        let number = self.active.info.number + 1;
        let path = segment_path(&self.dir, number);
        let file = match self.create_segment(&path) {
            Ok(file) => file,
            Err(e) => {
                // A half-made segment would be taken for the newest at the next start.
                let _ = std::fs::remove_file(&path);
                return Err(ExperienceError::io(&path, e));
            }
        };
        let info = SegmentInfo {
            number,
            path,
            bytes: HEADER_LEN,
            records: 0,
            newest_at_s: None,
        };
        let fresh = Active {
            file,
            info,
            version: frame::FORMAT_VERSION,
        };
        let old = std::mem::replace(&mut self.active, fresh);
        self.closed.push_back(old.info);
        self.retire();
        Ok(())
    }

    fn create_segment(&mut self, path: &Path) -> std::io::Result<File> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        self.disk.write(&mut file, &frame::header())?;
        self.disk.sync(&file)?;
        segment::sync_dir(&self.dir)?;
        Ok(file)
    }

    /// Deletes what retention says must go. A segment that cannot be deleted is kept and
    /// tried again at the next pass: the append that led here did succeed.
    fn retire(&mut self) {
        let plan = self
            .retention
            .retire(&self.closed, self.active.info.bytes, self.newest_at_s);
        for reason in plan {
            let Some(seg) = self.closed.front() else {
                break;
            };
            match std::fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(
                        path = %seg.path.display(),
                        error = %e,
                        "cannot delete an expired experience segment; the log stays over its limits until it can"
                    );
                    break;
                }
            }
            info!(
                path = %seg.path.display(),
                transitions = seg.records,
                bytes = seg.bytes,
                reason = reason.as_str(),
                "experience segment retired"
            );
            self.records -= seg.records;
            self.closed.pop_front();
        }
    }

    /// Transitions in the retained segments.
    pub(crate) fn len(&self) -> u64 {
        self.records
    }

    /// Bytes of a torn last frame that opening dropped (0 after a clean shutdown).
    pub(crate) fn recovered_bytes(&self) -> u64 {
        self.recovered_bytes
    }

    /// The directory the log lives in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segments in the directory, the active one included.
    pub(crate) fn segments(&self) -> usize {
        self.closed.len() + 1
    }

    /// Bytes of all segments, the active one included.
    pub(crate) fn bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>() + self.active.info.bytes
    }

    /// Lets only `room` more bytes be written, as on a filling disk (`None`: unlimited).
    #[cfg(test)]
    pub(crate) fn limit_disk_room(&mut self, room: Option<u64>) {
        self.disk.set_room(room);
    }

    /// Counts syncs without making them.
    #[cfg(test)]
    pub(super) fn pretend_sync(&mut self) {
        self.disk.set_pretend_sync(true);
    }

    /// `fdatasync` calls on the write path since opening.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.disk.syncs()
    }
}

/// Counts and checks a closed segment; any broken frame in it is an error.
fn scan_closed(number: u64, path: PathBuf) -> Result<SegmentInfo, ExperienceError> {
    let Some(mut reader) = FrameReader::open(&path)? else {
        return Err(ExperienceError::BrokenClosedSegment {
            path,
            offset: 0,
            reason: "shorter than the header".to_owned(),
        });
    };
    let mut info = SegmentInfo {
        number,
        bytes: HEADER_LEN,
        records: 0,
        newest_at_s: None,
        path: PathBuf::new(),
    };
    loop {
        match reader.next_frame()? {
            Frame::Record(t) => {
                info.records += 1;
                info.newest_at_s = info.newest_at_s.max(Some(t.at_s));
            }
            Frame::End => break,
            Frame::BrokenTail { at, reason } => {
                return Err(ExperienceError::BrokenClosedSegment {
                    path,
                    offset: at,
                    reason,
                });
            }
        }
    }
    info.bytes = reader.position();
    info.path = path;
    Ok(info)
}

/// Opens the newest segment for appending, creating it or rewriting a torn header, and
/// cuts a torn last frame off it; returns it with the bytes dropped.
fn open_active(
    disk: &mut Disk,
    dir: &Path,
    number: u64,
    path: PathBuf,
) -> Result<(Active, u64), ExperienceError> {
    let io = |e| ExperienceError::io(&path, e);
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut info = SegmentInfo {
        number,
        path: path.clone(),
        bytes: HEADER_LEN,
        records: 0,
        newest_at_s: None,
    };
    let mut version = frame::FORMAT_VERSION;
    let recovered = match FrameReader::open(&path)? {
        None => {
            // New, or torn while writing the header: nothing was ever recorded in it.
            file.set_len(0).map_err(io)?;
            if let Err(e) = disk.write(&mut file, &frame::header()) {
                // A half-written header would be read back as a torn one; leave none.
                if !existed {
                    let _ = std::fs::remove_file(&path);
                }
                return Err(io(e));
            }
            disk.sync(&file).map_err(io)?;
            if !existed {
                segment::sync_dir(dir).map_err(|e| ExperienceError::io(dir, e))?;
            }
            len
        }
        Some(mut reader) => {
            version = reader.version();
            let good_end = loop {
                match reader.next_frame()? {
                    Frame::Record(t) => {
                        info.records += 1;
                        info.newest_at_s = info.newest_at_s.max(Some(t.at_s));
                    }
                    Frame::End => break reader.position(),
                    Frame::BrokenTail { at, .. } => break at,
                }
            };
            if version < frame::FORMAT_VERSION && info.records == 0 {
                // An older header with nothing behind it: restart it in today's format.
                file.set_len(0).map_err(io)?;
                disk.write(&mut file, &frame::header()).map_err(io)?;
                disk.sync(&file).map_err(io)?;
                version = frame::FORMAT_VERSION;
            } else if good_end < len {
                file.set_len(good_end).map_err(io)?;
                file.sync_data().map_err(io)?;
            }
            info.bytes = good_end;
            len - good_end
        }
    };
    file.seek(SeekFrom::Start(info.bytes)).map_err(io)?;
    Ok((
        Active {
            file,
            info,
            version,
        },
        recovered,
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;

    use super::*;
    use crate::experience::{ExperienceReader, MetricsRecord};

    /// A transition at `i` intervals, with every field set and varied.
    pub(in crate::experience) fn transition(i: u64) -> Transition {
        Transition {
            at_s: 1_700_000_000 + i * 15,
            observation: [i as f32 / 100.0; 12],
            metrics: (!i.is_multiple_of(3)).then_some(MetricsRecord {
                timestamp_s: 1_700_000_000 + i * 15 - 5,
                request_rate_rps: 120.5 + i as f64,
                cpu_utilization: 0.61,
                memory_utilization: 0.3,
                p95_latency_s: 0.081,
                error_rate: 0.0,
                queue_length: 2.0,
                ready_pods: 4,
                pending_pods: 1,
            }),
            replicas_before: 4,
            action: i.is_multiple_of(2).then_some((i % 3) as u32),
            proposed: 5,
            decided: 5,
            applied: !i.is_multiple_of(4),
            fallback: i.is_multiple_of(5).then(|| "metrics_stale".to_owned()),
            pod_startups_s: if i.is_multiple_of(7) {
                vec![31, 28 + (i % 5) as u32]
            } else {
                Vec::new()
            },
        }
    }

    /// Small enough that a few hundred transitions make several segments.
    const SMALL: Retention = Retention {
        max_bytes: 1024 * 1024,
        segment_bytes: 32 * 1024,
        max_age_s: u64::MAX,
    };

    fn append_range(log: &mut ExperienceLog, range: std::ops::Range<u64>) {
        for i in range {
            log.append(&transition(i)).unwrap();
        }
    }

    fn read_all(dir: &Path) -> Vec<Transition> {
        ExperienceReader::open(dir)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn segment_files(dir: &Path) -> Vec<(u64, PathBuf)> {
        segment::list(dir).unwrap()
    }

    fn dir_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    /// The transitions of one segment file.
    fn records_of(path: &Path) -> Vec<Transition> {
        let mut reader = FrameReader::open(path).unwrap().unwrap();
        let mut out = Vec::new();
        while let Frame::Record(t) = reader.next_frame().unwrap() {
            out.push(t);
        }
        out
    }

    #[test]
    fn a_long_run_stays_within_max_bytes_and_keeps_the_newest_contiguous_tail() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_bytes: 256 * 1024,
            segment_bytes: 32 * 1024,
            max_age_s: u64::MAX,
        };
        let mut log = ExperienceLog::open(dir.path(), retention).unwrap();
        // Durability is another test's subject; 200 000 real syncs take minutes on CI.
        log.pretend_sync();
        let total = 200_000;
        let (mut rotations, mut most) = (0, 0);
        let mut active = log.active.info.number;
        for i in 0..total {
            log.append(&transition(i)).unwrap();
            assert!(
                log.bytes() <= retention.max_bytes,
                "at {i}: {}",
                log.bytes()
            );
            let rotated = log.active.info.number != active;
            if rotated || i % 4_096 == 0 {
                // At every rotation (and now and then between): the files themselves, not
                // the log's bookkeeping.
                rotations += u64::from(rotated);
                active = log.active.info.number;
                let on_disk = dir_bytes(dir.path());
                assert_eq!(on_disk, log.bytes(), "at {i}");
                most = most.max(on_disk);
            }
        }
        let on_disk = dir_bytes(dir.path());
        most = most.max(on_disk);
        assert!(most <= retention.max_bytes, "{most}");
        // Retention deletes no more than it must: all but about two segments' worth of
        // the limit is still there.
        assert!(
            on_disk > retention.max_bytes - 2 * retention.segment_bytes,
            "{on_disk}"
        );
        assert!(rotations > 500, "{rotations}");

        let kept = read_all(dir.path());
        assert_eq!(kept.len() as u64, log.len());
        let first = (kept[0].at_s - 1_700_000_000) / 15;
        assert!(first > 0, "the oldest went");
        for (k, t) in kept.iter().enumerate() {
            assert_eq!(*t, transition(first + k as u64));
        }
        assert_eq!(*kept.last().unwrap(), transition(total - 1));
        eprintln!(
            "{total} transitions appended, {rotations} rotations, largest directory {most} \
             bytes (limit {}), {} transitions kept in {} segments ({on_disk} bytes)",
            retention.max_bytes,
            kept.len(),
            log.segments(),
        );
    }

    #[test]
    fn segments_older_than_max_age_go_at_rotation_judged_by_the_records_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age_s: 3_600,
            ..SMALL
        };
        let mut log = ExperienceLog::open(dir.path(), retention).unwrap();
        log.pretend_sync();
        // 2 000 transitions span 30 000 s, well past the hour kept; stop right after a
        // rotation, when retention has just run.
        let mut i = 0;
        let mut active = log.active.info.number;
        loop {
            log.append(&transition(i)).unwrap();
            i += 1;
            let rotated = log.active.info.number != active;
            active = log.active.info.number;
            if i >= 2_000 && rotated {
                break;
            }
        }
        assert!(
            log.bytes() < retention.max_bytes / 4,
            "age, not size, binds"
        );
        let newest = transition(i - 1).at_s;
        let files = segment_files(dir.path());
        let (_, active) = files.last().unwrap();
        for (_, path) in &files {
            if path == active {
                continue;
            }
            let at = records_of(path).last().unwrap().at_s;
            assert!(
                newest - at <= 3_600,
                "{} kept at age {}",
                path.display(),
                newest - at
            );
        }
        let kept = read_all(dir.path());
        let first = (kept[0].at_s - 1_700_000_000) / 15;
        assert!(first > 0);
        assert!(
            newest - transition(first - 1).at_s > 3_600,
            "the newest transition gone was too young to go"
        );
        assert_eq!(kept.len() as u64, log.len());
        assert_eq!(kept.len() as u64, i - first);
    }

    #[test]
    fn a_reopened_log_counts_what_it_holds_and_appends_to_the_newest_segment() {
        let dir = tempfile::tempdir().unwrap();
        let log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 0);
        drop(log);
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 0..600);
        let segments = log.segments();
        assert!(segments >= 3, "{segments}");
        drop(log);

        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 600);
        assert_eq!(log.recovered_bytes(), 0);
        assert_eq!(log.segments(), segments);
        let written: Vec<_> = (0..600).map(transition).collect();
        assert_eq!(read_all(dir.path()), written);

        let (_, newest) = segment_files(dir.path()).pop().unwrap();
        let before = std::fs::metadata(&newest).unwrap().len();
        log.append(&transition(600)).unwrap();
        assert_eq!(segment_files(dir.path()).len(), segments);
        assert!(std::fs::metadata(&newest).unwrap().len() > before);
        assert_eq!(records_of(&newest).last(), Some(&transition(600)));
        drop(log);
        let log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 601);
    }

    #[test]
    fn a_torn_last_frame_of_the_newest_segment_is_dropped_and_appends_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 0..400);
        drop(log);
        let (_, newest) = segment_files(dir.path()).pop().unwrap();
        let full = std::fs::metadata(&newest).unwrap().len();
        // A crash while appending: a frame header and half the payload.
        let mut frame = Vec::new();
        frame::encode_frame(&transition(400), &mut frame).unwrap();
        let torn = &frame[..frame.len() / 2 + 4];
        OpenOptions::new()
            .append(true)
            .open(&newest)
            .unwrap()
            .write_all(torn)
            .unwrap();
        // A reader beside the crashed writer sees the intact frames and stops there.
        assert_eq!(read_all(dir.path()).len(), 400);

        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 400);
        assert_eq!(log.recovered_bytes(), torn.len() as u64);
        assert_eq!(std::fs::metadata(&newest).unwrap().len(), full);
        log.append(&transition(401)).unwrap();
        drop(log);
        let read = read_all(dir.path());
        assert_eq!(read.len(), 401);
        assert_eq!(read[400], transition(401));
    }

    #[test]
    fn damage_in_a_closed_segment_is_refused_naming_the_file_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 0..600);
        drop(log);
        let files = segment_files(dir.path());
        let (_, first) = &files[0];
        let bytes = std::fs::read(first).unwrap();

        // A flipped byte inside the second frame's payload, intact frames behind it.
        let mut damaged = bytes.clone();
        let first_len = u32::from_le_bytes(damaged[8..12].try_into().unwrap()) as usize;
        damaged[8 + 8 + first_len + 8 + 3] ^= 0x40;
        std::fs::write(first, &damaged).unwrap();
        let err = ExperienceLog::open(dir.path(), SMALL).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ExperienceError::Damaged { .. }), "{msg}");
        assert!(msg.contains(&first.display().to_string()), "{msg}");
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert_eq!(std::fs::read(first).unwrap(), damaged, "nothing discarded");
        let err = ExperienceReader::open(dir.path())
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert!(matches!(err, ExperienceError::Damaged { .. }), "{err}");

        // A closed segment cut short: a crash cannot do that, so it is refused too.
        std::fs::write(first, &bytes[..bytes.len() - 7]).unwrap();
        let err = ExperienceLog::open(dir.path(), SMALL).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, ExperienceError::BrokenClosedSegment { .. }),
            "{msg}"
        );
        assert!(msg.contains(&first.display().to_string()), "{msg}");
        assert_eq!(std::fs::read(first).unwrap().len(), bytes.len() - 7);
        assert_eq!(segment_files(dir.path()), files);
    }

    #[test]
    fn a_log_from_before_segmenting_is_adopted_as_the_first_segment() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(segment::LEGACY_FILE);
        let mut bytes = frame::header().to_vec();
        let mut frame = Vec::new();
        for i in 0..25 {
            frame::encode_frame(&transition(i), &mut frame).unwrap();
            bytes.extend_from_slice(&frame);
        }
        std::fs::write(&legacy, &bytes).unwrap();
        // Read in place before any agent adopted it.
        assert_eq!(read_all(dir.path()).len(), 25);

        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 25);
        assert!(!legacy.exists());
        assert_eq!(
            std::fs::read(segment_path(dir.path(), 1)).unwrap(),
            bytes,
            "renamed, not rewritten"
        );
        log.append(&transition(25)).unwrap();
        drop(log);
        let expected: Vec<_> = (0..26).map(transition).collect();
        assert_eq!(read_all(dir.path()), expected);

        // A legacy file beside segments is ambiguous: refused, both left alone.
        std::fs::write(&legacy, &bytes).unwrap();
        let msg = ExperienceLog::open(dir.path(), SMALL)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("before segmenting"), "{msg}");
        assert!(legacy.exists());
    }

    #[test]
    fn a_full_disk_fails_the_append_by_name_and_leaves_the_log_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 0..10);
        let (_, active) = segment_files(dir.path()).pop().unwrap();
        let before = std::fs::metadata(&active).unwrap().len();

        // Room for part of a frame: the disk takes it, then refuses the rest.
        log.limit_disk_room(Some(50));
        let err = log.append(&transition(10)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ExperienceError::DiskFull { .. }), "{msg}");
        assert!(msg.contains("disk full"), "{msg}");
        assert!(msg.contains(&active.display().to_string()), "{msg}");
        assert_eq!(
            std::fs::metadata(&active).unwrap().len(),
            before,
            "the partial frame is cut off"
        );
        assert_eq!(log.len(), 10);

        // Space again: appending goes on after the last intact frame.
        log.limit_disk_room(None);
        append_range(&mut log, 11..200);

        // Full when a new segment must start: the error names the segment that could not
        // be started, and no half-made segment is left to be taken for the newest.
        let mut i = 200;
        let mut frame = Vec::new();
        loop {
            frame::encode_frame(&transition(i), &mut frame).unwrap();
            if log.active.info.bytes + frame.len() as u64 > SMALL.segment_bytes {
                break;
            }
            log.append(&transition(i)).unwrap();
            i += 1;
        }
        let next = segment_path(dir.path(), log.active.info.number + 1);
        log.limit_disk_room(Some(4));
        let err = log.append(&transition(i)).unwrap_err();
        assert!(
            err.to_string().contains(&next.display().to_string()),
            "{err}"
        );
        assert!(matches!(err, ExperienceError::DiskFull { .. }), "{err}");
        assert!(!next.exists(), "no half-made segment");
        log.limit_disk_room(None);
        log.append(&transition(i)).unwrap();
        assert!(next.exists());
        let kept_count = log.len();
        drop(log);

        let log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), kept_count);
        let read = read_all(dir.path());
        assert_eq!(read.len() as u64, kept_count);
        assert!(
            !read.contains(&transition(10)),
            "the failed append left nothing"
        );
        assert_eq!(read.last(), Some(&transition(i)));
    }

    #[test]
    fn every_append_is_synced_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        // The first segment's header was synced when the log was created.
        assert_eq!(log.syncs(), 1);
        append_range(&mut log, 0..20);
        assert_eq!(log.syncs(), 21);
        // A new segment's header is synced too, before the frame that starts it.
        let active = log.active.info.number;
        let mut i = 20;
        while log.active.info.number == active {
            log.append(&transition(i)).unwrap();
            i += 1;
        }
        assert_eq!(log.syncs(), i + 2);
        // A failed write is never reported as synced.
        log.limit_disk_room(Some(0));
        log.append(&transition(i)).unwrap_err();
        assert_eq!(log.syncs(), i + 2);
    }

    #[test]
    fn a_version_1_log_stays_readable_and_new_records_go_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<Transition> = (0..20).map(transition).collect();
        std::fs::write(segment_path(dir.path(), 1), frame::version1_segment(&old)).unwrap();

        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        assert_eq!(log.len(), 20);
        append_range(&mut log, 20..25);
        drop(log);

        let files = segment_files(dir.path());
        assert_eq!(files.len(), 2, "{files:?}");
        let all = read_all(dir.path());
        assert_eq!(all.len(), 25);
        for (i, t) in all.iter().enumerate() {
            let mut want = transition(i as u64);
            if i < 20 {
                // Version 1 kept no start-up times.
                want.pod_startups_s.clear();
            }
            assert_eq!(t, &want, "record {i}");
        }
        assert!(all[21].pod_startups_s.len() == 2, "{:?}", all[21]);
        // Reopening appends to the version 2 segment, not to the old one.
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 25..26);
        assert_eq!(segment_files(dir.path()).len(), 2);
        assert_eq!(read_all(dir.path()).len(), 26);
    }

    #[test]
    fn an_empty_version_1_segment_is_restarted_in_todays_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(dir.path(), 1), frame::version1_segment(&[])).unwrap();
        let mut log = ExperienceLog::open(dir.path(), SMALL).unwrap();
        append_range(&mut log, 0..3);
        drop(log);
        assert_eq!(segment_files(dir.path()).len(), 1);
        assert_eq!(
            read_all(dir.path()),
            (0..3).map(transition).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_foreign_file_or_another_version_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        std::fs::write(&path, b"hello world, not a log").unwrap();
        let msg = ExperienceLog::open(dir.path(), SMALL)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is not an experience log"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");

        std::fs::write(&path, b"RLXP\x07\x00\x00\x00").unwrap();
        let msg = ExperienceLog::open(dir.path(), SMALL)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("format version 7"), "{msg}");
    }
}
