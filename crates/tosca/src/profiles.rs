//! The profile registry: TOSCA files known by a profile name (§6.7), imported with
//! `imports: [ { profile: NAME } ]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One registered profile: a set of in-memory files and the one to load first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Path (within `files`) of the profile's entry file.
    pub entry: String,
    /// Path -> text. Files of a profile import each other by relative path.
    pub files: BTreeMap<String, String>,
}

/// Maps profile names (e.g. `io.khutulun:0.1`) to their files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRegistry {
    profiles: BTreeMap<String, Profile>,
    /// Directories searched for a profile that is not registered (see [`profile_file_names`]),
    /// after the importing file's directory and the entry file's directory.
    search_dirs: Vec<PathBuf>,
}

impl ProfileRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a profile made of several files.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        entry: impl Into<String>,
        files: impl IntoIterator<Item = (String, String)>,
    ) -> &mut Self {
        let name = name.into();
        let profile = Profile {
            name: name.clone(),
            entry: entry.into(),
            files: files.into_iter().collect(),
        };
        self.profiles.insert(name, profile);
        self
    }

    /// Registers a profile that is a single file, stored as `profile.yaml`.
    pub fn register_file(&mut self, name: impl Into<String>, text: impl Into<String>) -> &mut Self {
        let files = [("profile.yaml".to_string(), text.into())];
        self.register(name, "profile.yaml", files)
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// Registered profile names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// Adds a directory where profile files are looked for by name.
    pub fn add_search_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.search_dirs.push(dir.into());
        self
    }

    pub fn search_dirs(&self) -> &[PathBuf] {
        &self.search_dirs
    }

    /// Adds every profile of `other` to this registry (replacing same-named ones).
    pub fn merge(&mut self, other: &ProfileRegistry) -> &mut Self {
        for (name, profile) in &other.profiles {
            self.profiles.insert(name.clone(), profile.clone());
        }
        self.search_dirs.extend(other.search_dirs.iter().cloned());
        self
    }
}

/// The file names a profile that is not registered is looked for under, in order, in each
/// search directory: the full name (`io.kubernetes:1.30`) then the name without its
/// `:version` suffix (`io.kubernetes`), each with `.yaml`, `.yml` and no extension. A found
/// file is used only if it declares exactly the imported profile name.
pub fn profile_file_names(profile: &str) -> Vec<String> {
    let mut stems = vec![profile.to_string()];
    if let Some((bare, _version)) = profile.rsplit_once(':') {
        stems.push(bare.to_string());
    }
    let mut names = Vec::new();
    for stem in stems {
        // A name with a path separator or a parent step could reach outside the directory.
        if stem.contains('/') || stem.contains('\\') || stem.starts_with('.') {
            continue;
        }
        for extension in [".yaml", ".yml", ""] {
            names.push(format!("{stem}{extension}"));
        }
    }
    names
}

/// The candidate paths of `profile` in `dir`.
pub(crate) fn candidates_in(dir: &Path, profile: &str) -> Vec<PathBuf> {
    profile_file_names(profile)
        .into_iter()
        .map(|name| dir.join(name))
        .collect()
}
