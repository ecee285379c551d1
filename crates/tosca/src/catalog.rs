//! The catalog of files of one compile: the entry file and everything it imports, by path
//! (relative to the importing file) or by profile name, with cycle detection and the profile
//! name stamped on each file's types (§6.7.1, §6.8).

use crate::ast::{self, ImportTarget};
use crate::diagnostic::{did_you_mean, known_list, Diagnostics, Location};
use crate::parse::parse_file;
use crate::profiles::{candidates_in, profile_file_names, ProfileRegistry};
use crate::source::{classify_url, normalize, ImportUrl, SourceReader};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a file comes from; two imports of the same source load it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SourceId {
    File(PathBuf),
    Profile { profile: String, path: String },
}

pub(crate) struct LoadedFile {
    /// The name diagnostics use for this file.
    pub display: String,
    pub ast: ast::File,
    /// The profile name stamped on the types of this file, if any.
    pub profile: Option<String>,
    pub imports: Vec<Edge>,
    /// The directory of a file read from the file system (artifact files written in it are
    /// relative to it); None for a file of a profile held in memory.
    pub dir: Option<PathBuf>,
}

/// One import of a loaded file.
pub(crate) struct Edge {
    pub file: usize,
    pub namespace: Option<String>,
}

pub(crate) struct Catalog {
    /// The entry file is first.
    pub files: Vec<LoadedFile>,
}

/// Loads the entry file and, recursively, its imports.
pub(crate) fn load(
    entry: &Path,
    reader: &dyn SourceReader,
    profiles: &ProfileRegistry,
    diagnostics: &mut Diagnostics,
) -> Catalog {
    let mut loader = Loader {
        reader,
        profiles,
        diagnostics,
        files: Vec::new(),
        index: HashMap::new(),
        stack: Vec::new(),
        root: entry.parent().map(normalize).unwrap_or_default(),
    };
    let display = entry.display().to_string();
    loader.load(SourceId::File(normalize(entry)), display, None, None);
    Catalog {
        files: loader.files,
    }
}

struct Loader<'a> {
    reader: &'a dyn SourceReader,
    profiles: &'a ProfileRegistry,
    diagnostics: &'a mut Diagnostics,
    files: Vec<LoadedFile>,
    index: HashMap<SourceId, usize>,
    /// Files being loaded, importer first: an import of one of these closes a cycle.
    stack: Vec<usize>,
    /// The root of the entry file's repository (its directory): where `/path` imports start.
    root: PathBuf,
}

impl Loader<'_> {
    fn load(
        &mut self,
        id: SourceId,
        display: String,
        inherited_profile: Option<String>,
        imported_at: Option<&Location>,
    ) -> Option<usize> {
        if let Some(&known) = self.index.get(&id) {
            if let Some(position) = self.stack.iter().position(|&f| f == known) {
                let mut chain: Vec<&str> = self.stack[position..]
                    .iter()
                    .map(|&f| self.files[f].display.as_str())
                    .collect();
                chain.push(&self.files[known].display);
                let message = format!("import cycle: {}", chain.join(" imports "));
                let at = imported_at
                    .cloned()
                    .unwrap_or_else(|| Location::new(display.clone(), 1, 1));
                self.diagnostics.error(&at, message);
                return None;
            }
            return Some(known);
        }
        let at = imported_at
            .cloned()
            .unwrap_or_else(|| Location::new(display.clone(), 1, 1));
        let text = match &id {
            SourceId::File(path) => match self.reader.read(path) {
                Ok(text) => text,
                Err(error) => {
                    self.diagnostics
                        .error(&at, format!("cannot read TOSCA file {display}: {error}"));
                    return None;
                }
            },
            SourceId::Profile { profile, path } => {
                match self.profiles.get(profile).and_then(|p| p.files.get(path)) {
                    Some(text) => text.clone(),
                    None => {
                        self.diagnostics
                            .error(&at, format!("profile \"{profile}\" has no file \"{path}\""));
                        return None;
                    }
                }
            }
        };
        let node = match crate::yaml::load_with_warnings(&display, &text) {
            Ok((node, warnings)) => {
                self.diagnostics.extend(warnings);
                node
            }
            Err(errors) => {
                self.diagnostics.extend(errors);
                return None;
            }
        };
        let ast = parse_file(&node, self.diagnostics);
        let profile = ast
            .profile
            .as_ref()
            .map(|p| p.name.clone())
            .or(inherited_profile);
        let imports = ast.imports.clone();
        let repositories = ast.repositories.clone();
        let me = self.files.len();
        let dir = match &id {
            SourceId::File(path) => Some(path.parent().map(Path::to_path_buf).unwrap_or_default()),
            SourceId::Profile { .. } => None,
        };
        self.files.push(LoadedFile {
            display,
            ast,
            profile: profile.clone(),
            imports: Vec::new(),
            dir,
        });
        self.index.insert(id.clone(), me);
        self.stack.push(me);
        for import in &imports {
            let Some((child_id, child_display, child_profile)) =
                self.target(&id, import, &repositories, &profile)
            else {
                continue;
            };
            if let Some(child) = self.load(
                child_id,
                child_display,
                child_profile,
                Some(&import.location),
            ) {
                let namespace = import.namespace.as_ref().map(|n| n.name.clone());
                self.files[me].imports.push(Edge {
                    file: child,
                    namespace,
                });
            }
        }
        self.stack.pop();
        Some(me)
    }

    /// The source an import points at, its display name and the profile it inherits.
    fn target(
        &mut self,
        importer: &SourceId,
        import: &ast::Import,
        repositories: &[ast::Repository],
        profile: &Option<String>,
    ) -> Option<(SourceId, String, Option<String>)> {
        match &import.target {
            ImportTarget::Profile(name) => {
                let Some(registered) = self.profiles.get(&name.name) else {
                    let (found, mismatched) = self.profile_on_disk(importer, &name.name);
                    if let Some(path) = found {
                        let display = path.display().to_string();
                        return Some((SourceId::File(path), display, Some(name.name.clone())));
                    }
                    let hint = did_you_mean(&name.name, self.profiles.names());
                    let mismatch = mismatched
                        .map(|(path, declared)| {
                            format!(
                                "; {} declares profile \"{declared}\", not this one",
                                path.display()
                            )
                        })
                        .unwrap_or_default();
                    self.diagnostics.error(
                        &name.location,
                        format!(
                            "unknown profile \"{}\"{hint}; known profiles: {}; no file for it ({}) in the importing file's directory or the profile search path{mismatch}",
                            name.name,
                            known_list(self.profiles.names()),
                            profile_file_names(&name.name).join(", ")
                        ),
                    );
                    return None;
                };
                Some((
                    SourceId::Profile {
                        profile: name.name.clone(),
                        path: registered.entry.clone(),
                    },
                    profile_display(&name.name, &registered.entry),
                    Some(name.name.clone()),
                ))
            }
            ImportTarget::Url(url) => {
                if let Some(repository) = &import.repository {
                    return self.repository_target(
                        importer,
                        url,
                        repository,
                        repositories,
                        profile,
                    );
                }
                let path = match (classify_url(&url.name), importer) {
                    (ImportUrl::Remote(remote), _) => {
                        self.diagnostics.error(
                            &url.location,
                            format!(
                                "cannot import {remote}: only relative paths, file: URLs and profiles can be imported (TOSCA files are not fetched over the network)"
                            ),
                        );
                        return None;
                    }
                    (ImportUrl::File(path), SourceId::File(from)) => {
                        // A relative file: path is read relative to the importing file.
                        normalize(&from.parent().unwrap_or(Path::new("")).join(path))
                    }
                    (ImportUrl::Relative(rel), SourceId::File(from)) => {
                        normalize(&from.parent().unwrap_or(Path::new("")).join(rel))
                    }
                    (ImportUrl::RepositoryRoot(rel), SourceId::File(_)) => {
                        normalize(&self.root.join(rel))
                    }
                    (ImportUrl::File(_), SourceId::Profile { profile, .. }) => {
                        self.diagnostics.error(
                            &url.location,
                            format!(
                                "profile \"{profile}\" cannot import {}: profile files import each other by relative path",
                                url.name
                            ),
                        );
                        return None;
                    }
                    (
                        ImportUrl::Relative(rel),
                        SourceId::Profile {
                            profile: name,
                            path,
                        },
                    ) => {
                        let joined = Path::new(path).parent().unwrap_or(Path::new("")).join(rel);
                        return Some(profile_file(name, &joined, profile));
                    }
                    (ImportUrl::RepositoryRoot(rel), SourceId::Profile { profile: name, .. }) => {
                        return Some(profile_file(name, Path::new(rel), profile));
                    }
                };
                let display = path.display().to_string();
                Some((SourceId::File(path), display, profile.clone()))
            }
        }
    }

    /// A profile that is not registered, looked for as a file (see [`profile_file_names`]) in
    /// the importing file's directory, the entry file's directory and the registry's search
    /// directories. Returns the file that declares exactly `profile`, or else the first file
    /// found that declares another profile (for the error message).
    fn profile_on_disk(
        &self,
        importer: &SourceId,
        profile: &str,
    ) -> (Option<PathBuf>, Option<(PathBuf, String)>) {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let SourceId::File(from) = importer {
            dirs.push(from.parent().map(normalize).unwrap_or_default());
        }
        dirs.push(self.root.clone());
        dirs.extend(self.profiles.search_dirs().iter().map(|d| normalize(d)));
        dirs.dedup();
        let mut mismatched = None;
        for dir in dirs {
            for path in candidates_in(&dir, profile) {
                let Ok(text) = self.reader.read(&path) else {
                    continue;
                };
                let declared = crate::yaml::load(&path.display().to_string(), &text)
                    .ok()
                    .and_then(|node| declared_profile(&node));
                match declared {
                    Some(declared) if declared == profile => return (Some(path), None),
                    Some(declared) if mismatched.is_none() => {
                        mismatched = Some((path, declared));
                    }
                    _ => {}
                }
            }
        }
        (None, mismatched)
    }

    /// An import from a repository (§6.8.2.2): the url is a path from the repository's root.
    /// Repositories whose url is a `file:` URL or a path are local directories; others would
    /// be fetched over the network, which this processor does not do.
    fn repository_target(
        &mut self,
        importer: &SourceId,
        url: &ast::Named,
        repository: &ast::Named,
        repositories: &[ast::Repository],
        profile: &Option<String>,
    ) -> Option<(SourceId, String, Option<String>)> {
        let Some(definition) = repositories.iter().find(|r| r.name.name == repository.name) else {
            let names: Vec<&str> = repositories.iter().map(|r| r.name.name.as_str()).collect();
            self.diagnostics.error(
                &repository.location,
                format!(
                    "unknown repository \"{}\" in the import of {}{}; repositories defined in this file: {}",
                    repository.name,
                    url.name,
                    did_you_mean(&repository.name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
            return None;
        };
        let relative = match classify_url(&url.name) {
            ImportUrl::Relative(path) | ImportUrl::RepositoryRoot(path) => path,
            ImportUrl::File(_) | ImportUrl::Remote(_) => {
                self.diagnostics.error(
                    &url.location,
                    format!(
                        "the import of {} names repository \"{}\", so its url must be a path within the repository, not a URL with a scheme (§6.8.2.2)",
                        url.name, repository.name
                    ),
                );
                return None;
            }
        };
        let SourceId::File(from) = importer else {
            self.diagnostics.error(
                &repository.location,
                "files of a profile cannot import from repositories",
            );
            return None;
        };
        let base = from.parent().unwrap_or(Path::new(""));
        let root = match definition.url.as_ref().map(|u| classify_url(&u.name)) {
            Some(ImportUrl::File(path)) | Some(ImportUrl::Relative(path)) => base.join(path),
            Some(ImportUrl::RepositoryRoot(path)) => self.root.join(path),
            Some(ImportUrl::Remote(remote)) => {
                self.diagnostics.error(
                    &repository.location,
                    format!(
                        "cannot import {} from repository \"{}\" at {remote}: TOSCA files are not fetched over the network; only repositories with a file: URL or a path can be imported from",
                        url.name, repository.name
                    ),
                );
                return None;
            }
            None => return None,
        };
        let path = normalize(&root.join(relative));
        let display = path.display().to_string();
        Some((SourceId::File(path), display, profile.clone()))
    }
}

/// A file of registered profile `name` at `path` (within the profile), imported by a file
/// whose types carry `profile`.
fn profile_file(
    name: &str,
    path: &Path,
    profile: &Option<String>,
) -> (SourceId, String, Option<String>) {
    let path = normalize(path).to_string_lossy().to_string();
    let display = profile_display(name, &path);
    let id = SourceId::Profile {
        profile: name.to_string(),
        path,
    };
    (id, display, profile.clone())
}

fn profile_display(profile: &str, path: &str) -> String {
    format!("<{profile}>/{path}")
}

/// The `profile` a TOSCA file declares at its top level, if any.
fn declared_profile(node: &crate::yaml::Node) -> Option<String> {
    node.as_map()?
        .iter()
        .find(|(key, _)| key.as_str() == Some("profile"))
        .and_then(|(_, value)| value.as_str().map(str::to_string))
}
