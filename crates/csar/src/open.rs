//! Opening a CSAR: detect, unpack into a private directory, find its metadata and entry.

use std::path::{Path, PathBuf};

use crate::error::CsarError;
use crate::extract::extract;
use crate::kind::{detect, ArchiveKind};
use crate::limits::Limits;
use crate::locate::{locate, ADD_META};
use crate::meta::Meta;

/// An unpacked CSAR. The files live in a private temporary directory that is removed when
/// the `Csar` is dropped (call `csar.root.keep()` to keep it).
#[derive(Debug)]
pub struct Csar {
    pub kind: ArchiveKind,
    /// The archive's contents (mode 0700; files 0644, or 0755 when executable in the
    /// archive).
    pub root: tempfile::TempDir,
    /// The TOSCA.meta, `None` for the form without one.
    pub meta: Option<Meta>,
    /// The entry TOSCA file relative to the root: Entry-Definitions, or the single root
    /// YAML file.
    pub entry: PathBuf,
    /// Every regular file, relative to the root, `/`-separated, sorted.
    pub files: Vec<String>,
}

impl Csar {
    /// The directory the archive was unpacked into.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The entry TOSCA file as an absolute path inside [`Csar::root`].
    pub fn entry_path(&self) -> PathBuf {
        self.root.path().join(&self.entry)
    }
}

/// Opens the CSAR at `path`, unpacking it into a new directory under the system temporary
/// directory. See [`open_in`].
pub fn open(path: &Path, limits: &Limits) -> Result<Csar, CsarError> {
    open_in(path, limits, &std::env::temp_dir())
}

/// Opens the CSAR at `path` (zip, tar.gz or tar, told by its first bytes, not its name),
/// unpacking it into a new private directory under `parent` (e.g. a staging directory on
/// the filesystem the contents will be moved to).
///
/// Entries that are links, devices or would land outside the directory are refused, as
/// is anything over `limits`; on any error nothing is left under `parent`.
pub fn open_in(path: &Path, limits: &Limits, parent: &Path) -> Result<Csar, CsarError> {
    let kind = detect(path)
        .map_err(|e| CsarError::io(format!("read {}", path.display()), e))?
        .ok_or_else(|| CsarError::NotAnArchive {
            path: path.to_path_buf(),
        })?;
    let root = tempfile::Builder::new()
        .prefix(".csar-")
        .tempdir_in(parent)
        .map_err(|e| {
            CsarError::io(
                format!(
                    "create a directory under {} to unpack into",
                    parent.display()
                ),
                e,
            )
        })?;
    let unpacked = extract(path, kind, root.path(), limits)?;
    let located = locate(
        path,
        root.path(),
        &unpacked.files,
        &unpacked.dirs,
        None,
        ADD_META,
    )?;
    Ok(Csar {
        kind,
        root,
        meta: located.meta,
        entry: PathBuf::from(located.entry),
        files: unpacked.files.into_iter().collect(),
    })
}
