//! The byte format of one segment file, shared by the writer and the readers.
//!
//! Layout: an 8-byte header (`RLXP`, format version as u16 LE, two reserved zero bytes),
//! then one frame per transition: payload length (u32 LE), CRC-32 of the payload (u32 LE),
//! the payload in the workspace's record codec. Segmenting did not change it, so version 1
//! files written before segmenting are read as they are.
//!
//! Version 2 added the pod start-up times to each record. The codec is not
//! self-describing, so the version in a file's header says how its payloads decode;
//! version 1 files stay readable (their records have no start-up times), and the writer
//! never appends version 2 frames to a version 1 file (see `ExperienceLog::open`).
//!
//! [`FrameReader`] walks one file a frame at a time, holding one payload in memory, and
//! tells an intact frame from a broken one that runs to the end of the file (what a crash
//! while appending leaves) and from a broken one with bytes behind it (damage).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use common::proto::{decode_record, encode_record};

use super::error::ExperienceError;
use super::transition::{Transition, TransitionV1};

const MAGIC: &[u8; 4] = b"RLXP";
pub(super) const FORMAT_VERSION: u16 = 2;
/// The oldest version this agent still reads.
const OLDEST_READABLE_VERSION: u16 = 1;
pub(super) const HEADER_LEN: u64 = 8;
const FRAME_HEADER_LEN: u64 = 8;
/// A transition encodes to about 130 bytes; anything near this is not one of ours.
pub(super) const MAX_RECORD_LEN: u32 = 64 * 1024;

/// The header every segment starts with.
pub(super) fn header() -> [u8; HEADER_LEN as usize] {
    let v = FORMAT_VERSION.to_le_bytes();
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1], 0, 0]
}

/// Replaces `buf` with `t`'s frame, ready to be written in one call.
pub(super) fn encode_frame(t: &Transition, buf: &mut Vec<u8>) -> Result<(), ExperienceError> {
    buf.clear();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN as usize]);
    encode_record(t, buf).map_err(ExperienceError::Encode)?;
    let payload = &buf[FRAME_HEADER_LEN as usize..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(payload);
    buf[..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A whole version 1 segment holding `records` (their start-up times dropped), as an
/// agent from before version 2 wrote it.
#[cfg(test)]
pub(super) fn version1_segment(records: &[Transition]) -> Vec<u8> {
    let mut out = header().to_vec();
    out[4..6].copy_from_slice(&1u16.to_le_bytes());
    for t in records {
        let mut payload = Vec::new();
        encode_record(&TransitionV1::from(t), &mut payload).expect("encodable");
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// What the next frame of a file is.
#[derive(Debug)]
pub(super) enum Frame {
    Record(Transition),
    /// The file ends where the last intact frame does.
    End,
    /// A frame starting at `at` is broken and nothing follows it: a crash tearing the
    /// frame being appended looks exactly like this.
    BrokenTail {
        at: u64,
        reason: String,
    },
}

/// Reads one segment file front to back, a frame at a time.
#[derive(Debug)]
pub(super) struct FrameReader {
    path: PathBuf,
    reader: BufReader<File>,
    /// Where the next frame starts.
    at: u64,
    /// The file's length when it was opened: a writer appending meanwhile is not followed.
    len: u64,
    /// The file's format version, from its header.
    version: u16,
    payload: Vec<u8>,
}

impl FrameReader {
    /// Opens `path` and checks its header; `None` when the file is shorter than a header
    /// (created, then a crash before the header was on disk: nothing was ever recorded).
    pub(super) fn open(path: &Path) -> Result<Option<Self>, ExperienceError> {
        let io = |e| ExperienceError::io(path, e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN {
            return Ok(None);
        }
        let mut reader = BufReader::new(file);
        let mut head = [0; HEADER_LEN as usize];
        reader.read_exact(&mut head).map_err(io)?;
        if &head[..4] != MAGIC {
            return Err(ExperienceError::NotALog {
                path: path.to_owned(),
            });
        }
        let found = u16::from_le_bytes([head[4], head[5]]);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&found) {
            return Err(ExperienceError::Version {
                path: path.to_owned(),
                found,
            });
        }
        Ok(Some(Self {
            path: path.to_owned(),
            reader,
            at: HEADER_LEN,
            len,
            version: found,
            payload: Vec::new(),
        }))
    }

    /// The file's format version: an older one must not be appended to.
    pub(super) fn version(&self) -> u16 {
        self.version
    }

    /// Where the next frame starts: after [`Frame::End`], the end of the intact part.
    pub(super) fn position(&self) -> u64 {
        self.at
    }

    /// The next frame. A broken frame with data behind it is an error: that is damage,
    /// not a torn append.
    pub(super) fn next_frame(&mut self) -> Result<Frame, ExperienceError> {
        let start = self.at;
        if start >= self.len {
            return Ok(Frame::End);
        }
        let broken = |reason: String, frame_end: u64| {
            if frame_end >= self.len {
                Ok(Frame::BrokenTail { at: start, reason })
            } else {
                Err(ExperienceError::Damaged {
                    path: self.path.clone(),
                    offset: start,
                    reason,
                    after: self.len - frame_end,
                })
            }
        };
        if self.len - start < FRAME_HEADER_LEN {
            return broken("incomplete frame header".to_owned(), self.len);
        }
        let mut head = [0; FRAME_HEADER_LEN as usize];
        self.reader
            .read_exact(&mut head)
            .map_err(|e| ExperienceError::io(&self.path, e))?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_RECORD_LEN {
            // The length itself is garbage, so where the frame ends is unknown: only the
            // end of the file makes it a torn write.
            return broken(format!("frame length {len} is implausible"), self.len);
        }
        let end = start + FRAME_HEADER_LEN + u64::from(len);
        if end > self.len {
            return broken("incomplete payload".to_owned(), end);
        }
        self.payload.resize(len as usize, 0);
        self.reader
            .read_exact(&mut self.payload)
            .map_err(|e| ExperienceError::io(&self.path, e))?;
        if crc32fast::hash(&self.payload) != crc {
            return broken("checksum mismatch".to_owned(), end);
        }
        let decoded = if self.version == 1 {
            decode_record::<TransitionV1>(&self.payload).map(Transition::from)
        } else {
            decode_record::<Transition>(&self.payload)
        };
        match decoded {
            Ok(t) => {
                self.at = end;
                Ok(Frame::Record(t))
            }
            Err(e) => broken(format!("undecodable record: {e}"), end),
        }
    }
}
