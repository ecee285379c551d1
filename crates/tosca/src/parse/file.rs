//! The top level of a TOSCA file (§6.1): version, imports, repositories, functions, profile,
//! and the sections that hold types and the service template.

use super::Parser;
use crate::ast::{File, Import, ImportTarget, Repository, TypeKind};
use crate::diagnostic::{Diagnostics, Location};
use crate::yaml::{Node, Yaml};

const FILE_KEYNAMES: &[&str] = &[
    "tosca_definitions_version",
    "description",
    "metadata",
    "dsl_definitions",
    "artifact_types",
    "data_types",
    "capability_types",
    "interface_types",
    "relationship_types",
    "node_types",
    "group_types",
    "policy_types",
    "repositories",
    "functions",
    "profile",
    "imports",
    "service_template",
];

const IMPORT_KEYNAMES: &[&str] = &[
    "url",
    "profile",
    "repository",
    "namespace",
    "description",
    "metadata",
];

const REPOSITORY_KEYNAMES: &[&str] = &["description", "metadata", "url"];

pub(crate) const TOSCA_2_0: &str = "tosca_2_0";

/// Parses one TOSCA file. Problems go to `diagnostics`; what could be parsed is returned.
pub(crate) fn parse_file(root: &Node, diagnostics: &mut Diagnostics) -> File {
    let mut p = Parser::new(diagnostics);
    let mut file = File {
        location: Location::new(&*root.file, 1, 1),
        ..File::default()
    };
    let Some(entries) = p.entries(root, "a TOSCA file") else {
        return file;
    };
    match entries.iter().position(|e| e.key == "tosca_definitions_version") {
        Some(0) => {}
        Some(i) => p.error(
            &entries[i].key_node.location(),
            "tosca_definitions_version must be the first keyname of a TOSCA file (§6.1)",
        ),
        None => p.error(
            &file.location,
            format!(
                "missing tosca_definitions_version: a TOSCA 2.0 file starts with \"tosca_definitions_version: {TOSCA_2_0}\""
            ),
        ),
    }
    let mut service_template_key = None;
    for entry in &entries {
        match entry.key {
            "tosca_definitions_version" => match entry.value.as_str() {
                Some(TOSCA_2_0) => {}
                Some(other) => p.error(
                    &entry.value.location(),
                    format!(
                        "unsupported TOSCA version \"{other}\": this processor reads TOSCA 2.0 files (tosca_definitions_version: {TOSCA_2_0})"
                    ),
                ),
                None => p.error(
                    &entry.value.location(),
                    format!(
                        "tosca_definitions_version must be the string {TOSCA_2_0}, not {}",
                        entry.value.describe()
                    ),
                ),
            },
            "description" => {
                p.description(entry.value);
            }
            "metadata" => {
                p.metadata(entry.value);
            }
            // YAML anchors for use elsewhere; the loader already expanded their aliases.
            "dsl_definitions" => {}
            "profile" => file.profile = p.named(entry.value, "profile"),
            "imports" => file.imports = p.imports(entry.value),
            "repositories" => file.repositories = p.repositories(entry.value),
            "functions" => file.functions = p.functions(entry.value),
            "service_template" => {
                service_template_key = Some(entry.key_node.location());
                file.service_template = p.service_template(entry.value);
                if let Some(template) = &mut file.service_template {
                    template.location = entry.key_node.location();
                }
            }
            key => match TypeKind::from_keyname(key) {
                Some(kind) => {
                    let types = p.type_definitions(kind, entry.value);
                    file.types.extend(types);
                }
                None => p.unknown_keyname(entry, "a TOSCA file", FILE_KEYNAMES),
            },
        }
    }
    if let (Some(profile), Some(at)) = (&file.profile, &service_template_key) {
        p.error(
            at,
            format!(
                "this file defines profile \"{}\", and a TOSCA file that defines a profile must not define a service template (§6.7.1)",
                profile.name
            ),
        );
    }
    file.calls = std::mem::take(&mut p.calls);
    file
}

impl Parser<'_> {
    fn imports(&mut self, node: &Node) -> Vec<Import> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "imports must be a list of import definitions, not {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        items.iter().filter_map(|item| self.import(item)).collect()
    }

    fn import(&mut self, node: &Node) -> Option<Import> {
        let location = node.location();
        if let Yaml::Str(_) = node.value {
            let url = self.named(node, "an import URL")?;
            return Some(Import {
                location,
                target: ImportTarget::Url(url),
                namespace: None,
                repository: None,
            });
        }
        if node.as_map().is_none() {
            self.error(
                &location,
                format!(
                    "an import definition must be a URL string or a map with url or profile, not {}",
                    node.describe()
                ),
            );
            return None;
        }
        let entries = self.entries(node, "an import definition")?;
        let (mut url, mut profile, mut namespace, mut repository) = (None, None, None, None);
        for entry in &entries {
            match entry.key {
                "url" => url = self.named(entry.value, "the url of an import"),
                "profile" => profile = self.named(entry.value, "the profile of an import"),
                "namespace" => namespace = self.named(entry.value, "the namespace of an import"),
                "repository" => repository = self.named(entry.value, "the repository of an import"),
                "description" => {
                    self.description(entry.value);
                }
                "metadata" => {
                    self.metadata(entry.value);
                }
                _ => self.unknown_keyname(entry, "an import definition", IMPORT_KEYNAMES),
            }
        }
        let has = |key: &str| entries.iter().any(|e| e.key == key);
        if let Some(ns) = &namespace {
            if ns.name.contains(':') {
                self.error(
                    &ns.location,
                    format!(
                        "namespace \"{}\" must not contain \":\" (it separates namespaces from names)",
                        ns.name
                    ),
                );
            }
        }
        let target = match (url, profile) {
            (Some(url), None) if !has("profile") => ImportTarget::Url(url),
            (None, Some(profile)) if !has("url") => {
                if has("repository") {
                    self.error(
                        &location,
                        "an import of a profile cannot name a repository; repository goes with url",
                    );
                }
                ImportTarget::Profile(profile)
            }
            _ => {
                if has("url") && has("profile") {
                    self.error(
                        &location,
                        "an import definition has either url or profile, not both (§6.8.1)",
                    );
                } else if !has("url") && !has("profile") {
                    self.error(
                        &location,
                        "an import definition needs url (a TOSCA file) or profile (a profile name) (§6.8.1)",
                    );
                }
                return None;
            }
        };
        Some(Import {
            location,
            target,
            namespace,
            repository,
        })
    }

    fn repositories(&mut self, node: &Node) -> Vec<Repository> {
        let Some(entries) = self.entries(node, "repositories") else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for entry in &entries {
            let what = format!("repository \"{}\"", entry.key);
            let mut url = None;
            if let Yaml::Str(_) = entry.value.value {
                url = self.named(entry.value, &format!("the url of {what}"));
            } else if let Some(fields) = self.entries(entry.value, &what) {
                if !fields.iter().any(|f| f.key == "url") {
                    self.error(
                        &entry.key_node.location(),
                        format!("{what} needs a url (§6.5)"),
                    );
                }
                for field in &fields {
                    match field.key {
                        "url" => url = self.named(field.value, &format!("the url of {what}")),
                        "description" => {
                            self.description(field.value);
                        }
                        "metadata" => {
                            self.metadata(field.value);
                        }
                        _ => self.unknown_keyname(field, &what, REPOSITORY_KEYNAMES),
                    }
                }
            }
            names.push(Repository {
                name: entry.named(),
                url,
            });
        }
        names
    }
}
