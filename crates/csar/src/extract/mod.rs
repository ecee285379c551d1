//! Unpacking an archive into a directory, entry by entry, within [`Limits`].

mod meter;
mod sink;
mod tar;
mod zip;

use std::path::Path;

pub(crate) use sink::Unpacked;

use crate::error::CsarError;
use crate::kind::ArchiveKind;
use crate::limits::Limits;

/// Unpacks the archive at `archive` (of `kind`) into the empty directory `root`.
pub(crate) fn extract(
    archive: &Path,
    kind: ArchiveKind,
    root: &Path,
    limits: &Limits,
) -> Result<Unpacked, CsarError> {
    match kind {
        ArchiveKind::Zip => zip::extract(archive, root, limits),
        ArchiveKind::TarGz => tar::extract(archive, true, root, limits),
        ArchiveKind::Tar => tar::extract(archive, false, root, limits),
    }
}
