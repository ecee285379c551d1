//! Zip files, read through their central directory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use zip::{CompressionMethod, ZipArchive};

use super::sink::{Sink, Source, Unpacked};
use crate::error::CsarError;
use crate::limits::Limits;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

pub(super) fn extract(archive: &Path, root: &Path, limits: &Limits) -> Result<Unpacked, CsarError> {
    let corrupt = |entry: Option<&str>, detail: String| CsarError::Corrupt {
        archive: archive.to_path_buf(),
        entry: entry.map(str::to_string),
        detail,
    };
    let file =
        File::open(archive).map_err(|e| CsarError::io(format!("open {}", archive.display()), e))?;
    let mut zip =
        ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(None, e.to_string()))?;
    let mut sink = Sink::new(archive, root, limits);

    if zip.len() > limits.max_entries {
        return Err(CsarError::TooManyEntries {
            archive: archive.to_path_buf(),
            limit: limits.max_entries,
        });
    }
    if zip.has_duplicate_names() {
        return Err(corrupt(
            None,
            "its central directory lists the same name more than once".to_string(),
        ));
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_data(i)
            .map_err(|e| corrupt(None, e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    sink.check_declared_total(declared)?;

    for i in 0..zip.len() {
        sink.count()?;
        let mut entry = zip.by_index(i).map_err(|e| corrupt(None, e.to_string()))?;
        let raw = entry
            .name()
            .map_err(|e| corrupt(None, e.to_string()))?
            .into_owned();
        let unsupported = |what: String| CsarError::Unsupported {
            archive: archive.to_path_buf(),
            entry: raw.clone(),
            what,
        };
        if entry.encrypted() {
            return Err(unsupported("encrypted".to_string()));
        }
        match entry.compression() {
            CompressionMethod::Stored | CompressionMethod::Deflated => {}
            other => {
                return Err(unsupported(format!(
                    "compressed with {other}, but TOSCA zip files (ISO/IEC 21320-1) use only \
                     stored or deflate entries"
                )))
            }
        }
        let mode = entry.unix_mode().unwrap_or(0);
        match mode & S_IFMT {
            0 | S_IFREG | S_IFDIR => {}
            S_IFLNK => {
                let mut target = Vec::new();
                // A link's data is its target; read a bounded amount for the message.
                let _ = (&mut entry).take(4096).read_to_end(&mut target);
                return Err(CsarError::Link {
                    archive: archive.to_path_buf(),
                    entry: raw.clone(),
                    kind: "symbolic link",
                    target: String::from_utf8_lossy(&target).into_owned(),
                });
            }
            _ => return Err(unsupported(format!("a special file (mode {mode:o})"))),
        }

        if entry.is_dir() || mode & S_IFMT == S_IFDIR {
            if entry.size() > 0 {
                return Err(unsupported("a directory that carries data".to_string()));
            }
            if let Some(name) = sink.name(&raw)? {
                sink.directory(&name)?;
            }
            continue;
        }
        let Some(name) = sink.name(&raw)? else {
            return Err(unsupported(
                "a file named like the archive root".to_string(),
            ));
        };
        let source = Source {
            declared: entry.size(),
            compressed: Some(entry.compressed_size()),
            executable: mode & 0o111 != 0,
            reader: &mut entry,
        };
        sink.file(&name, source, &|e| corrupt(Some(&raw), e.to_string()))?;
    }
    Ok(sink.finish())
}
