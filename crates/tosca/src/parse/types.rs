//! Type definitions of the eight kinds (§6.4, §7.1, §7.3, §8.1, §9.2, §11.1, §12.1, §16.1,
//! §16.3).

use super::defs::ValueDefKind;
use super::interfaces::OperationPlace;
use super::{Entry, Parser};
use crate::ast::{ScalarDef, TypeDef, TypeKind};
use crate::yaml::{Node, Yaml};

const COMMON: &[&str] = &["derived_from", "version", "metadata", "description"];

fn kind_keynames(kind: TypeKind) -> &'static [&'static str] {
    match kind {
        TypeKind::Artifact => &["mime_type", "file_ext", "properties"],
        TypeKind::Data => &[
            "validation",
            "properties",
            "key_schema",
            "entry_schema",
            "data_type",
            "units",
            "canonical_unit",
            "prefixes",
        ],
        TypeKind::Capability => &[
            "properties",
            "attributes",
            "valid_source_node_types",
            "valid_relationship_types",
        ],
        TypeKind::Interface => &["inputs", "operations", "notifications"],
        TypeKind::Relationship => &[
            "properties",
            "attributes",
            "interfaces",
            "valid_capability_types",
            "valid_target_node_types",
            "valid_source_node_types",
        ],
        TypeKind::Node => &[
            "properties",
            "attributes",
            "capabilities",
            "requirements",
            "interfaces",
            "artifacts",
        ],
        TypeKind::Group => &["properties", "attributes", "members"],
        TypeKind::Policy => &["properties", "targets", "triggers"],
    }
}

impl Parser<'_> {
    /// The types under one `*_types` keyname.
    pub fn type_definitions(&mut self, kind: TypeKind, node: &Node) -> Vec<TypeDef> {
        let Some(entries) = self.entries(node, kind.keyname()) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|entry| self.type_definition(kind, entry))
            .collect()
    }

    fn type_definition(&mut self, kind: TypeKind, entry: &Entry) -> Option<TypeDef> {
        let what = format!("{} \"{}\"", kind.label(), entry.key);
        if entry.key.contains(':') {
            self.error(
                &entry.key_node.location(),
                format!(
                    "{what}: type names must not contain \":\", which separates a namespace from a name"
                ),
            );
        }
        let mut def = TypeDef::new(kind, entry.named());
        let fields = self.entries_or_empty(entry.value, &what)?;
        let allowed: Vec<&str> = COMMON.iter().chain(kind_keynames(kind)).copied().collect();
        for field in &fields {
            let key = field.key;
            if !allowed.contains(&key) {
                self.unknown_keyname(field, &what, &allowed);
                continue;
            }
            let value = field.value;
            match key {
                "derived_from" => {
                    def.derived_from = self.named(value, &format!("derived_from of {what}"))
                }
                "version" => self.version(value, &format!("the version of {what}")),
                "metadata" => {
                    self.metadata(value);
                }
                "description" => def.description = self.description(value),
                "properties" => {
                    def.properties = self.value_definitions(value, ValueDefKind::Property, &what);
                    if kind == TypeKind::Data
                        && def.properties.is_empty()
                        && value.as_map().is_some()
                    {
                        self.error(
                            &value.location(),
                            format!("the properties of {what} must hold one or more property definitions (§9.2); leave the keyname out instead"),
                        );
                    }
                }
                "attributes" => {
                    def.attributes = self.value_definitions(value, ValueDefKind::Attribute, &what)
                }
                "capabilities" => def.capabilities = self.capability_definitions(value, &what),
                "requirements" => def.requirements = self.requirement_definitions(value, &what),
                "interfaces" => def.interfaces = self.interface_definitions(value, &what),
                "artifacts" => def.artifacts = self.artifact_definitions(value, &what),
                "valid_source_node_types" => def.valid_source_node_types = self.names(value, key),
                "valid_target_node_types" => def.valid_target_node_types = self.names(value, key),
                "valid_capability_types" => def.valid_capability_types = self.names(value, key),
                "valid_relationship_types" => def.valid_relationship_types = self.names(value, key),
                "members" => def.members = self.names(value, key),
                "targets" => def.targets = self.names(value, key),
                "triggers" => def.triggers = self.triggers(value, &what),
                "mime_type" => def.mime_type = self.string(value, &format!("mime_type of {what}")),
                "file_ext" => def.file_ext = self.names(value, &format!("file_ext of {what}")),
                "inputs" | "operations" | "notifications" => {
                    let mut interface = std::mem::take(&mut def.interface);
                    self.interface_part(
                        field,
                        &mut interface,
                        &what,
                        OperationPlace::InterfaceType,
                    );
                    def.interface = interface;
                }
                "validation" => def.validation = Some(self.condition(value, "a validation clause")),
                "key_schema" => {
                    def.key_schema =
                        self.schema_definition(value, &format!("the key_schema of {what}"))
                }
                "entry_schema" => {
                    def.entry_schema =
                        self.schema_definition(value, &format!("the entry_schema of {what}"))
                }
                "data_type" | "units" | "canonical_unit" | "prefixes" => {
                    let scalar = def.scalar.get_or_insert_with(|| ScalarDef {
                        location: entry.key_node.location(),
                        ..ScalarDef::default()
                    });
                    match key {
                        "data_type" => {
                            scalar.data_type = self.named(value, &format!("data_type of {what}"))
                        }
                        "canonical_unit" => {
                            scalar.canonical_unit =
                                self.named(value, &format!("canonical_unit of {what}"))
                        }
                        "units" => scalar.units = self.multipliers(value, &what, key),
                        _ => scalar.prefixes = self.multipliers(value, &what, key),
                    }
                }
                _ => unreachable!("keyname {key} is allowed but not handled"),
            }
        }
        Some(def)
    }

    fn multipliers(&mut self, node: &Node, what: &str, key: &str) -> Vec<(String, f64)> {
        let Some(map) = node.as_map() else {
            self.error(
                &node.location(),
                format!("{key} of {what} must be a map of names to numbers"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in map {
            let name = name.key_text().unwrap_or_default();
            match value.value {
                Yaml::Int(i) => out.push((name, i as f64)),
                Yaml::Float(f) => out.push((name, f)),
                _ => self.error(
                    &value.location(),
                    format!(
                        "the multiplier of \"{name}\" in {key} of {what} must be a number, not {}",
                        value.describe()
                    ),
                ),
            }
        }
        out
    }
}
