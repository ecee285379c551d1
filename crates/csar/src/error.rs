//! Everything that can go wrong, each message saying what, where and what to do.

use std::io;
use std::path::PathBuf;

/// A CSAR could not be opened, parsed or created.
#[derive(Debug, thiserror::Error)]
pub enum CsarError {
    /// Reading or writing a file failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, naming the file (and archive entry).
        what: String,
        #[source]
        source: io::Error,
    },

    /// The file has no archive signature.
    #[error(
        "{} is not a CSAR: it starts with neither a zip (PK\\x03\\x04), gzip (1f 8b) nor tar \
         (ustar) signature; give a .zip/.csar, .tar.gz/.tgz or .tar archive",
        path.display()
    )]
    NotAnArchive { path: PathBuf },

    /// The archive cannot be decoded (damaged, truncated, not what its signature says).
    #[error(
        "{}{} is damaged or truncated: {detail}; re-create or re-download the archive",
        archive.display(), at(entry)
    )]
    Corrupt {
        archive: PathBuf,
        entry: Option<String>,
        detail: String,
    },

    /// An entry name that could place a file outside the extraction directory.
    #[error(
        "{}: entry \"{entry}\" {reason}; entries must be relative paths inside the archive, so \
         the archive is refused (re-create it from inside the directory it packs)",
        archive.display()
    )]
    UnsafePath {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
    },

    /// A symbolic or hard link entry.
    #[error(
        "{}: entry \"{entry}\" is a {kind} to \"{target}\"; links are not allowed in a CSAR, \
         replace it with a copy of the file it points to",
        archive.display()
    )]
    Link {
        archive: PathBuf,
        entry: String,
        /// "symbolic link" or "hard link".
        kind: &'static str,
        target: String,
    },

    /// An entry that is neither a regular file nor a directory, or one that cannot be read.
    #[error(
        "{}: entry \"{entry}\" is {what}; a CSAR may hold only plain regular files and \
         directories, remove or replace it",
        archive.display()
    )]
    Unsupported {
        archive: PathBuf,
        entry: String,
        /// What the entry is, e.g. "a character device", "encrypted".
        what: String,
    },

    /// The same path twice, or as both a file and a directory.
    #[error(
        "{}: entry \"{entry}\" appears more than once (or as both a file and a directory), so \
         it is ambiguous which one is meant; re-create the archive",
        archive.display()
    )]
    Duplicate { archive: PathBuf, entry: String },

    /// More entries than [`Limits::max_entries`](crate::Limits).
    #[error(
        "{} has more than {limit} entries; extraction stopped (pack fewer files, or raise the \
         entry limit if the archive is trusted)",
        archive.display()
    )]
    TooManyEntries { archive: PathBuf, limit: usize },

    /// One file larger than [`Limits::max_entry_bytes`](crate::Limits).
    #[error(
        "{}: entry \"{entry}\" is larger than the limit of {limit} bytes per file; extraction \
         stopped (make the file smaller, or raise the limit if the archive is trusted)",
        archive.display()
    )]
    EntryTooLarge {
        archive: PathBuf,
        entry: String,
        limit: u64,
    },

    /// All files together larger than [`Limits::max_total_bytes`](crate::Limits).
    #[error(
        "{}{} unpacks to more than the limit of {limit} bytes; extraction stopped (make the \
         archive smaller, or raise the limit if the archive is trusted)",
        archive.display(), at(entry)
    )]
    TooLarge {
        archive: PathBuf,
        entry: Option<String>,
        limit: u64,
    },

    /// Unpacked data far larger than its compressed form.
    #[error(
        "{}{} expands more than {limit}:1, which looks like a decompression bomb; extraction \
         stopped (if the archive is trusted, raise the ratio limit)",
        archive.display(), at(entry)
    )]
    CompressionBomb {
        archive: PathBuf,
        entry: Option<String>,
        limit: u64,
    },

    /// A TOSCA.meta file that does not follow the grammar of TOSCA 2.0, 17.2.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Meta {
        /// The TOSCA.meta file: its archive and path inside it, or just "TOSCA.meta".
        file: String,
        /// 1-based line number, when one line is at fault.
        line: Option<usize>,
        message: String,
    },

    /// A file named by TOSCA.meta is not in the archive.
    #[error(
        "{}: {meta} names {key} \"{path}\", but {problem}; add the file to the archive or \
         correct {meta}",
        archive.display()
    )]
    MissingDefinitions {
        archive: PathBuf,
        /// Where TOSCA.meta is inside the archive.
        meta: String,
        /// "Entry-Definitions" or "Other-Definitions".
        key: &'static str,
        path: String,
        problem: String,
    },

    /// Both `TOSCA.meta` and `TOSCA-Metadata/TOSCA.meta`.
    #[error(
        "{} has both TOSCA.meta and TOSCA-Metadata/TOSCA.meta, but a CSAR may contain only \
         one TOSCA.meta; remove one of them",
        archive.display()
    )]
    TwoMetas { archive: PathBuf },

    /// No TOSCA.meta (or one without Entry-Definitions) and no YAML file at the root.
    #[error(
        "{} has no TOSCA.meta naming its Entry-Definitions and no YAML file at its root \
         (root files: {}){}; add TOSCA-Metadata/TOSCA.meta with Entry-Definitions, or put \
         exactly one .yaml file at the root",
        place.display(), list(found),
        wrapped_in.as_ref().map(|d| format!("; everything is inside \"{d}/\": pack the \
            contents of that directory, not the directory itself")).unwrap_or_default()
    )]
    NoEntry {
        /// The archive (or, for `create`, the directory).
        place: PathBuf,
        /// The files at the root.
        found: Vec<String>,
        /// The one top-level directory holding everything, if so.
        wrapped_in: Option<String>,
    },

    /// No TOSCA.meta and several YAML files at the root.
    #[error(
        "{} has several YAML files at its root ({}) and no TOSCA.meta saying which is the \
         Entry-Definitions; {advice}",
        place.display(), list(candidates)
    )]
    AmbiguousEntry {
        place: PathBuf,
        candidates: Vec<String>,
        /// What to do: add a TOSCA.meta (opening) or name the entry (creating).
        advice: &'static str,
    },

    /// `create` was given an output name whose kind it cannot tell.
    #[error(
        "cannot tell the archive format of {} from its name; end it with {}",
        path.display(), crate::kind::EXTENSIONS
    )]
    UnknownExtension { path: PathBuf },

    /// `create` met something it will not pack.
    #[error("cannot pack {}: it {problem}; {advice}", path.display())]
    Unpackable {
        path: PathBuf,
        problem: &'static str,
        advice: &'static str,
    },

    /// `create` was given an entry it cannot use.
    #[error("entry {entry:?} of {}: {problem}", dir.display())]
    BadEntry {
        dir: PathBuf,
        entry: String,
        problem: String,
    },
}

impl CsarError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> CsarError {
        CsarError::Io {
            what: what.into(),
            source,
        }
    }
}

fn at(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" (at entry \"{e}\")"))
        .unwrap_or_default()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
