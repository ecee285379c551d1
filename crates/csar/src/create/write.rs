//! Writing the items to a zip or tar(.gz) stream, reproducibly: fixed timestamps (1980-01-01),
//! owner 0, modes 0644/0755, fixed compression levels, no gzip name or time.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

use flate2::{Compression, GzBuilder};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// 1980-01-01T00:00:00Z, the earliest time a zip can hold; used for tar too.
const MTIME: u64 = 315_532_800;

/// What an archive entry holds.
pub(crate) enum Content<'a> {
    Dir,
    File {
        reader: Box<dyn Read + 'a>,
        len: u64,
        executable: bool,
    },
}

/// An entry to write, in archive order.
pub(crate) struct Entry<'a> {
    pub name: String,
    pub content: Content<'a>,
}

fn mode(content: &Content<'_>) -> u32 {
    match content {
        Content::Dir
        | Content::File {
            executable: true, ..
        } => 0o755,
        Content::File { .. } => 0o644,
    }
}

/// Writes a zip. Errors carry the entry being written.
pub(crate) fn write_zip<'a, W: Write + Seek>(
    out: W,
    entries: impl Iterator<Item = io::Result<Entry<'a>>>,
) -> Result<W, (Option<String>, io::Error)> {
    let mut zip = ZipWriter::new(out);
    for entry in entries {
        let entry = entry.map_err(|e| (None, e))?;
        let at = |e: io::Error| (Some(entry.name.clone()), e);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::default())
            .system(System::Unix)
            .unix_permissions(mode(&entry.content));
        match entry.content {
            Content::Dir => zip
                .add_directory(format!("{}/", entry.name), options)
                .map_err(|e| at(io::Error::other(e)))?,
            Content::File {
                mut reader, len, ..
            } => {
                let options = options.large_file(len >= u64::from(u32::MAX));
                zip.start_file(&entry.name, options)
                    .map_err(|e| at(io::Error::other(e)))?;
                io::copy(&mut reader, &mut zip).map_err(at)?;
            }
        }
    }
    zip.finish().map_err(|e| (None, io::Error::other(e)))
}

/// Writes a tarball (UStar headers, GNU long names where a path does not fit), gzipped
/// when `gzip`.
pub(crate) fn write_tar<'a, W: Write>(
    out: W,
    gzip: bool,
    entries: impl Iterator<Item = io::Result<Entry<'a>>>,
) -> Result<W, (Option<String>, io::Error)> {
    if gzip {
        let gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(out, Compression::new(6));
        let gz = tar_entries(gz, entries)?;
        gz.finish().map_err(|e| (None, e))
    } else {
        tar_entries(out, entries)
    }
}

fn tar_entries<'a, W: Write>(
    out: W,
    entries: impl Iterator<Item = io::Result<Entry<'a>>>,
) -> Result<W, (Option<String>, io::Error)> {
    let mut tar = tar::Builder::new(out);
    for entry in entries {
        let entry = entry.map_err(|e| (None, e))?;
        let mut header = tar::Header::new_ustar();
        header.set_mode(mode(&entry.content));
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        let result = match entry.content {
            Content::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{}/", entry.name), io::empty())
            }
            Content::File { reader, len, .. } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(len);
                tar.append_data(&mut header, &entry.name, reader.take(len))
            }
        };
        result.map_err(|e| (Some(entry.name.clone()), e))?;
    }
    tar.into_inner().map_err(|e| (None, e))
}

/// Opens a file to pack, checking it still has the size it was listed with.
pub(crate) fn open_file(path: &std::path::Path, len: u64) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.len() != len {
        return Err(io::Error::other(format!(
            "{} changed size while being packed",
            path.display()
        )));
    }
    Ok(file)
}
