//! Where TOSCA files come from: a small reading trait, so that compiling is testable on
//! in-memory files, and the path rules of imports.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Reads the text of a TOSCA file. The compiler does no other IO.
pub trait SourceReader {
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// Reads files from the local filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsReader;

impl SourceReader for FsReader {
    /// Refuses a file larger than the YAML loader would accept before reading any of it.
    fn read(&self, path: &Path) -> io::Result<String> {
        let limit = crate::yaml::Limits::DEFAULT.max_file_bytes;
        let size = std::fs::metadata(path)?.len();
        if size > limit as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file is {size} bytes, more than the limit of {} MiB for a TOSCA file",
                    limit >> 20
                ),
            ));
        }
        std::fs::read_to_string(path)
    }
}

/// Reads files of one directory tree only (an uploaded package): a path that leads
/// outside it, by `..`, by an absolute path or `file:` import, or through a symbolic link,
/// is refused without being opened, so a template cannot make the compiler read (and echo in
/// its diagnostics) a file of the machine it runs on.
#[derive(Debug, Clone)]
pub struct ConfinedReader {
    root: PathBuf,
}

impl ConfinedReader {
    /// Confines reads to `root` (resolved now: it must exist).
    pub fn new(root: &Path) -> io::Result<ConfinedReader> {
        Ok(ConfinedReader {
            root: root.canonicalize()?,
        })
    }

    fn refuse(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is outside the package: a template may only read files of its own package",
                path.display()
            ),
        )
    }
}

impl SourceReader for ConfinedReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        let absolute = if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.root.join(path))
        };
        if !absolute.starts_with(&self.root) {
            return Err(Self::refuse(path));
        }
        // Symbolic links (packages hold none, but a root given by a caller might).
        let real = absolute.canonicalize()?;
        if !real.starts_with(&self.root) {
            return Err(Self::refuse(path));
        }
        FsReader.read(&real)
    }
}

/// Files held in memory, keyed by normalized path. Used by tests and by callers that already
/// hold a package in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryReader {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> &mut Self {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }

    /// Builder form of [`MemoryReader::insert`].
    pub fn with(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.insert(path, text);
        self
    }
}

impl SourceReader for MemoryReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file in memory"))
    }
}

/// Lexically normalizes a path: drops `.` components and resolves `..` against the
/// preceding component. Leading `..` of a relative path are kept.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    parts.iter().collect()
}

/// The URL of an import as the standard classifies it (§6.8.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImportUrl<'a> {
    /// No scheme, no leading slash: relative to the importing file's directory.
    Relative(&'a str),
    /// Leading slash: relative to the root of the repository (package) of the importing file.
    RepositoryRoot(&'a str),
    /// `file:` URL: a local absolute path.
    File(&'a str),
    /// Any other scheme (https:, http:, ...).
    Remote(&'a str),
}

pub(crate) fn classify_url(url: &str) -> ImportUrl<'_> {
    if let Some(rest) = url.strip_prefix("file://") {
        return ImportUrl::File(rest);
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return ImportUrl::File(rest);
    }
    if has_scheme(url) {
        return ImportUrl::Remote(url);
    }
    match url.strip_prefix('/') {
        Some(rest) => ImportUrl::RepositoryRoot(rest),
        None => ImportUrl::Relative(url),
    }
}

/// `scheme:` per RFC 3986: a letter, then letters, digits, `+`, `-` or `.`, then `:`.
/// A one-letter scheme is taken as a Windows drive, not a scheme.
fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.yaml")),
            PathBuf::from("a/c.yaml")
        );
        assert_eq!(
            normalize(Path::new("../x/y.yaml")),
            PathBuf::from("../x/y.yaml")
        );
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
    }

    #[test]
    fn urls_are_classified() {
        assert_eq!(
            classify_url("types.yaml"),
            ImportUrl::Relative("types.yaml")
        );
        assert_eq!(
            classify_url("../t/x.yaml"),
            ImportUrl::Relative("../t/x.yaml")
        );
        assert_eq!(
            classify_url("/base.yaml"),
            ImportUrl::RepositoryRoot("base.yaml")
        );
        assert_eq!(
            classify_url("file:///tmp/x.yaml"),
            ImportUrl::File("/tmp/x.yaml")
        );
        assert_eq!(
            classify_url("https://example.com/x.yaml"),
            ImportUrl::Remote("https://example.com/x.yaml")
        );
    }

    #[test]
    fn a_confined_reader_reads_only_inside_its_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "secret: 1").unwrap();
        let package = outside.path().join("package");
        std::fs::create_dir_all(package.join("types")).unwrap();
        std::fs::write(package.join("types/t.yaml"), "ok: 1").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            package.join("link.yaml"),
        )
        .unwrap();
        let reader = ConfinedReader::new(&package).unwrap();
        assert_eq!(reader.read(&package.join("types/t.yaml")).unwrap(), "ok: 1");
        assert_eq!(
            reader.read(&package.join("types/../types/t.yaml")).unwrap(),
            "ok: 1"
        );
        for path in [
            package.join("../secret.yaml"),
            outside.path().join("secret.yaml"),
            PathBuf::from("/etc/hostname"),
            package.join("link.yaml"),
        ] {
            let err = reader.read(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{path:?}");
            assert!(err.to_string().contains("outside the package"), "{err}");
        }
    }

    #[test]
    fn memory_reader_normalizes_paths() {
        let reader = MemoryReader::new().with("dir/../a.yaml", "x");
        assert_eq!(reader.read(Path::new("./a.yaml")).unwrap(), "x");
        assert!(reader.read(Path::new("b.yaml")).is_err());
    }
}
