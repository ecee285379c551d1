//! `hosts/<host>/lease.json`: the host's lease record, and also the lock that guards it.
//!
//! The record is rewritten in place through the very descriptor that holds the flock. On
//! NFSv4 such a write carries the lock's stateid: a holder whose lock the server gave away
//! (its client was cut off past the server's lease, and another host fenced it meanwhile)
//! gets EIO when the write is flushed instead of overwriting the fence. A write by path
//! (temporary file, rename) carries no lock and would land after the fence: a renewal that
//! was in flight when the network went away did exactly that in the NFS lab.
//!
//! In-place writes are padded to whole 512-byte blocks (one write, no truncation in the
//! usual case), so a reader that does not lock sees the old record or the new one; a torn
//! read is retried.

use crate::error::{StateError, StateResult};
use crate::lease::LeaseRecord;
use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Records are padded to a multiple of this.
const BLOCK: usize = 512;

/// An open `lease.json`. Kept open by a holder that renews often (an open and a close less
/// per renewal); every change locks it, reads, writes and flushes through it, and unlocks.
#[derive(Debug)]
pub struct LeaseFile {
    file: File,
    path: PathBuf,
}

impl LeaseFile {
    /// Opens (creating it and its directory) the lease file at `path`.
    pub fn open(path: &Path) -> StateResult<LeaseFile> {
        crate::offload::blocking(|| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StateError::io("create directory", dir, e))?;
            }
            // Read-write: NFS emulates flock with byte-range locks, and an exclusive one
            // needs a descriptor open for writing.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| StateError::io("open", path, e))?;
            Ok(LeaseFile {
                file,
                path: path.to_owned(),
            })
        })
    }

    /// Read-modify-write under the lock: `change` sees the record as it is and returns the
    /// one to write, or `None` to leave it. Returns what was written. An error means nothing
    /// is known to be written, and the caller should open the file again (the lock may be
    /// lost, or the file replaced).
    pub fn update(
        &self,
        change: impl FnOnce(Option<LeaseRecord>) -> Option<LeaseRecord>,
    ) -> StateResult<Option<LeaseRecord>> {
        crate::offload::blocking(|| {
            flock(&self.file, FlockOperation::LockExclusive)
                .map_err(|e| StateError::io("lock", &self.path, e.into()))?;
            let result = self.update_locked(change);
            let unlocked = flock(&self.file, FlockOperation::Unlock)
                .map_err(|e| StateError::io("unlock", &self.path, e.into()));
            let written = result?;
            unlocked?;
            Ok(written)
        })
    }

    fn update_locked(
        &self,
        change: impl FnOnce(Option<LeaseRecord>) -> Option<LeaseRecord>,
    ) -> StateResult<Option<LeaseRecord>> {
        if !crate::lock::still_linked(&self.file, &self.path) {
            return Err(StateError::io(
                "lock",
                &self.path,
                std::io::Error::other("the lease file was removed or replaced while it was open"),
            ));
        }
        let old = self.read_all()?;
        let current = parse(&old, &self.path)?;
        let Some(next) = change(current) else {
            return Ok(None);
        };
        let bytes = encode(&next);
        self.file
            .write_all_at(&bytes, 0)
            .map_err(|e| StateError::io("write", &self.path, e))?;
        if old.len() > bytes.len() {
            self.file
                .set_len(bytes.len() as u64)
                .map_err(|e| StateError::io("truncate", &self.path, e))?;
        }
        // The flush is where NFS says the lock was lost: the write is refused, not landed.
        self.file
            .sync_data()
            .map_err(|e| StateError::io("flush", &self.path, e))?;
        Ok(Some(next))
    }

    fn read_all(&self) -> StateResult<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self
                .file
                .read_at(&mut chunk, bytes.len() as u64)
                .map_err(|e| StateError::io("read", &self.path, e))?;
            if n == 0 {
                return Ok(bytes);
            }
            bytes.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Reads the record without locking (watchers, `hosts`): `Ok(None)` when there is none.
/// A read that meets a rewrite half done is tried again.
pub fn read(path: &Path) -> StateResult<Option<LeaseRecord>> {
    crate::offload::blocking(|| {
        let mut tries = 0;
        loop {
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StateError::io("read", path, e)),
            };
            match parse(&bytes, path) {
                Err(StateError::Corrupt { .. }) if tries < 3 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                parsed => return parsed,
            }
        }
    })
}

/// An empty (or blank) file is a lease file opened but never written: no record yet.
fn parse(bytes: &[u8], path: &Path) -> StateResult<Option<LeaseRecord>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|source| StateError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Pretty JSON (people read it), padded with spaces to whole blocks, ending in a newline.
fn encode(record: &LeaseRecord) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).expect("lease records always serialize");
    let len = (bytes.len() + 1).div_ceil(BLOCK) * BLOCK;
    bytes.resize(len - 1, b' ');
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseState;
    use std::os::unix::fs::MetadataExt;

    fn record(epoch: u64, host: &str) -> LeaseRecord {
        LeaseRecord {
            host: host.to_owned(),
            epoch,
            renewals: 0,
            renewed_at: chrono::Utc::now(),
            period_ms: 30_000,
            state: LeaseState::Held,
            agent_pid: 1,
        }
    }

    #[test]
    fn records_are_whole_blocks_of_readable_json() {
        let bytes = encode(&record(3, "h"));
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(bytes.last(), Some(&b'\n'));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("{\n  \"host\": \"h\""), "{text}");
        let back: LeaseRecord = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.epoch, 3);
    }

    #[test]
    fn update_rewrites_in_place_and_shrinks_a_longer_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts/h/lease.json");
        let lease = LeaseFile::open(&path).unwrap();
        assert!(
            read(&path).unwrap().is_none(),
            "a fresh file holds no record"
        );
        let long = "h".repeat(700);
        lease.update(|_| Some(record(1, &long))).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024);
        let inode = std::fs::metadata(&path).unwrap().ino();
        let written = lease
            .update(|current| {
                let current = current.expect("the first record");
                Some(record(current.epoch + 1, "h"))
            })
            .unwrap();
        assert_eq!(written.map(|r| r.epoch), Some(2));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 512);
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "rewritten in place, not replaced"
        );
        assert_eq!(read(&path).unwrap().unwrap().host, "h");
        assert!(lease.update(|_| None).unwrap().is_none());
        assert_eq!(read(&path).unwrap().unwrap().epoch, 2);
    }

    #[test]
    fn a_replaced_file_is_an_error_not_a_silent_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        let lease = LeaseFile::open(&path).unwrap();
        lease.update(|_| Some(record(1, "h"))).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = lease.update(|_| Some(record(2, "h"))).unwrap_err();
        assert!(err.to_string().contains("removed or replaced"), "{err}");
        assert!(read(&path).unwrap().is_none());
    }

    #[test]
    fn a_record_that_is_not_json_is_named_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        std::fs::write(&path, "{ half").unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains("lease.json"), "{err}");
    }
}
