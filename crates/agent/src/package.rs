//! Service packages travel as gzip-compressed tar archives.

use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use std::path::{Component, Path};

/// The largest package the agent accepts, compressed and unpacked.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// At most this many files and directories in a package: a small archive must not unpack
/// into a flood of inodes on the shared state.
pub const MAX_PACKAGE_ENTRIES: usize = 10_000;

/// The largest deploy request body: a package of [`MAX_PACKAGE_BYTES`] in base64 (4 bytes
/// for every 3), and 1 MiB for the entry, the inputs and the JSON around them. The one
/// user-facing limit stays the package's.
pub const MAX_DEPLOY_BODY_BYTES: usize = (MAX_PACKAGE_BYTES as usize).div_ceil(3) * 4 + (1 << 20);

/// A digest of every regular file below `dir`, by its path relative to `dir` (`/`
/// separated): what tells two revisions' packages apart, file by file. Links are not
/// followed (packages hold none).
pub fn digests(dir: &Path) -> std::io::Result<khutulun_graph::FileDigests> {
    use std::hash::{Hash, Hasher};
    let mut digests = khutulun_graph::FileDigests::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let path = entry.path();
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path)?.hash(&mut hasher);
                let relative = path
                    .strip_prefix(dir)
                    .expect("walked below dir")
                    .to_string_lossy()
                    .into_owned();
                digests.insert(relative, format!("{:016x}", hasher.finish()));
            }
        }
    }
    Ok(digests)
}

/// Packs a directory (without `.git` and `target`) into a tar.gz.
pub fn pack_directory(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.follow_symlinks(true);
    add_dir(&mut builder, dir, Path::new(""))?;
    builder.into_inner()?.finish()
}

fn add_dir<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &Path,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name == ".git" || name == "target" || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        let inner = prefix.join(&name);
        if path.is_dir() {
            add_dir(builder, &path, &inner)?;
        } else if path.is_file() {
            builder.append_path_with_name(&path, &inner)?;
        }
    }
    Ok(())
}

/// Unpacks a tar.gz into `dest`, refusing entries that would land outside it, links, and
/// archives that grow beyond [`MAX_PACKAGE_BYTES`].
pub fn unpack(bytes: &[u8], dest: &Path) -> Result<(), UnpackError> {
    unpack_from(bytes, dest)
}

/// Why a package was not unpacked: the package (refused, 400) or the place it goes to (the
/// OS's own words, e.g. "No space left on device": 507).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Storage(String),
}

impl From<String> for UnpackError {
    fn from(message: String) -> Self {
        UnpackError::Refused(message)
    }
}

/// The OS error under a tar or IO error, if the failure came from the system (a full or
/// read-only disk), not from the archive's content.
fn os_cause(e: &std::io::Error) -> Option<std::io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(std::io::Error::from_raw_os_error(code));
            }
        }
        cause = error.source();
    }
    None
}

/// [`unpack`] of the archive file at `archive` (an upload streamed to disk), read as it is
/// unpacked: memory stays small whatever the package's size.
pub fn unpack_file(archive: &Path, dest: &Path) -> Result<(), UnpackError> {
    let file = std::fs::File::open(archive).map_err(|e| {
        UnpackError::Storage(format!(
            "cannot open the uploaded package {}: {e}",
            archive.display()
        ))
    })?;
    unpack_from(std::io::BufReader::new(file), dest)
}

fn unpack_from(reader: impl std::io::Read, dest: &Path) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut total: u64 = 0;
    let entries = archive
        .entries()
        .map_err(|e| UnpackError::Refused(format!("the package is not a tar.gz archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_PACKAGE_ENTRIES {
            return Err(format!(
                "the package holds more than {MAX_PACKAGE_ENTRIES} files and directories; refusing it"
            ).into());
        }
        let mut entry = entry
            .map_err(|e| UnpackError::Refused(format!("the package archive is damaged: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| UnpackError::Refused(format!("bad path in the package: {e}")))?
            .into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!(
                "package entry {} points outside the package; refusing it",
                path.display()
            )
            .into());
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(format!(
                "package entry {} is a link or special file; packages hold plain files and directories",
                path.display()
            ).into());
        }
        total += entry.header().size().unwrap_or(0);
        if total > MAX_PACKAGE_BYTES {
            return Err(format!(
                "the package unpacks to more than {} MiB; refusing it",
                MAX_PACKAGE_BYTES / (1024 * 1024)
            )
            .into());
        }
        entry.unpack_in(dest).map_err(|e| match os_cause(&e) {
            Some(os) => UnpackError::Storage(format!(
                "cannot store {} of the package: {os}",
                path.display()
            )),
            None => UnpackError::Refused(format!("cannot unpack {}: {e}", path.display())),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_of_too_many_entries_is_refused_before_it_fills_the_disk() {
        let src = tempfile::tempdir().unwrap();
        for i in 0..=MAX_PACKAGE_ENTRIES {
            std::fs::write(src.path().join(format!("f{i}")), "").unwrap();
        }
        let bytes = pack_directory(src.path()).unwrap();
        assert!(
            bytes.len() < 1 << 20,
            "a small archive: {} bytes",
            bytes.len()
        );
        let dest = tempfile::tempdir().unwrap();
        let err = unpack(&bytes, dest.path()).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Refused(m) if m.contains("more than 10000 files")),
            "{err}"
        );
        let unpacked = std::fs::read_dir(dest.path()).unwrap().count();
        assert!(unpacked <= MAX_PACKAGE_ENTRIES, "{unpacked}");
    }

    #[test]
    fn a_full_disk_is_reported_in_the_os_s_words_not_as_a_bad_package() {
        // A 1 MiB tmpfs (root only) and a package that unpacks to 2 MiB.
        let dest = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dest.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipping: cannot mount a tmpfs here (not root?)");
            return;
        }
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("big.bin"), "x".repeat(2 << 20)).unwrap();
        let bytes = pack_directory(src.path()).unwrap();
        let err = unpack(&bytes, dest.path());
        let _ = std::process::Command::new("umount")
            .arg(dest.path())
            .status();
        match err {
            Err(UnpackError::Storage(m)) => {
                assert!(m.contains("No space left on device"), "{m}")
            }
            other => panic!("expected a storage error, got {other:?}"),
        }
    }

    #[test]
    fn the_body_limit_fits_a_package_of_the_limit_and_little_more() {
        let base64_of_limit = (MAX_PACKAGE_BYTES as usize).div_ceil(3) * 4;
        assert!(MAX_DEPLOY_BODY_BYTES > base64_of_limit);
        assert!(MAX_DEPLOY_BODY_BYTES <= base64_of_limit + (2 << 20));
    }

    #[test]
    fn round_trip_keeps_files_and_skips_git() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("sub")).unwrap();
        std::fs::create_dir_all(src.path().join(".git")).unwrap();
        std::fs::write(src.path().join("service.yaml"), "a").unwrap();
        std::fs::write(src.path().join("sub/x.py"), "b").unwrap();
        std::fs::write(src.path().join(".git/HEAD"), "c").unwrap();
        let bytes = pack_directory(src.path()).unwrap();
        let dest = tempfile::tempdir().unwrap();
        unpack(&bytes, dest.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.path().join("sub/x.py")).unwrap(),
            "b"
        );
        assert!(!dest.path().join(".git").exists());
    }

    #[test]
    fn escaping_entries_are_refused() {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        let mut header = tar::Header::new_gnu();
        let data = b"evil";
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        // Write the raw name so the builder does not normalise it away.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
        let bytes = builder.into_inner().unwrap().finish().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let err = unpack(&bytes, dest.path()).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Refused(m) if m.contains("points outside the package")),
            "{err}"
        );
    }
}
