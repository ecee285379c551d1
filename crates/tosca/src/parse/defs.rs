//! Definitions inside types: properties, attributes and parameters (§9.4, §9.6, §9.8),
//! schemas (§9.3), capabilities (§8.2), requirements (§8.4), interfaces and operations
//! (§11.2, §11.4) and artifacts (§12.2).

use super::{Entry, Parser};
use crate::ast::{
    CapabilityDef, CountRange, InterfaceDef, Named, PropertyDef, RelationshipDef, RequirementDef,
    SchemaDef,
};
use crate::yaml::{Node, Yaml};

/// Which kind of value definition is parsed: they share a grammar with small differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueDefKind {
    Property,
    Attribute,
    /// Input and output parameters (type optional, `mapping` allowed).
    Parameter,
}

impl ValueDefKind {
    fn label(self) -> &'static str {
        match self {
            ValueDefKind::Property => "property",
            ValueDefKind::Attribute => "attribute",
            ValueDefKind::Parameter => "parameter",
        }
    }

    fn keynames(self) -> &'static [&'static str] {
        match self {
            ValueDefKind::Property => &[
                "type",
                "description",
                "metadata",
                "required",
                "default",
                "value",
                "validation",
                "key_schema",
                "entry_schema",
                "status",
            ],
            ValueDefKind::Attribute => &[
                "type",
                "description",
                "metadata",
                "default",
                "validation",
                "key_schema",
                "entry_schema",
            ],
            ValueDefKind::Parameter => &[
                "type",
                "description",
                "metadata",
                "required",
                "default",
                "value",
                "mapping",
                "validation",
                "key_schema",
                "entry_schema",
            ],
        }
    }
}

const SCHEMA_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "validation",
    "key_schema",
    "entry_schema",
];
const CAPABILITY_DEF_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "properties",
    "attributes",
    "valid_source_node_types",
    "valid_relationship_types",
];
const REQUIREMENT_DEF_KEYNAMES: &[&str] = &[
    "description",
    "metadata",
    "relationship",
    "node",
    "capability",
    "node_filter",
    "count_range",
];
const RELATIONSHIP_DEF_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "properties",
    "attributes",
    "interfaces",
];
const INTERFACE_DEF_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "inputs",
    "operations",
    "notifications",
];
const OPERATION_DEF_KEYNAMES: &[&str] = &["description", "implementation", "inputs", "outputs"];
const IMPLEMENTATION_KEYNAMES: &[&str] = &["primary", "dependencies", "timeout"];
pub(crate) const ARTIFACT_DEF_KEYNAMES: &[&str] = &[
    "type",
    "file",
    "repository",
    "description",
    "metadata",
    "artifact_version",
    "checksum",
    "checksum_algorithm",
    "properties",
];

impl Parser<'_> {
    /// A map of property, attribute or parameter definitions. `owner` names what holds them,
    /// e.g. `node type "Web"`.
    pub fn value_definitions(
        &mut self,
        node: &Node,
        kind: ValueDefKind,
        owner: &str,
    ) -> Vec<PropertyDef> {
        let section = format!("the {}s of {owner}", kind.label());
        let Some(entries) = self.entries(node, &section) else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|entry| self.value_definition(entry, kind, owner))
            .collect()
    }

    fn value_definition(&mut self, entry: &Entry, kind: ValueDefKind, owner: &str) -> PropertyDef {
        let mut def = PropertyDef::new(entry.named());
        let what = format!("{} \"{}\" of {owner}", kind.label(), entry.key);
        if entry.value.as_map().is_none() {
            // The single-line grammar: a fixed value (a refinement; checked when resolved).
            def.value = Some(self.value(entry.value));
            return def;
        }
        let Some(fields) = self.entries(entry.value, &what) else {
            return def;
        };
        for field in &fields {
            match field.key {
                "type" => def.type_name = self.named(field.value, &format!("the type of {what}")),
                "description" => def.description = self.description(field.value),
                "metadata" => {
                    self.metadata(field.value);
                }
                "required" if kind != ValueDefKind::Attribute => {
                    def.required = self.boolean(field.value, &format!("required of {what}"))
                }
                "default" => def.default = Some(self.value(field.value)),
                "value" if kind != ValueDefKind::Attribute => {
                    def.value = Some(self.value(field.value))
                }
                "mapping" if kind == ValueDefKind::Parameter => {
                    self.value(field.value);
                }
                "validation" => def.validation = Some(self.value(field.value)),
                "key_schema" => {
                    def.key_schema =
                        self.schema_definition(field.value, &format!("the key_schema of {what}"))
                }
                "entry_schema" => {
                    def.entry_schema =
                        self.schema_definition(field.value, &format!("the entry_schema of {what}"))
                }
                "status" if kind == ValueDefKind::Property => {
                    self.string(field.value, &format!("status of {what}"));
                }
                _ => self.unknown_keyname(field, &what, kind.keynames()),
            }
        }
        def
    }

    /// A schema definition (§9.3): a type name, or a map with `type` and more. The type may be
    /// missing in a refinement; that is checked when the schema is resolved.
    pub fn schema_definition(&mut self, node: &Node, what: &str) -> Option<SchemaDef> {
        let location = node.location();
        let mut schema = SchemaDef {
            location,
            type_name: None,
            key_schema: None,
            entry_schema: None,
            validation: None,
        };
        if let Yaml::Str(_) = node.value {
            schema.type_name = Some(self.named(node, &format!("the type of {what}"))?);
            return Some(schema);
        }
        let fields = self.entries(node, what)?;
        for field in &fields {
            match field.key {
                "type" => {
                    schema.type_name = self.named(field.value, &format!("the type of {what}"))
                }
                "description" => {
                    self.description(field.value);
                }
                "metadata" => {
                    self.metadata(field.value);
                }
                "validation" => schema.validation = Some(self.value(field.value)),
                "key_schema" => {
                    schema.key_schema = self
                        .schema_definition(field.value, &format!("the key_schema of {what}"))
                        .map(Box::new)
                }
                "entry_schema" => {
                    schema.entry_schema = self
                        .schema_definition(field.value, &format!("the entry_schema of {what}"))
                        .map(Box::new)
                }
                _ => self.unknown_keyname(field, what, SCHEMA_KEYNAMES),
            }
        }
        Some(schema)
    }

    pub fn capability_definitions(&mut self, node: &Node, owner: &str) -> Vec<CapabilityDef> {
        let Some(entries) = self.entries(node, &format!("the capabilities of {owner}")) else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("capability \"{}\" of {owner}", entry.key);
            let mut def = CapabilityDef {
                name: entry.named(),
                type_name: None,
                description: None,
                properties: Vec::new(),
                attributes: Vec::new(),
                valid_source_node_types: None,
                valid_relationship_types: None,
            };
            if let Yaml::Str(_) = entry.value.value {
                def.type_name = self.named(entry.value, &format!("the type of {what}"));
                defs.push(def);
                continue;
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "type" => {
                        def.type_name = self.named(field.value, &format!("the type of {what}"))
                    }
                    "description" => def.description = self.description(field.value),
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "properties" => {
                        def.properties =
                            self.value_definitions(field.value, ValueDefKind::Property, &what)
                    }
                    "attributes" => {
                        def.attributes =
                            self.value_definitions(field.value, ValueDefKind::Attribute, &what)
                    }
                    "valid_source_node_types" => {
                        def.valid_source_node_types = self.names(field.value, field.key)
                    }
                    "valid_relationship_types" => {
                        def.valid_relationship_types = self.names(field.value, field.key)
                    }
                    _ => self.unknown_keyname(field, &what, CAPABILITY_DEF_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    /// Requirement definitions: a list of single-entry maps (§8.4).
    pub fn requirement_definitions(&mut self, node: &Node, owner: &str) -> Vec<RequirementDef> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "the requirements of {owner} must be a list of single-entry maps (- name: {{ ... }}), not {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        let mut defs = Vec::new();
        for item in items {
            let Some(entry) =
                self.single_entry(item, &format!("a requirement definition of {owner}"))
            else {
                continue;
            };
            let what = format!("requirement \"{}\" of {owner}", entry.key);
            let mut def = RequirementDef {
                name: entry.named(),
                description: None,
                capability: None,
                node: None,
                relationship: None,
                count_range: None,
                short_form: false,
            };
            if let Yaml::Str(_) = entry.value.value {
                self.error(
                    &entry.value.location(),
                    format!(
                        "{what} must be a map with capability and relationship; the short form \"name: CapabilityType\" is TOSCA 1.x grammar, not TOSCA 2.0 (§8.4)"
                    ),
                );
                def.capability = self.named(entry.value, &what);
                def.short_form = true;
                defs.push(def);
                continue;
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "description" => def.description = self.description(field.value),
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "capability" => {
                        def.capability =
                            self.named(field.value, &format!("the capability of {what}"))
                    }
                    "node" => def.node = self.named(field.value, &format!("the node of {what}")),
                    "relationship" => {
                        def.relationship = self.relationship_definition(field.value, &what)
                    }
                    "node_filter" => {
                        self.value(field.value);
                    }
                    "count_range" => {
                        def.count_range =
                            self.count_range(field.value, &format!("the count_range of {what}"))
                    }
                    _ => self.unknown_keyname(field, &what, REQUIREMENT_DEF_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    /// The one `name: value` entry of a list item such as `- host: { ... }`.
    pub fn single_entry<'n>(&mut self, node: &'n Node, what: &str) -> Option<Entry<'n>> {
        let entries = self.entries(node, what)?;
        if entries.len() != 1 {
            self.error(
                &node.location(),
                format!(
                    "{what} must be a map with exactly one entry (its name), not {} entries",
                    entries.len()
                ),
            );
            return None;
        }
        entries.into_iter().next()
    }

    fn relationship_definition(&mut self, node: &Node, owner: &str) -> Option<RelationshipDef> {
        let location = node.location();
        let what = format!("the relationship of {owner}");
        let mut def = RelationshipDef {
            location,
            type_name: None,
            properties: Vec::new(),
            attributes: Vec::new(),
            interfaces: Vec::new(),
        };
        if let Yaml::Str(_) = node.value {
            def.type_name = self.named(node, &what);
            return Some(def);
        }
        let fields = self.entries(node, &what)?;
        for field in &fields {
            match field.key {
                "type" => def.type_name = self.named(field.value, &format!("the type of {what}")),
                "description" => {
                    self.description(field.value);
                }
                "metadata" => {
                    self.metadata(field.value);
                }
                "properties" => {
                    def.properties =
                        self.value_definitions(field.value, ValueDefKind::Property, &what)
                }
                "attributes" => {
                    def.attributes =
                        self.value_definitions(field.value, ValueDefKind::Attribute, &what)
                }
                "interfaces" => def.interfaces = self.interface_definitions(field.value, &what),
                _ => self.unknown_keyname(field, &what, RELATIONSHIP_DEF_KEYNAMES),
            }
        }
        Some(def)
    }

    fn count_range(&mut self, node: &Node, what: &str) -> Option<CountRange> {
        let bad = |p: &mut Self| {
            p.error(
                &node.location(),
                format!(
                    "{what} must be [ min, max ] with non-negative integers (max may be UNBOUNDED) and min <= max"
                ),
            );
            None
        };
        let Some([min, max]) = node.as_seq() else {
            return bad(self);
        };
        let Yaml::Int(min) = min.value else {
            return bad(self);
        };
        let max = match &max.value {
            Yaml::Int(max) => Some(*max),
            Yaml::Str(s) if s == "UNBOUNDED" => None,
            _ => return bad(self),
        };
        if min < 0 || max.is_some_and(|max| max < min) {
            return bad(self);
        }
        Some(CountRange {
            min: min as u64,
            max: max.map(|m| m as u64),
        })
    }

    /// Interface definitions in node and relationship types (§11.2).
    pub fn interface_definitions(&mut self, node: &Node, owner: &str) -> Vec<InterfaceDef> {
        let Some(entries) = self.entries(node, &format!("the interfaces of {owner}")) else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("interface \"{}\" of {owner}", entry.key);
            let mut def = InterfaceDef {
                name: entry.named(),
                type_name: None,
            };
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "type" => {
                        def.type_name = self.named(field.value, &format!("the type of {what}"))
                    }
                    "description" => {
                        self.description(field.value);
                    }
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "inputs" => {
                        self.value_definitions(field.value, ValueDefKind::Parameter, &what);
                    }
                    "operations" | "notifications" => {
                        self.operation_definitions(field.value, &what, true);
                    }
                    _ => self.unknown_keyname(field, &what, INTERFACE_DEF_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    /// Operation or notification definitions (§11.4, §11.6). Interface types may not give
    /// implementations (`may_implement` false). Returns their names.
    pub fn operation_definitions(
        &mut self,
        node: &Node,
        owner: &str,
        may_implement: bool,
    ) -> Vec<Named> {
        let Some(entries) = self.entries(node, &format!("the operations of {owner}")) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for entry in &entries {
            names.push(entry.named());
            let what = format!("operation \"{}\" of {owner}", entry.key);
            if entry.value.as_map().is_none() {
                // Single-line grammar: the implementation.
                if !entry.value.is_null() {
                    if may_implement {
                        self.implementation(entry.value, &what);
                    } else {
                        self.error(
                            &entry.value.location(),
                            format!(
                                "{what} cannot have an implementation: operations in interface types are only declared (§11.4)"
                            ),
                        );
                    }
                }
                continue;
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "description" => {
                        self.description(field.value);
                    }
                    "implementation" if may_implement => self.implementation(field.value, &what),
                    "implementation" => self.error(
                        &field.key_node.location(),
                        format!(
                            "{what} cannot have an implementation: operations in interface types are only declared (§11.4)"
                        ),
                    ),
                    "inputs" | "outputs" => {
                        self.value_definitions(field.value, ValueDefKind::Parameter, &what);
                    }
                    _ => self.unknown_keyname(field, &what, OPERATION_DEF_KEYNAMES),
                }
            }
        }
        names
    }

    /// An operation implementation (§11.8): an artifact name or file, or primary/dependencies.
    pub fn implementation(&mut self, node: &Node, owner: &str) {
        let what = format!("the implementation of {owner}");
        if let Yaml::Str(_) = node.value {
            self.named(node, &what);
            return;
        }
        let Some(fields) = self.entries(node, &what) else {
            return;
        };
        for field in &fields {
            match field.key {
                "primary" => self.artifact_reference(field.value, &what),
                "dependencies" => match field.value.as_seq() {
                    Some(items) => items.iter().for_each(|i| self.artifact_reference(i, &what)),
                    None => self.error(
                        &field.value.location(),
                        format!("the dependencies of {what} must be a list"),
                    ),
                },
                "timeout" => {
                    self.non_negative(field.value, "timeout");
                }
                _ => self.unknown_keyname(field, &what, IMPLEMENTATION_KEYNAMES),
            }
        }
    }

    fn artifact_reference(&mut self, node: &Node, owner: &str) {
        if let Yaml::Str(_) = node.value {
            self.named(node, owner);
        } else {
            self.artifact_definition(node, owner);
        }
    }

    /// Artifact definitions in node types and templates (§12.2).
    pub fn artifact_definitions(&mut self, node: &Node, owner: &str) {
        let Some(entries) = self.entries(node, &format!("the artifacts of {owner}")) else {
            return;
        };
        for entry in &entries {
            let what = format!("artifact \"{}\" of {owner}", entry.key);
            if let Yaml::Str(_) = entry.value.value {
                self.named(entry.value, &what);
            } else {
                self.artifact_definition(entry.value, &what);
            }
        }
    }

    fn artifact_definition(&mut self, node: &Node, what: &str) {
        let Some(fields) = self.entries(node, what) else {
            return;
        };
        for key in ["type", "file"] {
            if !fields.iter().any(|f| f.key == key) {
                self.error(&node.location(), format!("{what} needs {key} (§12.2)"));
            }
        }
        for field in &fields {
            match field.key {
                "type" | "file" | "repository" | "artifact_version" | "checksum"
                | "checksum_algorithm" => {
                    self.named(field.value, &format!("{} of {what}", field.key));
                }
                "description" => {
                    self.description(field.value);
                }
                "metadata" => {
                    self.metadata(field.value);
                }
                "properties" => {
                    if let Some(entries) = self.entries(field.value, "properties") {
                        for entry in &entries {
                            self.value(entry.value);
                        }
                    }
                }
                _ => self.unknown_keyname(field, what, ARTIFACT_DEF_KEYNAMES),
            }
        }
    }
}
