//! The project lock: one run at a time per project. The operating system releases it when
//! the process ends, however it ends, so a killed run never leaves a stale lock.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::{Result, RuntimeError};

/// A held project lock; released on drop.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

impl ProjectLock {
    /// Takes the lock at `path`, or fails at once if another run holds it.
    ///
    /// # Errors
    /// [`RuntimeError::Locked`] when held elsewhere; I/O errors otherwise.
    pub fn acquire(path: &Path) -> Result<ProjectLock> {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?
            .into_parts()
            .0;
        match file.try_lock() {
            Ok(()) => Ok(ProjectLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(RuntimeError::Locked(path.display().to_string())),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let first = ProjectLock::acquire(&path).unwrap();
        assert!(matches!(
            ProjectLock::acquire(&path),
            Err(RuntimeError::Locked(_))
        ));
        drop(first);
        ProjectLock::acquire(&path).unwrap();
    }
}
