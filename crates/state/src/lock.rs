//! `flock(2)` locks on files of the state directory. flock works across hosts on NFSv4 and
//! is released by the kernel when the holder dies, which is what fencing relies on.

use crate::error::{StateError, StateResult};
use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An exclusive flock, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    /// Held open only: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the lock is held. A lock file that was unlinked and re-created while we
    /// waited (a deleted service) is detected and the lock is taken again on the new file.
    pub fn acquire(path: &Path) -> StateResult<FileLock> {
        crate::offload::blocking(|| FileLock::acquire_here(path))
    }

    fn acquire_here(path: &Path) -> StateResult<FileLock> {
        loop {
            let file = open_lock_file(path)?;
            flock(&file, FlockOperation::LockExclusive)
                .map_err(|e| StateError::io("lock", path, e.into()))?;
            if still_linked(&file, path) {
                return Ok(FileLock {
                    _file: file,
                    path: path.to_owned(),
                });
            }
        }
    }

    /// Takes the lock if nobody holds it; `Ok(None)` when somebody does.
    pub fn try_acquire(path: &Path) -> StateResult<Option<FileLock>> {
        crate::offload::blocking(|| FileLock::try_acquire_here(path))
    }

    fn try_acquire_here(path: &Path) -> StateResult<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) if still_linked(&file, path) => Ok(Some(FileLock {
                _file: file,
                path: path.to_owned(),
            })),
            Ok(()) => Ok(None),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(StateError::io("lock", path, e.into())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_lock_file(path: &Path) -> StateResult<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StateError::io("open lock file", path, e))
}

/// Whether `file` is still the file named `path` (not unlinked or replaced since it was
/// opened).
pub(crate) fn still_linked(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.ino() == named.ino() && held.dev() == named.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_try_fails_while_held_and_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = FileLock::try_acquire(&path).unwrap().expect("free lock");
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }

    #[test]
    fn blocking_acquire_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = FileLock::acquire(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let t = std::thread::spawn(move || {
            let _l = FileLock::acquire(&p).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }
}
