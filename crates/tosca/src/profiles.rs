//! The profile registry: TOSCA files known by a profile name (§6.7), imported with
//! `imports: [ { profile: NAME } ]`.

use std::collections::BTreeMap;

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

    /// Adds every profile of `other` to this registry (replacing same-named ones).
    pub fn merge(&mut self, other: &ProfileRegistry) -> &mut Self {
        for (name, profile) in &other.profiles {
            self.profiles.insert(name.clone(), profile.clone());
        }
        self
    }
}
