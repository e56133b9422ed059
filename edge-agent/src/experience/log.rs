//! The append-only file behind [`ExperienceLog`].
//!
//! Layout: an 8-byte header (`RLXP`, format version as u16 LE, two reserved zero bytes),
//! then one frame per transition: payload length (u32 LE), CRC-32 of the payload (u32 LE),
//! the payload in the workspace's record codec. Each append is followed by `fdatasync`, so
//! a transition the loop has moved past is on disk.
//!
//! A crash can only tear the frame being written, and only at the end of the file. Opening
//! therefore drops an incomplete or unreadable *last* frame (truncating it away, so later
//! appends stay readable) and reports how many bytes it dropped. A bad frame with intact
//! data after it is not a crash: it is damage, and the log refuses to open rather than
//! silently discard the transitions behind it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::proto::{decode_record, encode_record};

use super::transition::Transition;

const MAGIC: &[u8; 4] = b"RLXP";
const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: u64 = 8;
const FRAME_HEADER_LEN: usize = 8;
/// A transition encodes to about 200 bytes; anything near this is not one of ours.
const MAX_RECORD_LEN: u32 = 64 * 1024;

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExperienceError {
    #[error("experience log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an experience log (bad header); move it aside or point `experience.dir` elsewhere"
    )]
    NotALog { path: PathBuf },
    #[error(
        "experience log {path} is format version {found}, this agent reads version {FORMAT_VERSION}; upgrade the agent or move the file aside"
    )]
    Version { path: PathBuf, found: u16 },
    #[error(
        "experience log {path} is damaged at byte {offset} ({reason}) with {after} more bytes behind it; this is not a torn write from a crash, so nothing was discarded: move the file aside to start a new log"
    )]
    Damaged {
        path: PathBuf,
        offset: u64,
        reason: String,
        after: u64,
    },
    #[error("cannot encode a transition for the experience log: {0}")]
    Encode(common::proto::CodecError),
}

/// The log, open for appending.
#[derive(Debug)]
pub(crate) struct ExperienceLog {
    path: PathBuf,
    file: File,
    len: usize,
    /// Bytes of a torn last frame dropped when the log was opened.
    recovered_bytes: u64,
    buf: Vec<u8>,
}

impl ExperienceLog {
    /// The file a log in `dir` lives in.
    pub(crate) fn file_in(dir: &Path) -> PathBuf {
        dir.join("experience.log")
    }

    /// Opens (or creates) the log in `dir` and returns it with every transition it holds.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Vec<Transition>), ExperienceError> {
        let path = Self::file_in(dir);
        let io = |source| ExperienceError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;

        if bytes.len() < HEADER_LEN as usize {
            // New, or torn while writing the header: nothing was ever recorded.
            file.set_len(0).map_err(io)?;
            let mut header = Vec::with_capacity(HEADER_LEN as usize);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            header.extend_from_slice(&[0, 0]);
            file.write_all(&header).map_err(io)?;
            file.sync_data().map_err(io)?;
            let log = Self {
                path,
                file,
                len: 0,
                recovered_bytes: bytes.len() as u64,
                buf: Vec::new(),
            };
            return Ok((log, Vec::new()));
        }
        if &bytes[..4] != MAGIC {
            return Err(ExperienceError::NotALog { path });
        }
        let found = u16::from_le_bytes([bytes[4], bytes[5]]);
        if found != FORMAT_VERSION {
            return Err(ExperienceError::Version { path, found });
        }

        let (transitions, good_end) = read_frames(&path, &bytes)?;
        let recovered_bytes = (bytes.len() - good_end) as u64;
        if recovered_bytes > 0 {
            file.set_len(good_end as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let log = Self {
            path,
            file,
            len: transitions.len(),
            recovered_bytes,
            buf: Vec::new(),
        };
        Ok((log, transitions))
    }

    /// Appends `t` and waits until it is on disk.
    pub(crate) fn append(&mut self, t: &Transition) -> Result<(), ExperienceError> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        encode_record(t, &mut self.buf).map_err(ExperienceError::Encode)?;
        let payload_len = self.buf.len() - FRAME_HEADER_LEN;
        let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
        let crc = crc32fast::hash(&self.buf[FRAME_HEADER_LEN..]);
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let io = |source| ExperienceError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.buf).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len += 1;
        Ok(())
    }

    /// Transitions in the log.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of a torn last frame that opening dropped (0 after a clean shutdown).
    pub(crate) fn recovered_bytes(&self) -> u64 {
        self.recovered_bytes
    }

    /// Where the log lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Every intact frame after the header, and where the intact part ends. A bad frame is
/// accepted as a torn tail only if it runs to the end of the file.
fn read_frames(path: &Path, bytes: &[u8]) -> Result<(Vec<Transition>, usize), ExperienceError> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN as usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let damaged = |reason: String, frame_end: usize| {
            if frame_end >= bytes.len() {
                Ok(())
            } else {
                Err(ExperienceError::Damaged {
                    path: path.to_owned(),
                    offset: at as u64,
                    reason,
                    after: (bytes.len() - frame_end) as u64,
                })
            }
        };
        if rest.len() < FRAME_HEADER_LEN {
            break; // torn inside the frame header
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_RECORD_LEN {
            // The length itself is garbage, so where the frame ends is unknown: only the
            // end of the file makes it a torn write.
            damaged(format!("frame length {len} is implausible"), bytes.len())?;
            break;
        }
        let end = at + FRAME_HEADER_LEN + len as usize;
        let Some(payload) = bytes.get(at + FRAME_HEADER_LEN..end) else {
            break; // torn inside the payload
        };
        if crc32fast::hash(payload) != crc {
            damaged("checksum mismatch".to_owned(), end)?;
            break;
        }
        match decode_record::<Transition>(payload) {
            Ok(t) => out.push(t),
            Err(e) => {
                damaged(format!("undecodable record: {e}"), end)?;
                break;
            }
        }
        at = end;
    }
    Ok((out, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experience::MetricsRecord;

    fn transition(i: u32) -> Transition {
        Transition {
            at_s: 1_700_000_000 + u64::from(i) * 15,
            observation: [i as f32 / 100.0; 12],
            metrics: (!i.is_multiple_of(3)).then_some(MetricsRecord {
                timestamp_s: 1_700_000_000 + u64::from(i) * 15 - 5,
                request_rate_rps: 120.5 + f64::from(i),
                cpu_utilization: 0.61,
                memory_utilization: 0.3,
                p95_latency_s: 0.081,
                error_rate: 0.0,
                queue_length: 2.0,
                ready_pods: 4,
                pending_pods: 1,
            }),
            replicas_before: 4,
            action: i.is_multiple_of(2).then_some(i % 3),
            proposed: 5,
            decided: 5,
            applied: !i.is_multiple_of(4),
            fallback: i.is_multiple_of(5).then(|| "metrics_stale".to_owned()),
        }
    }

    fn write(dir: &Path, n: u32) -> Vec<Transition> {
        let (mut log, _) = ExperienceLog::open(dir).unwrap();
        let ts: Vec<_> = (0..n).map(transition).collect();
        for t in &ts {
            log.append(t).unwrap();
        }
        ts
    }

    #[test]
    fn a_reopened_log_holds_every_transition_appended_before() {
        let dir = tempfile::tempdir().unwrap();
        let (log, before) = ExperienceLog::open(dir.path()).unwrap();
        assert!(before.is_empty());
        drop(log);
        let written = write(dir.path(), 25);
        let (mut log, read) = ExperienceLog::open(dir.path()).unwrap();
        assert_eq!(read, written);
        assert_eq!(log.len(), 25);
        assert_eq!(log.recovered_bytes(), 0);
        log.append(&transition(99)).unwrap();
        let (_, read) = ExperienceLog::open(dir.path()).unwrap();
        assert_eq!(read.len(), 26);
        assert_eq!(read[25], transition(99));
    }

    #[test]
    fn a_torn_last_frame_is_dropped_and_later_appends_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), 5);
        let path = ExperienceLog::file_in(dir.path());
        let full = std::fs::metadata(&path).unwrap().len();
        // A crash while writing a sixth frame: its header and part of its payload.
        let mut frame = Vec::new();
        encode_record(&transition(5), &mut frame).unwrap();
        let mut torn = (frame.len() as u32).to_le_bytes().to_vec();
        torn.extend_from_slice(&crc32fast::hash(&frame).to_le_bytes());
        torn.extend_from_slice(&frame[..frame.len() / 2]);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let (mut log, read) = ExperienceLog::open(dir.path()).unwrap();
        assert_eq!(read, written);
        assert_eq!(log.recovered_bytes(), torn.len() as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
        log.append(&transition(6)).unwrap();
        let (_, read) = ExperienceLog::open(dir.path()).unwrap();
        assert_eq!(read.len(), 6);
        assert_eq!(read[5], transition(6));
    }

    #[test]
    fn damage_before_intact_frames_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 5);
        let path = ExperienceLog::file_in(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let len_before = bytes.len();
        // Flip a byte inside the second frame's payload.
        let first_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let second_payload = 8 + FRAME_HEADER_LEN + first_len + FRAME_HEADER_LEN;
        bytes[second_payload + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();

        let err = ExperienceLog::open(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ExperienceError::Damaged { .. }), "{msg}");
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(msg.contains("move the file aside"), "{msg}");
        assert_eq!(
            std::fs::read(&path).unwrap().len(),
            len_before,
            "nothing discarded"
        );
    }

    #[test]
    fn a_foreign_file_or_another_version_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = ExperienceLog::file_in(dir.path());
        std::fs::write(&path, b"hello world, not a log").unwrap();
        let msg = ExperienceLog::open(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("is not an experience log"), "{msg}");

        std::fs::write(&path, b"RLXP\x07\x00\x00\x00").unwrap();
        let msg = ExperienceLog::open(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("format version 7"), "{msg}");
    }
}
