//! What the log keeps: a size limit on the whole directory and an age limit, both applied
//! by deleting the oldest whole segments, never the one being appended to.
//!
//! Age is judged by the records' own `at_s` against the newest record's `at_s`, not by the
//! wall clock: a segment goes once its newest record is more than `max_age_s` older than
//! the newest record in the log. The outcome then depends only on what was recorded, so it
//! is deterministic and testable, and an agent that was stopped for a month does not wake
//! up to delete everything it had.

use std::collections::VecDeque;

use super::segment::SegmentInfo;

/// Default `experience.max_bytes`: 64 MiB. A transition frame is about 130 bytes (246,178
/// bytes held 1,910 of them in the long-run test), so at one decision every 15 s the 30-day
/// age limit binds first (about 22 MB); the size limit is
/// for faster intervals. It is a sixteenth of the DaemonSet's 1 GiB `emptyDir` `sizeLimit`,
/// past which the kubelet evicts the pod.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default `experience.segment_bytes`: 4 MiB, the granularity retention deletes at.
pub(crate) const DEFAULT_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Default `experience.max_age_days`: 30 days, enough for a month of daily and weekly
/// patterns for calibrating the digital twin.
pub(crate) const DEFAULT_MAX_AGE_DAYS: u32 = 30;

/// The limits the log is kept within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// The directory's segments together never exceed this many bytes.
    pub(crate) max_bytes: u64,
    /// A segment is closed before an append would take it past this.
    pub(crate) segment_bytes: u64,
    /// A closed segment whose newest record is older than this (relative to the newest
    /// record) is deleted.
    pub(crate) max_age_s: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_age_s: u64::from(DEFAULT_MAX_AGE_DAYS) * 86_400,
        }
    }
}

/// Why a segment is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    Size,
    Age,
}

impl Reason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Age => "age",
        }
    }
}

impl Retention {
    /// Which of the `closed` segments (oldest first) to delete, as a reason per segment
    /// from the oldest on. The active segment is reserved `active_bytes` or a whole
    /// segment, whichever is more: it grows up to `segment_bytes` before the next
    /// retention pass, and the size limit must hold until then too.
    pub(super) fn retire(
        &self,
        closed: &VecDeque<SegmentInfo>,
        active_bytes: u64,
        newest_at_s: Option<u64>,
    ) -> Vec<Reason> {
        let reserved = active_bytes.max(self.segment_bytes);
        let mut kept: u64 = closed.iter().map(|s| s.bytes).sum();
        let mut out = Vec::new();
        for s in closed {
            let too_old = match (s.newest_at_s, newest_at_s) {
                // Holds no record: nothing is lost by deleting it.
                (None, _) => true,
                (Some(at), Some(newest)) => newest.saturating_sub(at) > self.max_age_s,
                (Some(_), None) => false,
            };
            let reason = if kept.saturating_add(reserved) > self.max_bytes {
                Reason::Size
            } else if too_old {
                Reason::Age
            } else {
                break;
            };
            kept -= s.bytes;
            out.push(reason);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn seg(number: u64, bytes: u64, newest_at_s: Option<u64>) -> SegmentInfo {
        SegmentInfo {
            number,
            path: PathBuf::from(format!("{number}")),
            bytes,
            records: 1,
            newest_at_s,
        }
    }

    #[test]
    fn the_oldest_go_first_until_size_and_age_are_both_met() {
        let r = Retention {
            max_bytes: 100,
            segment_bytes: 20,
            max_age_s: 1_000,
        };
        let closed: VecDeque<_> = [
            seg(1, 20, Some(100)),
            seg(2, 20, Some(5_000)),
            seg(3, 20, Some(5_500)),
            seg(4, 20, Some(9_000)),
            seg(5, 20, Some(9_900)),
        ]
        .into();
        // 100 closed + 20 reserved: one goes for size; the second is 5 000 s old.
        assert_eq!(
            r.retire(&closed, 8, Some(10_000)),
            vec![Reason::Size, Reason::Age, Reason::Age]
        );
        // Without an age problem, only size.
        assert_eq!(r.retire(&closed, 8, Some(5_600)), vec![Reason::Size]);
        // An oversized active segment (adopted, or a smaller limit since) is reserved as is.
        assert_eq!(
            r.retire(&closed, 60, Some(5_600)),
            vec![Reason::Size, Reason::Size, Reason::Size]
        );
        // A young segment stops the pass even when one behind it is old: whole segments,
        // oldest first, never a hole.
        let mixed: VecDeque<_> = [seg(1, 20, Some(9_500)), seg(2, 20, Some(0))].into();
        assert!(r.retire(&mixed, 8, Some(10_000)).is_empty());
        assert!(r.retire(&VecDeque::new(), 8, Some(10_000)).is_empty());
    }
}
