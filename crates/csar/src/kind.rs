//! Which archive format a file is: by its first bytes when reading, by its name when
//! writing.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The archive formats of a CSAR (TOSCA 2.0, 17.1.1): Zip, and tarballs plain or
/// compressed with gzip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// Zip (ISO/IEC 21320-1: stored or deflated entries).
    Zip,
    /// A gzip-compressed tarball.
    TarGz,
    /// An uncompressed tarball.
    Tar,
}

/// The file name endings `create` understands, for messages.
pub const EXTENSIONS: &str = ".zip or .csar (zip), .tar.gz or .tgz (gzip tarball), .tar (tarball)";

impl ArchiveKind {
    /// The kind for an output file name: `.csar`/`.zip` → zip, `.tar.gz`/`.tgz` → tar.gz,
    /// `.tar` → tar (case-insensitive). `None` for anything else.
    pub fn from_file_name(path: &Path) -> Option<ArchiveKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".csar") || name.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(ArchiveKind::TarGz)
        } else if name.ends_with(".tar") {
            Some(ArchiveKind::Tar)
        } else {
            None
        }
    }

    /// The kind whose signature `head` (the first bytes of a file, up to 512) starts with.
    pub(crate) fn from_magic(head: &[u8]) -> Option<ArchiveKind> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(ArchiveKind::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveKind::TarGz)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(ArchiveKind::Tar)
        } else {
            None
        }
    }
}

impl fmt::Display for ArchiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::Tar => "tar",
        })
    }
}

/// The kind of the archive at `path` by its signature; `Ok(None)` when it has none.
pub(crate) fn detect(path: &Path) -> std::io::Result<Option<ArchiveKind>> {
    let mut head = Vec::with_capacity(512);
    File::open(path)?.take(512).read_to_end(&mut head)?;
    Ok(ArchiveKind::from_magic(&head))
}

/// Whether `path` is a file that starts with a zip, gzip or ustar signature (so a CLI can
/// tell an archive from a TOSCA file or a directory). Unreadable paths are not archives.
pub fn is_archive(path: &Path) -> bool {
    path.is_file() && matches!(detect(path), Ok(Some(_)))
}
