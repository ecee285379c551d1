//! Tarballs, plain or gzip-compressed, read as a stream.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::EntryType;

use super::meter::{CountIn, Guard, Meter, Trip, HEADER_ALLOWANCE};
use super::sink::{Sink, Source, Unpacked};
use crate::error::CsarError;
use crate::limits::Limits;

/// Tar overhead allowed per entry on top of the file data (headers, padding, long names).
const OVERHEAD_PER_ENTRY: u64 = 8 << 10;

pub(super) fn extract(
    archive: &Path,
    gzip: bool,
    root: &Path,
    limits: &Limits,
) -> Result<Unpacked, CsarError> {
    let file =
        File::open(archive).map_err(|e| CsarError::io(format!("open {}", archive.display()), e))?;
    let meter = Rc::new(Meter::default());
    let counted = CountIn {
        inner: BufReader::new(file),
        meter: meter.clone(),
    };
    let decoded: Box<dyn Read> = if gzip {
        Box::new(GzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let cap = limits
        .max_total_bytes
        .saturating_add((limits.max_entries as u64).saturating_mul(OVERHEAD_PER_ENTRY))
        .saturating_add(HEADER_ALLOWANCE);
    let guard = Guard {
        inner: decoded,
        meter: meter.clone(),
        ratio: gzip.then_some(limits.max_ratio),
        cap,
    };
    let mut tar = tar::Archive::new(guard);
    let mut sink = Sink::new(archive, root, limits);
    let stream = Stream {
        archive,
        meter: &meter,
        limits,
    };

    entries(&mut tar, &mut sink, &stream)?;
    if gzip {
        // Read what follows the tar end marker, so the gzip trailer (CRC, length) is
        // checked and a truncated stream is noticed.
        let mut rest = tar.into_inner();
        meter.begin_headers();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| stream.error(e, None))?;
    }
    Ok(sink.finish())
}

/// Turns errors of the metered stream into what they mean.
struct Stream<'a> {
    archive: &'a Path,
    meter: &'a Meter,
    limits: &'a Limits,
}

impl Stream<'_> {
    fn error(&self, e: io::Error, at: Option<&str>) -> CsarError {
        let archive = self.archive.to_path_buf();
        let entry = at.map(str::to_string);
        match self.meter.tripped() {
            Some(Trip::Ratio) => CsarError::CompressionBomb {
                archive,
                entry,
                limit: self.limits.max_ratio,
            },
            Some(Trip::Cap) => CsarError::TooLarge {
                archive,
                entry,
                limit: self.limits.max_total_bytes,
            },
            Some(Trip::Headers) => CsarError::Corrupt {
                archive,
                entry,
                detail: format!(
                    "more than {HEADER_ALLOWANCE} bytes of tar headers (long names, pax \
                     records, skipped data) between two entries"
                ),
            },
            None => CsarError::Corrupt {
                archive,
                entry,
                detail: e.to_string(),
            },
        }
    }
}

fn entries<R: Read>(
    tar: &mut tar::Archive<R>,
    sink: &mut Sink<'_>,
    stream: &Stream<'_>,
) -> Result<(), CsarError> {
    let mut entries = tar.entries().map_err(|e| stream.error(e, None))?;
    let mut last: Option<String> = None;
    loop {
        stream.meter.begin_headers();
        let next = entries.next();
        stream.meter.end_headers();
        let Some(entry) = next else {
            return Ok(());
        };
        let mut entry = entry.map_err(|e| stream.error(e, last.as_deref()))?;
        sink.count()?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        one(&mut entry, &raw, sink, stream)?;
        last = Some(raw);
    }
}

fn one<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &str,
    sink: &mut Sink<'_>,
    stream: &Stream<'_>,
) -> Result<(), CsarError> {
    let unsupported = |what: &str| CsarError::Unsupported {
        archive: sink.archive().to_path_buf(),
        entry: raw.to_string(),
        what: what.to_string(),
    };
    if std::str::from_utf8(&entry.path_bytes()).is_err() {
        return Err(unsupported("named in an encoding other than UTF-8"));
    }
    let header = entry.header();
    match header.entry_type() {
        // Old (v7) tarballs mark directories only by a trailing slash.
        EntryType::Regular if raw.ends_with('/') && entry.size() == 0 => match sink.name(raw)? {
            Some(name) => sink.directory(&name),
            None => Ok(()),
        },
        EntryType::Regular | EntryType::Continuous => {
            let Some(name) = sink.name(raw)? else {
                return Err(unsupported("a file named like the archive root"));
            };
            let executable = header.mode().map(|m| m & 0o111 != 0).unwrap_or(false);
            let declared = entry.size();
            let source = Source {
                reader: entry,
                declared,
                compressed: None,
                executable,
            };
            sink.file(&name, source, &|e| stream.error(e, Some(raw)))
        }
        EntryType::Directory => {
            if entry.size() > 0 {
                return Err(unsupported("a directory that carries data"));
            }
            match sink.name(raw)? {
                Some(name) => sink.directory(&name),
                None => Ok(()),
            }
        }
        EntryType::Symlink | EntryType::Link => Err(CsarError::Link {
            archive: sink.archive().to_path_buf(),
            entry: raw.to_string(),
            kind: if header.entry_type() == EntryType::Symlink {
                "symbolic link"
            } else {
                "hard link"
            },
            target: entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default(),
        }),
        // Global pax attributes (e.g. from `git archive`) describe no file.
        EntryType::XGlobalHeader => Ok(()),
        EntryType::Char => Err(unsupported("a character device")),
        EntryType::Block => Err(unsupported("a block device")),
        EntryType::Fifo => Err(unsupported("a FIFO (named pipe)")),
        EntryType::GNUSparse => Err(unsupported("a sparse file")),
        other => Err(unsupported(&format!(
            "a tar entry of unsupported type '{}'",
            other.as_byte().escape_ascii()
        ))),
    }
}
