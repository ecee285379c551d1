//! Requirement assignments in node templates (§8.5): the short forms `- name: node` and
//! `- name: [ node, index ]`, and the long form with node, capability, relationship (a type, a
//! relationship template, or a relationship assignment), count, optional, directives,
//! node_filter and allocation.

use super::templates::REQUIREMENT_DIRECTIVES;
use super::{Entry, Parser};
use crate::ast::{RelationshipAssignment, RequirementAssignment};
use crate::yaml::{Node, Yaml};

const REQUIREMENT_ASSIGNMENT_KEYNAMES: &[&str] = &[
    "node",
    "capability",
    "relationship",
    "allocation",
    "count",
    "node_filter",
    "directives",
    "optional",
];
const RELATIONSHIP_ASSIGNMENT_KEYNAMES: &[&str] =
    &["type", "properties", "attributes", "interfaces"];

impl Parser<'_> {
    pub(super) fn requirement_assignments(
        &mut self,
        node: &Node,
        owner: &str,
    ) -> Vec<RequirementAssignment> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "the requirements of {owner} must be a list of single-entry maps (- name: target), not {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let entry =
                    self.single_entry(item, &format!("a requirement assignment of {owner}"))?;
                Some(self.requirement_assignment(&entry, owner))
            })
            .collect()
    }

    fn requirement_assignment(&mut self, entry: &Entry, owner: &str) -> RequirementAssignment {
        let what = format!("requirement \"{}\" of {owner}", entry.key);
        let mut assignment = RequirementAssignment {
            name: entry.named(),
            location: entry.key_node.location(),
            node: None,
            node_index: None,
            capability: None,
            relationship: None,
            count: None,
            optional: false,
            node_filter: None,
            allocation: Vec::new(),
        };
        match &entry.value.value {
            Yaml::Str(_) => {
                assignment.node = self.named(entry.value, &format!("the target node of {what}"));
                return assignment;
            }
            Yaml::Null => return assignment,
            // `- req: [ node, index ]`, as the standard's own examples write it (§14.3.4).
            Yaml::Seq(_) => {
                self.requirement_node(entry.value, &what, &mut assignment);
                return assignment;
            }
            _ => {}
        }
        let Some(fields) = self.entries(entry.value, &what) else {
            return assignment;
        };
        for field in &fields {
            let value = field.value;
            match field.key {
                "node" => self.requirement_node(value, &what, &mut assignment),
                "capability" => {
                    assignment.capability = self.named(value, &format!("the capability of {what}"))
                }
                "relationship" => {
                    assignment.relationship = self.relationship_assignment(value, &what)
                }
                "allocation" => {
                    assignment.allocation =
                        self.assignments(value, &format!("the allocation of {what}"))
                }
                "count" => assignment.count = self.count(value, &format!("the count of {what}")),
                "node_filter" => {
                    assignment.node_filter = Some(self.condition(value, "a node filter"))
                }
                "directives" => {
                    self.directives(
                        value,
                        &format!("the directives of {what}"),
                        REQUIREMENT_DIRECTIVES,
                    );
                }
                "optional" => {
                    assignment.optional = self
                        .boolean(value, &format!("optional of {what}"))
                        .unwrap_or(false)
                }
                _ => self.unknown_keyname(field, &what, REQUIREMENT_ASSIGNMENT_KEYNAMES),
            }
        }
        assignment
    }

    /// The target node of a requirement assignment: a node template or node type name, or
    /// `[ node_template, index ]` (§8.5.1).
    fn requirement_node(
        &mut self,
        value: &Node,
        what: &str,
        assignment: &mut RequirementAssignment,
    ) {
        match value.as_seq() {
            Some([name, index]) => {
                assignment.node = self.named(name, &format!("the target node of {what}"));
                let index_expr = self.value(index);
                if !matches!(index.value, Yaml::Int(i) if i >= 0) && index_expr.as_call().is_none() {
                    self.error(
                        &index.location(),
                        format!(
                            "the index in the node of {what} must be a non-negative integer or a function such as $node_index, not {}",
                            index.describe()
                        ),
                    );
                }
                assignment.node_index = Some(index_expr);
            }
            Some(_) => self.error(
                &value.location(),
                format!(
                    "the node of {what} must be a node template or node type name, or [ node_template, index ] (§8.5.1)"
                ),
            ),
            None => assignment.node = self.named(value, &format!("the target node of {what}")),
        }
    }

    fn relationship_assignment(
        &mut self,
        node: &Node,
        owner: &str,
    ) -> Option<RelationshipAssignment> {
        let what = format!("the relationship of {owner}");
        if let Yaml::Str(_) = node.value {
            return self.named(node, &what).map(RelationshipAssignment::Name);
        }
        let fields = self.entries(node, &what)?;
        let (mut type_name, mut properties, mut attributes, mut interfaces) =
            (None, Vec::new(), Vec::new(), Vec::new());
        for field in &fields {
            match field.key {
                "type" => type_name = self.named(field.value, &format!("the type of {what}")),
                "properties" => {
                    properties = self.assignments(field.value, &format!("the properties of {what}"))
                }
                "attributes" => {
                    attributes = self.assignments(field.value, &format!("the attributes of {what}"))
                }
                "interfaces" => interfaces = self.interface_assignments(field.value, &what),
                _ => self.unknown_keyname(field, &what, RELATIONSHIP_ASSIGNMENT_KEYNAMES),
            }
        }
        Some(RelationshipAssignment::Full {
            location: node.location(),
            type_name,
            properties,
            attributes,
            interfaces,
        })
    }
}
