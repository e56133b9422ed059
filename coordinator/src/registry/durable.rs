//! Writes that survive a crash or power loss at any instant: data is flushed to the disk
//! before the rename that makes it visible, and the rename itself is flushed by syncing
//! the directory that holds it. Without the directory sync a rename can still be lost
//! after `rename` returned, and without the file syncs it can survive while the data it
//! points to does not.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Creates `path` with `bytes` and waits until they are on disk.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Waits until the entries of directory `path` (creations, renames) are on disk.
#[cfg(unix)]
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Directories cannot be opened for syncing here; NTFS journals renames itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}
