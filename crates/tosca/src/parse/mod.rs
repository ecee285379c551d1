//! The parser: YAML nodes to the [`crate::ast`] of one file.
//!
//! It checks the grammar — every keyname against the list the standard gives for its
//! element, the shape of every value — and reports each problem at its position. Names are
//! not resolved here.

mod artifacts;
mod defs;
mod file;
mod functions;
mod interfaces;
mod requirements;
mod substitution;
mod templates;
mod types;
mod value;
mod workflows;

pub(crate) use file::parse_file;

use crate::ast::Named;
use crate::diagnostic::{did_you_mean, Diagnostics, Location};
use crate::yaml::{Node, Yaml};

/// Parsing state for one file: where diagnostics go, and the function calls seen.
pub(crate) struct Parser<'d> {
    pub diagnostics: &'d mut Diagnostics,
    /// Every function call (name and place), checked against the known functions once all
    /// files are loaded.
    pub calls: Vec<crate::ast::CallSite>,
}

/// One `key: value` entry of a map whose key is a string.
pub(crate) struct Entry<'n> {
    pub key: &'n str,
    pub key_node: &'n Node,
    pub value: &'n Node,
}

impl<'n> Entry<'n> {
    pub fn named(&self) -> Named {
        Named {
            name: self.key.to_string(),
            location: self.key_node.location(),
        }
    }
}

impl<'d> Parser<'d> {
    pub fn new(diagnostics: &'d mut Diagnostics) -> Self {
        Parser {
            diagnostics,
            calls: Vec::new(),
        }
    }

    pub fn error(&mut self, at: &Location, message: impl Into<String>) {
        self.diagnostics.error(at, message);
    }

    pub fn warning(&mut self, at: &Location, message: impl Into<String>) {
        self.diagnostics.warning(at, message);
    }

    /// The entries of a map whose keys are strings. Reports (and returns None for) a value
    /// that is not a map; reports non-string keys and skips them.
    pub fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<Entry<'n>>> {
        let Some(map) = node.as_map() else {
            self.error(
                &node.location(),
                format!("{what} must be a map, not {}", node.describe()),
            );
            return None;
        };
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            match &key.value {
                Yaml::Str(s) if !s.is_empty() => entries.push(Entry {
                    key: s,
                    key_node: key,
                    value,
                }),
                _ => self.error(
                    &key.location(),
                    format!(
                        "the keys of {what} must be non-empty strings, not {}",
                        key.describe()
                    ),
                ),
            }
        }
        Some(entries)
    }

    /// Like [`Parser::entries`], but a null value (a keyname with nothing after it) counts as
    /// an empty map.
    pub fn entries_or_empty<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<Entry<'n>>> {
        if node.is_null() {
            Some(Vec::new())
        } else {
            self.entries(node, what)
        }
    }

    /// Reports a keyname that `allowed` does not list — except `description` and `metadata`,
    /// which every multi-line element takes (§5.3) and are read here.
    pub fn unknown_keyname(&mut self, entry: &Entry, what: &str, allowed: &[&str]) {
        match entry.key {
            "description" => {
                self.description(entry.value);
                return;
            }
            "metadata" => {
                self.metadata(entry.value);
                return;
            }
            _ => {}
        }
        self.keyname_error(entry, what, allowed);
    }

    /// Reports a key that is not one of `allowed` (where `description` and `metadata` are no
    /// keynames either, e.g. the kinds of activity).
    pub fn keyname_error(&mut self, entry: &Entry, what: &str, allowed: &[&str]) {
        let hint = did_you_mean(entry.key, allowed.iter().copied());
        self.error(
            &entry.key_node.location(),
            format!(
                "unknown keyname \"{}\" in {what}{hint}; the keynames of {what} are: {}",
                entry.key,
                allowed.join(", ")
            ),
        );
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Yaml::Str(s) => Some(s.clone()),
            _ => {
                self.error(
                    &node.location(),
                    format!("{what} must be a string, not {}", node.describe()),
                );
                None
            }
        }
    }

    /// A non-empty string, kept with its position (a name or a reference to one).
    pub fn named(&mut self, node: &Node, what: &str) -> Option<Named> {
        let text = self.string(node, what)?;
        if text.is_empty() {
            self.error(&node.location(), format!("{what} must not be empty"));
            return None;
        }
        Some(Named {
            name: text,
            location: node.location(),
        })
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Yaml::Bool(b) => Some(b),
            _ => {
                self.error(
                    &node.location(),
                    format!(
                        "{what} must be a boolean (true or false), not {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    pub fn non_negative(&mut self, node: &Node, what: &str) -> Option<u64> {
        match node.value {
            Yaml::Int(i) if i >= 0 => Some(i as u64),
            _ => {
                self.error(
                    &node.location(),
                    format!(
                        "{what} must be a non-negative integer, not {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    pub fn description(&mut self, node: &Node) -> Option<String> {
        self.string(node, "description")
    }

    /// `metadata`: a map of names to any YAML values (§5.3.1).
    pub fn metadata(&mut self, node: &Node) -> serde_json::Map<String, serde_json::Value> {
        let mut metadata = serde_json::Map::new();
        if let Some(entries) = self.entries(node, "metadata") {
            for entry in entries {
                metadata.insert(entry.key.to_string(), entry.value.to_json());
            }
        }
        metadata
    }

    /// A list of names (`[ A, B ]`).
    pub fn names(&mut self, node: &Node, what: &str) -> Option<Vec<Named>> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!("{what} must be a list of names, not {}", node.describe()),
            );
            return None;
        };
        Some(
            items
                .iter()
                .filter_map(|item| self.named(item, &format!("an entry of {what}")))
                .collect(),
        )
    }

    /// `version`: a TOSCA version string (§9.1.2.3).
    pub fn version(&mut self, node: &Node, what: &str) {
        let text = match &node.value {
            Yaml::Str(s) => s.clone(),
            Yaml::Float(_) | Yaml::Int(_) => {
                self.error(
                    &node.location(),
                    format!(
                        "{what} must be a version string; quote it (e.g. \"1.0\") so YAML does not read a number"
                    ),
                );
                return;
            }
            _ => {
                self.error(
                    &node.location(),
                    format!("{what} must be a version string, not {}", node.describe()),
                );
                return;
            }
        };
        if !crate::values::is_version(&text) {
            self.error(
                &node.location(),
                format!(
                    "{what} \"{text}\" is not a TOSCA version: expected <major>.<minor>[.<fix>[.<qualifier>[-<build>]]]"
                ),
            );
        }
    }
}
