//! The service template (§6.9) and what it holds: node templates (§7.2) with their capability
//! assignments (§8.3), relationship templates (§7.4), groups and policies (§16.2, §16.4).
//! Requirement assignments, interfaces, workflows and substitution mappings have modules of
//! their own.

use super::defs::ValueDefKind;
use super::{Entry, Parser};
use crate::ast::{
    Assignment, CapabilityAssignment, GroupDef, Named, NodeTemplate, RelationshipTemplate,
    ServiceTemplate,
};
use crate::model::{Expr, ExprKind};
use crate::yaml::{Node, Yaml};

const SERVICE_TEMPLATE_KEYNAMES: &[&str] = &[
    "description",
    "metadata",
    "inputs",
    "outputs",
    "node_templates",
    "relationship_templates",
    "groups",
    "policies",
    "substitution_mappings",
    "workflows",
];
const NODE_TEMPLATE_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "directives",
    "properties",
    "attributes",
    "requirements",
    "capabilities",
    "interfaces",
    "artifacts",
    "count",
    "node_filter",
    "copy",
];
const CAPABILITY_ASSIGNMENT_KEYNAMES: &[&str] = &["properties", "attributes", "directives"];
const RELATIONSHIP_TEMPLATE_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "properties",
    "attributes",
    "interfaces",
    "copy",
];
const GROUP_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "properties",
    "attributes",
    "members",
];
const POLICY_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "properties",
    "targets",
    "triggers",
];
const NODE_DIRECTIVES: &[&str] = &["create", "select", "substitute"];
pub(super) const REQUIREMENT_DIRECTIVES: &[&str] = &["internal", "external"];

impl Parser<'_> {
    pub fn service_template(&mut self, node: &Node) -> Option<ServiceTemplate> {
        let entries = self.entries(node, "service_template")?;
        let mut template = ServiceTemplate {
            location: node.location(),
            ..ServiceTemplate::default()
        };
        if !entries.iter().any(|e| e.key == "node_templates") {
            self.error(
                &node.location(),
                "service_template needs node_templates (§6.9.1)",
            );
        }
        for entry in &entries {
            let value = entry.value;
            match entry.key {
                "description" => template.description = self.description(value),
                "metadata" => template.metadata = self.metadata(value),
                "inputs" => {
                    template.inputs = self.value_definitions(
                        value,
                        ValueDefKind::Parameter,
                        "the service template",
                    )
                }
                "outputs" => {
                    template.outputs = self.value_definitions(
                        value,
                        ValueDefKind::Parameter,
                        "the service template",
                    )
                }
                "node_templates" => template.node_templates = self.node_templates(value),
                "relationship_templates" => {
                    template.relationship_templates = self.relationship_templates(value)
                }
                "groups" => template.groups = self.groups(value),
                "policies" => template.policies = self.policies(value),
                "substitution_mappings" => {
                    template.substitution = self.substitution_mappings(value)
                }
                "workflows" => template.workflows = self.workflows(value),
                _ => self.unknown_keyname(entry, "service_template", SERVICE_TEMPLATE_KEYNAMES),
            }
        }
        Some(template)
    }

    fn node_templates(&mut self, node: &Node) -> Vec<NodeTemplate> {
        let Some(entries) = self.entries(node, "node_templates") else {
            return Vec::new();
        };
        let merged: Vec<Option<Node>> = entries
            .iter()
            .map(|entry| self.copy_source(entry, &entries, "node template"))
            .collect();
        entries
            .iter()
            .zip(merged)
            .filter_map(|(entry, merged)| {
                let body = merged.as_ref().unwrap_or(entry.value);
                self.node_template(entry, body)
            })
            .collect()
    }

    /// `copy: other`: the template's own keynames plus the other's it does not have (§7.2).
    fn copy_source(&mut self, entry: &Entry, all: &[Entry], label: &str) -> Option<Node> {
        let own = entry.value.as_map()?;
        let (_, copy) = own.iter().find(|(k, _)| k.as_str() == Some("copy"))?;
        let what = format!("copy of {label} \"{}\"", entry.key);
        let source_name = self.named(copy, &what)?;
        let Some(source) = all.iter().find(|e| e.key == source_name.name) else {
            let hint =
                crate::diagnostic::did_you_mean(&source_name.name, all.iter().map(|e| e.key));
            self.error(
                &source_name.location,
                format!("unknown {label} \"{}\" in {what}{hint}", source_name.name),
            );
            return None;
        };
        let source_map = source.value.as_map()?;
        if source_map.iter().any(|(k, _)| k.as_str() == Some("copy")) {
            self.error(
                &source_name.location,
                format!(
                    "{label} \"{}\" uses copy itself, so it cannot be copied (§7.2)",
                    source_name.name
                ),
            );
            return None;
        }
        let mut merged: Vec<(Node, Node)> = own
            .iter()
            .filter(|(k, _)| k.as_str() != Some("copy"))
            .cloned()
            .collect();
        for (key, value) in source_map {
            if !own.iter().any(|(k, _)| k.as_str() == key.as_str()) {
                merged.push((key.clone(), value.clone()));
            }
        }
        Some(Node {
            value: Yaml::Map(merged),
            ..entry.value.clone()
        })
    }

    fn node_template(&mut self, entry: &Entry, body: &Node) -> Option<NodeTemplate> {
        let what = format!("node template \"{}\"", entry.key);
        let fields = self.entries(body, &what)?;
        let mut template = NodeTemplate {
            name: entry.named(),
            type_name: None,
            description: None,
            metadata: serde_json::Map::new(),
            directives: Vec::new(),
            properties: Vec::new(),
            attributes: Vec::new(),
            capabilities: Vec::new(),
            requirements: Vec::new(),
            interfaces: Vec::new(),
            artifacts: Vec::new(),
            node_filter: None,
            count: None,
        };
        if !fields.iter().any(|f| f.key == "type") {
            self.error(
                &entry.key_node.location(),
                format!("{what} needs a type (§7.2)"),
            );
        }
        for field in &fields {
            let value = field.value;
            match field.key {
                "type" => template.type_name = self.named(value, &format!("the type of {what}")),
                "description" => template.description = self.description(value),
                "metadata" => template.metadata = self.metadata(value),
                "directives" => {
                    template.directives = self.directives(
                        value,
                        &format!("the directives of {what}"),
                        NODE_DIRECTIVES,
                    )
                }
                "properties" => {
                    template.properties =
                        self.assignments(value, &format!("the properties of {what}"))
                }
                "attributes" => {
                    template.attributes =
                        self.assignments(value, &format!("the attributes of {what}"))
                }
                "capabilities" => template.capabilities = self.capability_assignments(value, &what),
                "requirements" => {
                    template.requirements = self.requirement_assignments(value, &what)
                }
                "interfaces" => template.interfaces = self.interface_assignments(value, &what),
                "artifacts" => template.artifacts = self.artifact_definitions(value, &what),
                "count" => template.count = self.count(value, &format!("the count of {what}")),
                "node_filter" => {
                    template.node_filter = Some(self.condition(value, "a node filter"))
                }
                "copy" => {}
                _ => self.unknown_keyname(field, &what, NODE_TEMPLATE_KEYNAMES),
            }
        }
        Some(template)
    }

    /// `count`: a non-negative integer or a function call that gives one (§10.1 allows functions
    /// wherever a value is expected).
    pub(super) fn count(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let value = self.value(node);
        match value.kind {
            ExprKind::Call(_) => Some(value),
            ExprKind::Integer(i) if i >= 0 && i <= i64::from(u32::MAX) => Some(value),
            _ => {
                self.error(
                    &node.location(),
                    format!(
                        "{what} must be a non-negative integer (or a function giving one), not {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn directives(&mut self, node: &Node, what: &str, valid: &[&str]) -> Vec<Named> {
        let Some(names) = self.names(node, what) else {
            return Vec::new();
        };
        names
            .into_iter()
            .filter(|name| {
                let ok = valid.contains(&name.name.as_str());
                if !ok {
                    self.error(
                        &name.location,
                        format!(
                            "unknown directive \"{}\" in {what}; valid directives are: {}",
                            name.name,
                            valid.join(", ")
                        ),
                    );
                }
                ok
            })
            .collect()
    }

    /// Property or attribute assignments: `name: value`.
    pub fn assignments(&mut self, node: &Node, what: &str) -> Vec<Assignment> {
        let Some(entries) = self.entries(node, what) else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|entry| Assignment {
                name: entry.named(),
                value: self.value(entry.value),
            })
            .collect()
    }

    fn capability_assignments(&mut self, node: &Node, owner: &str) -> Vec<CapabilityAssignment> {
        let Some(entries) = self.entries(node, &format!("the capabilities of {owner}")) else {
            return Vec::new();
        };
        let mut assignments = Vec::new();
        for entry in &entries {
            let what = format!("capability \"{}\" of {owner}", entry.key);
            let mut assignment = CapabilityAssignment {
                name: entry.named(),
                properties: Vec::new(),
                attributes: Vec::new(),
            };
            let Some(fields) = self.entries_or_empty(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "properties" => {
                        assignment.properties =
                            self.assignments(field.value, &format!("the properties of {what}"))
                    }
                    "attributes" => {
                        assignment.attributes =
                            self.assignments(field.value, &format!("the attributes of {what}"))
                    }
                    "directives" => {
                        self.directives(
                            field.value,
                            &format!("the directives of {what}"),
                            REQUIREMENT_DIRECTIVES,
                        );
                    }
                    "occurrences" => self.occurrences(field, &what),
                    _ => self.unknown_keyname(field, &what, CAPABILITY_ASSIGNMENT_KEYNAMES),
                }
            }
            assignments.push(assignment);
        }
        assignments
    }

    fn relationship_templates(&mut self, node: &Node) -> Vec<RelationshipTemplate> {
        let Some(entries) = self.entries(node, "relationship_templates") else {
            return Vec::new();
        };
        let mut templates = Vec::new();
        for entry in &entries {
            let merged = self.copy_source(entry, &entries, "relationship template");
            let body = merged.as_ref().unwrap_or(entry.value);
            let what = format!("relationship template \"{}\"", entry.key);
            let Some(fields) = self.entries(body, &what) else {
                continue;
            };
            let mut template = RelationshipTemplate {
                name: entry.named(),
                type_name: None,
                properties: Vec::new(),
                attributes: Vec::new(),
                interfaces: Vec::new(),
            };
            if !fields.iter().any(|f| f.key == "type") {
                self.error(
                    &entry.key_node.location(),
                    format!("{what} needs a type (§7.4)"),
                );
            }
            for field in &fields {
                match field.key {
                    "type" => {
                        template.type_name = self.named(field.value, &format!("the type of {what}"))
                    }
                    "description" => {
                        self.description(field.value);
                    }
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "properties" => {
                        template.properties =
                            self.assignments(field.value, &format!("the properties of {what}"))
                    }
                    "attributes" => {
                        template.attributes =
                            self.assignments(field.value, &format!("the attributes of {what}"))
                    }
                    "interfaces" => {
                        template.interfaces = self.interface_assignments(field.value, &what)
                    }
                    "copy" => {}
                    _ => self.unknown_keyname(field, &what, RELATIONSHIP_TEMPLATE_KEYNAMES),
                }
            }
            templates.push(template);
        }
        templates
    }

    fn groups(&mut self, node: &Node) -> Vec<GroupDef> {
        let Some(entries) = self.entries(node, "groups") else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|entry| self.group_or_policy(entry, "group", GROUP_KEYNAMES))
            .collect()
    }

    fn policies(&mut self, node: &Node) -> Vec<GroupDef> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "policies must be a list of single-entry maps (- name: {{ type: ... }}), not {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        let policies: Vec<GroupDef> = items
            .iter()
            .filter_map(|item| {
                let entry = self.single_entry(item, "a policy definition")?;
                self.group_or_policy(&entry, "policy", POLICY_KEYNAMES)
            })
            .collect();
        for (i, policy) in policies.iter().enumerate() {
            if let Some(first) = policies[..i]
                .iter()
                .find(|p| p.name.name == policy.name.name)
            {
                self.error(
                    &policy.name.location,
                    format!(
                        "policy \"{}\" is defined twice (first at {}); template names are unique in a service template (§6.9.1)",
                        policy.name.name, first.name.location
                    ),
                );
            }
        }
        policies
    }

    fn group_or_policy(
        &mut self,
        entry: &Entry,
        label: &str,
        keynames: &[&str],
    ) -> Option<GroupDef> {
        let what = format!("{label} \"{}\"", entry.key);
        let fields = self.entries(entry.value, &what)?;
        let mut def = GroupDef {
            name: entry.named(),
            type_name: None,
            properties: Vec::new(),
            attributes: Vec::new(),
            members: Vec::new(),
            triggers: Vec::new(),
        };
        if !fields.iter().any(|f| f.key == "type") {
            self.error(&entry.key_node.location(), format!("{what} needs a type"));
        }
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
                        self.assignments(field.value, &format!("the properties of {what}"))
                }
                "attributes" if label == "group" => {
                    def.attributes =
                        self.assignments(field.value, &format!("the attributes of {what}"))
                }
                "members" if label == "group" => {
                    def.members = self
                        .names(field.value, &format!("the members of {what}"))
                        .unwrap_or_default()
                }
                "targets" if label == "policy" => {
                    def.members = self
                        .names(field.value, &format!("the targets of {what}"))
                        .unwrap_or_default()
                }
                "triggers" if label == "policy" => def.triggers = self.triggers(field.value, &what),
                _ => self.unknown_keyname(field, &what, keynames),
            }
        }
        Some(def)
    }
}
