//! Definitions inside types: properties, attributes and parameters (§9.4, §9.6, §9.8),
//! schemas (§9.3), capabilities (§8.2) and requirements (§8.4).

use super::{Entry, Parser};
use crate::ast::{
    CapabilityDef, CountRange, PropertyDef, RelationshipDef, RequirementDef, SchemaDef,
};
use crate::yaml::{Node, Yaml};

/// Which kind of value definition is parsed: they share a grammar with small differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueDefKind {
    Property,
    Attribute,
    /// Outgoing parameters: service template inputs and outputs, operation inputs (type
    /// optional; the single-line grammar gives a value, §9.8).
    Parameter,
    /// Incoming parameters: operation and notification outputs, workflow outputs (the
    /// single-line grammar gives an attribute mapping, §9.8).
    IncomingParameter,
}

impl ValueDefKind {
    fn label(self) -> &'static str {
        match self {
            ValueDefKind::Property => "property",
            ValueDefKind::Attribute => "attribute",
            ValueDefKind::Parameter | ValueDefKind::IncomingParameter => "parameter",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            ValueDefKind::Property => "properties",
            ValueDefKind::Attribute => "attributes",
            ValueDefKind::Parameter | ValueDefKind::IncomingParameter => "parameters",
        }
    }

    fn is_parameter(self) -> bool {
        matches!(
            self,
            ValueDefKind::Parameter | ValueDefKind::IncomingParameter
        )
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
            ValueDefKind::Parameter | ValueDefKind::IncomingParameter => &[
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

impl Parser<'_> {
    /// A map of property, attribute or parameter definitions. `owner` names what holds them,
    /// e.g. `node type "Web"`.
    pub fn value_definitions(
        &mut self,
        node: &Node,
        kind: ValueDefKind,
        owner: &str,
    ) -> Vec<PropertyDef> {
        let section = format!("the {} of {owner}", kind.plural());
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
        if is_single_line(entry.value, kind) {
            // The single-line grammar: a fixed value (for properties only a refinement, checked
            // when resolved), or for incoming parameters an attribute mapping (§9.4, §9.8).
            let value = self.value(entry.value);
            def.single_line = true;
            if kind == ValueDefKind::IncomingParameter {
                self.attribute_mapping(&value, entry.key, owner);
                def.mapping = Some(value);
            } else {
                def.value = Some(value);
            }
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
                "mapping" if kind.is_parameter() => {
                    let value = self.value(field.value);
                    self.attribute_mapping(&value, entry.key, owner);
                    def.mapping = Some(value);
                }
                "validation" => {
                    def.validation = Some(self.condition(field.value, "a validation clause"))
                }
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
        if def.value.is_some() && def.mapping.is_some() {
            self.error(
                &entry.key_node.location(),
                format!("{what} has both value and mapping, which exclude each other (§9.8)"),
            );
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
                "validation" => {
                    schema.validation = Some(self.condition(field.value, "a validation clause"))
                }
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
                    "occurrences" => self.occurrences(field, &what),
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
                node_filter: None,
                short_form: false,
            };
            if let Yaml::Str(_) = entry.value.value {
                self.warning(
                    &entry.value.location(),
                    format!(
                        "{what} uses the TOSCA 1.x short form \"name: CapabilityType\", which TOSCA 2.0 does not define (§8.4 gives only the map with capability and relationship); read as capability: {}",
                        entry.value.as_str().unwrap_or_default()
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
                        def.node_filter = Some(self.condition(field.value, "a node filter"))
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

    /// `occurrences`, deprecated in TOSCA 2.0 (§8.2, §8.3): read with a warning, its shape
    /// checked like a count range.
    pub fn occurrences(&mut self, field: &Entry, what: &str) {
        self.warning(
            &field.key_node.location(),
            format!(
                "occurrences in {what} is deprecated in TOSCA 2.0 and ignored; relationships to a capability are limited with allocation in requirement assignments (§8.2)"
            ),
        );
        self.count_range(field.value, &format!("the occurrences of {what}"));
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
}

/// Whether a value definition is written in the single-line grammar `name: value`: anything
/// but a map of keynames. A function call is a value; so is, for parameters, a map that holds
/// none of the parameter keynames (a literal map value).
fn is_single_line(node: &Node, kind: ValueDefKind) -> bool {
    let Some(entries) = node.as_map() else {
        return true;
    };
    let is_call = matches!(entries, [(key, _)] if key.as_str().is_some_and(|k| k.starts_with('$') && !k.starts_with("$$")));
    let has_keyname = entries
        .iter()
        .any(|(key, _)| key.as_str().is_some_and(|k| kind.keynames().contains(&k)));
    is_call || (kind.is_parameter() && !entries.is_empty() && !has_keyname)
}
