//! Packing a directory into a CSAR.

mod walk;
mod write;

use std::collections::BTreeSet;
use std::fs::{self, File, Permissions};
use std::io::{self, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use walk::{walk, Item};
use write::{open_file, write_tar, write_zip, Content, Entry};

use crate::error::CsarError;
use crate::kind::ArchiveKind;
use crate::locate::locate;
use crate::meta::Meta;

/// What [`create`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub kind: ArchiveKind,
    /// The Entry-Definitions, relative to the archive root.
    pub entry: PathBuf,
    /// Regular files packed from the directory (a generated TOSCA.meta not counted).
    pub files: usize,
    /// Size of the archive written.
    pub bytes: u64,
}

const NAME_ENTRY: &str = "name the entry file explicitly (--entry)";
const GENERATED_META: &str = "TOSCA-Metadata/TOSCA.meta";

/// Packs `dir` into the archive `out`, its format told by the name (`.csar`/`.zip` zip,
/// `.tar.gz`/`.tgz` gzip tarball, `.tar` tarball).
///
/// The entry is `entry` (a path relative to `dir`, or to the current directory, inside
/// `dir`), else the directory's own TOSCA.meta, else its single root YAML file. Unless
/// `dir` has a TOSCA.meta (kept as it is), `TOSCA-Metadata/TOSCA.meta` is written with
/// `CSAR-Version: 2.0`, `Created-By: Khutulun <version>` and the Entry-Definitions.
///
/// `.git` and `out` itself are left out; symbolic links and special files are refused.
/// The same tree gives the same bytes (sorted entries, fixed times, modes and owners). The
/// archive is written to a temporary file beside `out` and renamed over it at the end.
pub fn create(dir: &Path, out: &Path, entry: Option<&Path>) -> Result<Created, CsarError> {
    let kind = ArchiveKind::from_file_name(out).ok_or_else(|| CsarError::UnknownExtension {
        path: out.to_path_buf(),
    })?;
    if !dir.is_dir() {
        return Err(CsarError::Unpackable {
            path: dir.to_path_buf(),
            problem: "is not a directory",
            advice: "give the directory that holds the TOSCA files",
        });
    }
    let root = dir
        .canonicalize()
        .map_err(|e| CsarError::io(format!("resolve {}", dir.display()), e))?;
    let out_name = out.file_name().unwrap_or_default();
    let out_parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let out_abs = out_parent
        .canonicalize()
        .map_err(|e| CsarError::io(format!("find the directory of {}", out.display()), e))?
        .join(out_name);

    let items = walk(&root, &out_abs)?;
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for item in &items {
        match item {
            Item::Dir(name) => dirs.insert(name.clone()),
            Item::File { name, .. } => files.insert(name.clone()),
        };
    }
    let explicit = entry
        .map(|e| resolve_entry(dir, &root, e, &files))
        .transpose()?;
    let located = locate(dir, &root, &files, &dirs, explicit.as_deref(), NAME_ENTRY)?;
    if located.entry.contains(['\n', '\r']) {
        return Err(CsarError::BadEntry {
            dir: dir.to_path_buf(),
            entry: located.entry,
            problem: "its name holds a line break, which TOSCA.meta cannot hold; rename it"
                .to_string(),
        });
    }

    let generated = located
        .meta_path
        .is_none()
        .then(|| Meta::generated(&located.entry).render());
    let plan = plan(
        &items,
        located.meta_path.unwrap_or(GENERATED_META),
        generated,
    );

    let bytes = write_atomically(out, out_parent, kind, &plan)?;
    Ok(Created {
        kind,
        entry: PathBuf::from(located.entry),
        files: files.len(),
        bytes,
    })
}

/// One planned archive entry.
enum Planned<'a> {
    Item(&'a Item),
    Generated(String, Vec<u8>),
    Dir(String),
}

/// TOSCA.meta (and its directory) first, so streaming readers meet it early; then the
/// tree in order.
fn plan<'a>(items: &'a [Item], meta_path: &str, generated: Option<String>) -> Vec<Planned<'a>> {
    let mut plan = Vec::with_capacity(items.len() + 2);
    let meta_dir = meta_path.rsplit_once('/').map(|(dir, _)| dir);
    if let Some(dir) = meta_dir {
        plan.push(Planned::Dir(dir.to_string()));
    }
    match generated {
        Some(text) => plan.push(Planned::Generated(meta_path.to_string(), text.into_bytes())),
        None => plan.extend(
            items
                .iter()
                .filter(|i| i.name() == meta_path)
                .map(Planned::Item),
        ),
    }
    plan.extend(
        items
            .iter()
            .filter(|i| i.name() != meta_path && Some(i.name()) != meta_dir)
            .map(Planned::Item),
    );
    plan
}

impl Planned<'_> {
    fn entry(&self) -> io::Result<Entry<'_>> {
        let (name, content) = match self {
            Planned::Dir(name) | Planned::Item(Item::Dir(name)) => (name.clone(), Content::Dir),
            Planned::Generated(name, bytes) => (
                name.clone(),
                Content::File {
                    reader: Box::new(&bytes[..]),
                    len: bytes.len() as u64,
                    executable: false,
                },
            ),
            Planned::Item(Item::File {
                name,
                path,
                len,
                executable,
            }) => {
                let file = open_file(path, *len)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                (
                    name.clone(),
                    Content::File {
                        reader: Box::new(file),
                        len: *len,
                        executable: *executable,
                    },
                )
            }
        };
        Ok(Entry { name, content })
    }
}

/// Writes the archive to a temporary file beside `out`, then renames it to `out`.
/// Returns the archive's size.
fn write_atomically(
    out: &Path,
    out_parent: &Path,
    kind: ArchiveKind,
    plan: &[Planned<'_>],
) -> Result<u64, CsarError> {
    let io_error = |e| CsarError::io(format!("write {}", out.display()), e);
    let prefix = format!(
        ".{}.",
        out.file_name().unwrap_or_default().to_string_lossy()
    );
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(out_parent)
        .map_err(io_error)?;

    let writer = BufWriter::new(tmp.as_file());
    let entries = plan.iter().map(Planned::entry);
    let written = match kind {
        ArchiveKind::Zip => write_zip(writer, entries),
        ArchiveKind::TarGz => write_tar(writer, true, entries),
        ArchiveKind::Tar => write_tar(writer, false, entries),
    };
    let writer = written.map_err(|(at, e)| {
        let at = at.map(|n| format!(" (adding \"{n}\")")).unwrap_or_default();
        CsarError::io(format!("write {}{at}", out.display()), e)
    })?;
    writer.into_inner().map_err(|e| io_error(e.into_error()))?;

    let file: &File = tmp.as_file();
    file.sync_all().map_err(io_error)?;
    fs::set_permissions(tmp.path(), Permissions::from_mode(0o644)).map_err(io_error)?;
    let bytes = file.metadata().map_err(io_error)?.len();
    tmp.persist(out).map_err(|e| io_error(e.error))?;
    Ok(bytes)
}

/// The archive name of an entry given on the command line: relative to `dir`, else to the
/// current directory, and inside `dir` either way.
fn resolve_entry(
    dir: &Path,
    root: &Path,
    entry: &Path,
    files: &BTreeSet<String>,
) -> Result<String, CsarError> {
    let candidates = if entry.is_absolute() {
        vec![entry.to_path_buf()]
    } else {
        vec![dir.join(entry), entry.to_path_buf()]
    };
    for candidate in candidates {
        let Ok(canonical) = candidate.canonicalize() else {
            continue;
        };
        let Ok(relative) = canonical.strip_prefix(root) else {
            continue;
        };
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| match c {
                Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        if let Some(name) = parts.map(|p| p.join("/")) {
            if files.contains(&name) {
                return Ok(name);
            }
        }
    }
    Err(CsarError::BadEntry {
        dir: dir.to_path_buf(),
        entry: entry.display().to_string(),
        problem: "it is not a file inside the directory (give its path relative to the \
                  directory)"
            .to_string(),
    })
}
