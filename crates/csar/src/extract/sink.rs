//! Where entries land: files and directories under the extraction root, with every limit
//! on counts and sizes enforced on the bytes actually written.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::CsarError;
use crate::limits::Limits;
use crate::name::normalize;

/// What an archive unpacked to (paths relative to the root, `/`-separated).
#[derive(Debug, Default)]
pub(crate) struct Unpacked {
    pub files: BTreeSet<String>,
    pub dirs: BTreeSet<String>,
}

/// Writes entries under `root`, refusing unsafe names, duplicates and anything over the
/// limits.
pub(crate) struct Sink<'a> {
    archive: &'a Path,
    root: &'a Path,
    limits: &'a Limits,
    entries: usize,
    total: u64,
    unpacked: Unpacked,
}

/// Where the bytes of an entry come from, for the messages and the ratio check.
pub(crate) struct Source<'r> {
    pub reader: &'r mut dyn Read,
    /// The size the archive declares.
    pub declared: u64,
    /// The compressed size, when the entry is compressed on its own (zip).
    pub compressed: Option<u64>,
    /// Whether any execute bit is set.
    pub executable: bool,
}

impl<'a> Sink<'a> {
    pub fn new(archive: &'a Path, root: &'a Path, limits: &'a Limits) -> Sink<'a> {
        Sink {
            archive,
            root,
            limits,
            entries: 0,
            total: 0,
            unpacked: Unpacked::default(),
        }
    }

    pub fn archive(&self) -> &Path {
        self.archive
    }

    pub fn finish(self) -> Unpacked {
        self.unpacked
    }

    /// Counts one entry of any kind against the entry limit.
    pub fn count(&mut self) -> Result<(), CsarError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(CsarError::TooManyEntries {
                archive: self.archive.to_path_buf(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Fails fast when the sizes an archive declares already exceed the total limit.
    pub fn check_declared_total(&self, declared: u64) -> Result<(), CsarError> {
        if declared > self.limits.max_total_bytes {
            return Err(self.too_large(None));
        }
        Ok(())
    }

    /// A safe relative name for an entry; `None` for the root itself.
    pub fn name(&self, raw: &str) -> Result<Option<String>, CsarError> {
        normalize(raw).map_err(|reason| CsarError::UnsafePath {
            archive: self.archive.to_path_buf(),
            entry: raw.to_string(),
            reason,
        })
    }

    /// A directory entry.
    pub fn directory(&mut self, name: &str) -> Result<(), CsarError> {
        if self.unpacked.files.contains(name) || self.file_above(name) {
            return Err(self.duplicate(name));
        }
        let path = self.root.join(name);
        fs::create_dir_all(&path).map_err(|e| self.write_error(name, &path, e))?;
        for dir in ancestors(name) {
            self.unpacked.dirs.insert(dir.to_string());
        }
        Ok(())
    }

    /// A regular file entry: its bytes are copied while counting them, and the copy stops
    /// as soon as a limit is passed, whatever the headers said.
    pub fn file(
        &mut self,
        name: &str,
        source: Source<'_>,
        read_error: &dyn Fn(io::Error) -> CsarError,
    ) -> Result<(), CsarError> {
        let limits = self.limits;
        if self.unpacked.files.contains(name)
            || self.unpacked.dirs.contains(name)
            || self.file_above(name)
        {
            return Err(self.duplicate(name));
        }
        if source.declared > limits.max_entry_bytes {
            return Err(self.entry_too_large(name));
        }
        if self.total.saturating_add(source.declared) > limits.max_total_bytes {
            return Err(self.too_large(Some(name)));
        }
        if let Some(compressed) = source.compressed {
            if limits.ratio_exceeded(source.declared, compressed) {
                return Err(self.bomb(name));
            }
        }

        let path = self.root.join(name);
        if let Some((parent, _)) = name.rsplit_once('/') {
            self.directory(parent)?;
        }
        let mode = if source.executable { 0o755 } else { 0o644 };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| self.write_error(name, &path, e))?;
        // Exactly this mode, whatever the umask.
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| self.write_error(name, &path, e))?;
        self.unpacked.files.insert(name.to_string());

        let mut buf = vec![0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let n = match source.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            written += n as u64;
            if written > limits.max_entry_bytes {
                return Err(self.entry_too_large(name));
            }
            if self.total + written > limits.max_total_bytes {
                return Err(self.too_large(Some(name)));
            }
            if let Some(compressed) = source.compressed {
                if limits.ratio_exceeded(written, compressed) {
                    return Err(self.bomb(name));
                }
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.write_error(name, &path, e))?;
        }
        self.total += written;
        if written != source.declared {
            return Err(CsarError::Corrupt {
                archive: self.archive.to_path_buf(),
                entry: Some(name.to_string()),
                detail: format!(
                    "the entry holds {written} bytes but its header says {}",
                    source.declared
                ),
            });
        }
        Ok(())
    }

    /// Whether a proper prefix directory of `name` is already a file.
    fn file_above(&self, name: &str) -> bool {
        ancestors(name)
            .skip(1)
            .any(|dir| self.unpacked.files.contains(dir))
    }

    fn duplicate(&self, name: &str) -> CsarError {
        CsarError::Duplicate {
            archive: self.archive.to_path_buf(),
            entry: name.to_string(),
        }
    }

    fn entry_too_large(&self, name: &str) -> CsarError {
        CsarError::EntryTooLarge {
            archive: self.archive.to_path_buf(),
            entry: name.to_string(),
            limit: self.limits.max_entry_bytes,
        }
    }

    fn too_large(&self, name: Option<&str>) -> CsarError {
        CsarError::TooLarge {
            archive: self.archive.to_path_buf(),
            entry: name.map(str::to_string),
            limit: self.limits.max_total_bytes,
        }
    }

    fn bomb(&self, name: &str) -> CsarError {
        CsarError::CompressionBomb {
            archive: self.archive.to_path_buf(),
            entry: Some(name.to_string()),
            limit: self.limits.max_ratio,
        }
    }

    fn write_error(&self, name: &str, path: &Path, e: io::Error) -> CsarError {
        CsarError::io(
            format!(
                "unpack entry \"{name}\" of {} to {}",
                self.archive.display(),
                path.display()
            ),
            e,
        )
    }
}

/// `a/b/c` → `a/b/c`, `a/b`, `a`.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |n| n.rsplit_once('/').map(|(parent, _)| parent))
}
