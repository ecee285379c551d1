//! The catalog of files of one compile: the entry file and everything it imports, by path
//! (relative to the importing file) or by profile name, with cycle detection and the profile
//! name stamped on each file's types (§6.7.1, §6.8).

use crate::ast::{self, ImportTarget};
use crate::diagnostic::{did_you_mean, known_list, Diagnostics, Location};
use crate::parse::parse_file;
use crate::profiles::ProfileRegistry;
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
                let at = imported_at.cloned().unwrap_or_default();
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
        let node = match crate::yaml::load(&display, &text) {
            Ok(node) => node,
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
        let repositories: Vec<String> = ast.repositories.iter().map(|r| r.name.clone()).collect();
        let me = self.files.len();
        self.files.push(LoadedFile {
            display,
            ast,
            profile: profile.clone(),
            imports: Vec::new(),
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
        repositories: &[String],
        profile: &Option<String>,
    ) -> Option<(SourceId, String, Option<String>)> {
        match &import.target {
            ImportTarget::Profile(name) => {
                let Some(registered) = self.profiles.get(&name.name) else {
                    let hint = did_you_mean(&name.name, self.profiles.names());
                    self.diagnostics.error(
                        &name.location,
                        format!(
                            "unknown profile \"{}\"{hint}; known profiles: {}",
                            name.name,
                            known_list(self.profiles.names())
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
                    if repositories.contains(&repository.name) {
                        self.diagnostics.error(
                            &repository.location,
                            format!(
                                "cannot import {} from repository \"{}\": imports from repositories are not supported yet; copy the file next to the importing one",
                                url.name, repository.name
                            ),
                        );
                    } else {
                        self.diagnostics.error(
                            &repository.location,
                            format!(
                                "unknown repository \"{}\" in the import of {}; repositories defined in this file: {}",
                                repository.name,
                                url.name,
                                known_list(repositories.iter().map(String::as_str))
                            ),
                        );
                    }
                    return None;
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
                    (ImportUrl::File(path), SourceId::File(_)) => normalize(Path::new(path)),
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
