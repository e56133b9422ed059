//! The write path's file-system calls in one place: every byte the log writes and every
//! `fdatasync` go through [`Disk`]. In tests it counts the syncs, because the log promises
//! one per append and a test holds it to that; and it can run out of room, because the
//! tests may run as root, where a read-only directory stops nothing, and mounting a tiny
//! file system needs privileges they do not have.

use std::fs::File;
use std::io::Write;

/// Writes and syncs for the log.
#[derive(Debug, Default)]
pub(super) struct Disk {
    /// `fdatasync` calls made.
    #[cfg(test)]
    syncs: u64,
    /// Bytes that can still be written before writes fail as on a full disk.
    #[cfg(test)]
    room: Option<u64>,
    /// Counts syncs without making them, for tests about retention that append far more
    /// frames than a CI disk syncs in reasonable time.
    #[cfg(test)]
    pretend_sync: bool,
}

impl Disk {
    /// Writes all of `bytes` to `file` at its position.
    pub(super) fn write(&mut self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(room) = &mut self.room {
            let fits = usize::try_from(*room).unwrap_or(usize::MAX);
            if bytes.len() > fits {
                // A real full disk takes what fits, then refuses the rest.
                file.write_all(&bytes[..fits])?;
                *room = 0;
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            *room -= bytes.len() as u64;
        }
        file.write_all(bytes)
    }

    /// `fdatasync`: returns once what was written to `file` is on disk.
    pub(super) fn sync(&mut self, file: &File) -> std::io::Result<()> {
        #[cfg(test)]
        {
            self.syncs += 1;
            if self.pretend_sync {
                return Ok(());
            }
        }
        file.sync_data()
    }

    /// `fdatasync` calls since the log was opened.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Lets only `room` more bytes be written (`None`: unlimited).
    #[cfg(test)]
    pub(super) fn set_room(&mut self, room: Option<u64>) {
        self.room = room;
    }

    #[cfg(test)]
    pub(super) fn set_pretend_sync(&mut self, pretend: bool) {
        self.pretend_sync = pretend;
    }
}
