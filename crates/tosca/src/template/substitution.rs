//! Substitution mappings (§15): the node type must exist; property and attribute mappings
//! name its properties and attributes and the template's inputs and outputs (§15.2, §15.3),
//! and every required input without a default is mapped; capability and requirement mappings
//! name its capabilities and requirements and the template's node templates (§15.4, §15.5);
//! interface mappings name its operations and the template's workflows (§15.6).

use super::Compiler;
use crate::ast::{self, Named, SubstitutionMappings, TypeKind, ValueMapping};
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{PropertyDefinition, ServiceTemplate};
use crate::types::Resolved;

impl Compiler<'_> {
    pub(super) fn substitution(&mut self, st: &ast::ServiceTemplate, model: &ServiceTemplate) {
        let Some(mappings) = &st.substitution else {
            return;
        };
        let Some(node_type) = mappings.node_type.as_ref().and_then(|t| {
            self.types.lookup(
                self.file,
                TypeKind::Node,
                t,
                "the node_type of substitution_mappings",
                self.diagnostics,
            )
        }) else {
            return;
        };
        let resolved = self.types.resolved(node_type).clone();
        let type_desc = self.types.describe(node_type);
        for mapping in &mappings.properties {
            self.value_mapping(
                mapping,
                &resolved,
                &type_desc,
                &model.inputs,
                "property",
                "input",
            );
        }
        self.unmapped_inputs(mappings, model);
        for mapping in &mappings.attributes {
            self.value_mapping(
                mapping,
                &resolved,
                &type_desc,
                &model.outputs,
                "attribute",
                "output",
            );
        }
        for (capability, target) in &mappings.capabilities {
            self.capability_mapping(capability, target.as_ref(), &resolved, &type_desc);
        }
        self.requirement_mappings(mappings, &resolved, &type_desc, st);
        for (interface, operation, workflow) in &mappings.interfaces {
            self.interface_mapping(interface, operation, workflow, &resolved, &type_desc, st);
        }
    }

    /// A property mapping (to an input) or an attribute mapping (from an output).
    fn value_mapping(
        &mut self,
        mapping: &ValueMapping,
        resolved: &Resolved,
        type_desc: &str,
        parameters: &[PropertyDefinition],
        label: &str,
        parameter_label: &str,
    ) {
        let path = mapping.path.iter().map(String::as_str).collect::<Vec<_>>();
        let what = format!("the {label} mapping of {}", path.join(", "));
        let defs = |r: &Resolved| -> Vec<PropertyDefinition> {
            if label == "property" {
                r.properties.clone()
            } else {
                r.attributes.iter().chain(&r.properties).cloned().collect()
            }
        };
        let (defs, name, owner) = match path.as_slice() {
            [name] => (defs(resolved), *name, type_desc.to_string()),
            ["CAPABILITY", capability, name] => {
                let Some(spec) = resolved.capabilities.iter().find(|c| c.name == *capability)
                else {
                    self.unknown_member(
                        &mapping.location,
                        "capability",
                        capability,
                        resolved.capabilities.iter().map(|c| c.name.as_str()),
                        type_desc,
                        &what,
                    );
                    return;
                };
                let list = if label == "property" {
                    spec.properties.clone()
                } else {
                    spec.attributes
                        .iter()
                        .chain(&spec.properties)
                        .cloned()
                        .collect()
                };
                (
                    list,
                    *name,
                    format!("capability \"{capability}\" of {type_desc}"),
                )
            }
            ["RELATIONSHIP", requirement, rest @ ..] if !rest.is_empty() && rest.len() <= 2 => {
                let name = rest[rest.len() - 1];
                if rest.len() == 2 && rest[0] != "ALL" && rest[0].parse::<u64>().is_err() {
                    self.diagnostics.error(
                        &mapping.location,
                        format!("{what}: the index of a relationship is a non-negative integer or ALL, not \"{}\" (§15.2)", rest[0]),
                    );
                }
                let Some(spec) = resolved
                    .requirements
                    .iter()
                    .find(|r| r.name == *requirement)
                else {
                    self.unknown_member(
                        &mapping.location,
                        "requirement",
                        requirement,
                        resolved.requirements.iter().map(|r| r.name.as_str()),
                        type_desc,
                        &what,
                    );
                    return;
                };
                let Some(relationship) = &spec.relationship else {
                    return;
                };
                let list = if label == "property" {
                    relationship.properties.clone()
                } else {
                    relationship
                        .attributes
                        .iter()
                        .chain(&relationship.properties)
                        .cloned()
                        .collect()
                };
                (
                    list,
                    name,
                    format!("the relationship of requirement \"{requirement}\" of {type_desc}"),
                )
            }
            _ => {
                self.diagnostics.error(
                    &mapping.location,
                    format!(
                        "{what} must be written as <{label}>, [ CAPABILITY, <capability>, <{label}> ] or [ RELATIONSHIP, <requirement>, <index>, <{label}> ] (§15.2, §15.3)"
                    ),
                );
                return;
            }
        };
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            self.unknown_member(
                &mapping.location,
                label,
                name,
                defs.iter().map(|d| d.name.as_str()),
                &owner,
                &what,
            );
            return;
        };
        let Some(parameter) = parameters.iter().find(|p| p.name == mapping.parameter.name) else {
            let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
            self.diagnostics.error(
                &mapping.parameter.location,
                format!(
                    "unknown {parameter_label} \"{}\" in {what}{}; the service template's {parameter_label}s are: {}",
                    mapping.parameter.name,
                    did_you_mean(&mapping.parameter.name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
            return;
        };
        if let (Some(from), Some(to)) = (&def.schema, &parameter.schema) {
            let (given, wanted) = if label == "property" {
                (from, to)
            } else {
                (to, from)
            };
            if !self.schemas_fit(given, wanted) {
                self.diagnostics.error(
                    &mapping.parameter.location,
                    format!(
                        "{what}: {label} \"{name}\" has type \"{}\", but {parameter_label} \"{}\" has type \"{}\"; mappings must be type-compatible (§15.2, §15.3)",
                        from.type_name, parameter.name, to.type_name
                    ),
                );
            }
        }
    }

    /// §15.2: every required input without a default must be mapped from a property.
    fn unmapped_inputs(&mut self, mappings: &SubstitutionMappings, model: &ServiceTemplate) {
        for input in &model.inputs {
            let needs_value = input.required && input.default.is_none() && input.value.is_none();
            let mapped = mappings
                .properties
                .iter()
                .any(|m| m.parameter.name == input.name);
            if needs_value && !mapped {
                self.diagnostics.error(
                    &input.location,
                    format!(
                        "input \"{}\" is required and has no default, so the substitution mappings must map a property to it (§15.2)",
                        input.name
                    ),
                );
            }
        }
    }

    fn unknown_member<'a>(
        &mut self,
        at: &crate::diagnostic::Location,
        label: &str,
        name: &str,
        known: impl Iterator<Item = &'a str>,
        owner: &str,
        what: &str,
    ) {
        let known: Vec<&str> = known.collect();
        self.diagnostics.error(
            at,
            format!(
                "unknown {label} \"{name}\" in {what}{}; {owner} has: {}",
                did_you_mean(name, known.iter().copied()),
                known_list(known.iter().copied())
            ),
        );
    }

    fn node_named(&mut self, name: &Named, what: &str) -> Option<usize> {
        let found = self.node_index.get(&name.name).copied();
        if found.is_none() {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            self.diagnostics.error(
                &name.location,
                format!(
                    "unknown node template \"{}\" in {what}{}; node templates: {}",
                    name.name,
                    did_you_mean(&name.name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
        }
        found
    }

    fn capability_mapping(
        &mut self,
        capability: &Named,
        target: Option<&(Named, Named)>,
        resolved: &Resolved,
        type_desc: &str,
    ) {
        let what = format!("capability mapping \"{}\"", capability.name);
        let Some(spec) = resolved
            .capabilities
            .iter()
            .find(|c| c.name == capability.name)
        else {
            self.unknown_member(
                &capability.location,
                "capability",
                &capability.name,
                resolved.capabilities.iter().map(|c| c.name.as_str()),
                type_desc,
                &what,
            );
            return;
        };
        let Some((node, node_capability)) = target else {
            return;
        };
        let Some(index) = self.node_named(node, &what) else {
            return;
        };
        let Some(node_type) = self.nodes[index].type_id else {
            return;
        };
        let capabilities = self.types.resolved(node_type).capabilities.clone();
        let Some(inner) = capabilities.iter().find(|c| c.name == node_capability.name) else {
            self.unknown_member(
                &node_capability.location,
                "capability",
                &node_capability.name,
                capabilities.iter().map(|c| c.name.as_str()),
                &format!("node template \"{}\"", node.name),
                &what,
            );
            return;
        };
        if !self.types.derives_from(inner.type_id, spec.type_id) {
            self.diagnostics.error(
                &node_capability.location,
                format!(
                    "{what} maps capability \"{}\" of type \"{}\" to capability \"{}\" of node template \"{}\", whose type \"{}\" does not derive from it (§15.4)",
                    capability.name,
                    self.types.name(spec.type_id),
                    node_capability.name,
                    node.name,
                    self.types.name(inner.type_id)
                ),
            );
        }
    }

    fn requirement_mappings(
        &mut self,
        mappings: &SubstitutionMappings,
        resolved: &Resolved,
        type_desc: &str,
        st: &ast::ServiceTemplate,
    ) {
        for (position, mapping) in mappings.requirements.iter().enumerate() {
            let name = &mapping.requirement;
            let first = mappings
                .requirements
                .iter()
                .position(|m| m.requirement.name == name.name)
                == Some(position);
            let what = format!("requirement mapping \"{}\"", name.name);
            let Some(spec) = resolved.requirements.iter().find(|r| r.name == name.name) else {
                self.unknown_member(
                    &name.location,
                    "requirement",
                    &name.name,
                    resolved.requirements.iter().map(|r| r.name.as_str()),
                    type_desc,
                    &what,
                );
                continue;
            };
            let total = mappings
                .requirements
                .iter()
                .filter(|m| m.requirement.name == name.name)
                .count() as u64;
            if let Some(max) = spec.count_range.max.filter(|&max| first && total > max) {
                self.diagnostics.error(
                    &name.location,
                    format!(
                        "{what}: {total} mappings of requirement \"{}\", but its count_range {} allows at most {max} (§15.5.4)",
                        name.name, spec.count_range
                    ),
                );
            }
            for (node, requirement) in &mapping.targets {
                self.requirement_target(node, requirement.as_ref(), st, &what);
            }
        }
    }

    /// `[ node_template, requirement ]`: a dangling requirement of a node template (§15.5.4);
    /// or a selectable node template.
    fn requirement_target(
        &mut self,
        node: &Named,
        requirement: Option<&Named>,
        st: &ast::ServiceTemplate,
        what: &str,
    ) {
        let Some(index) = self.node_named(node, what) else {
            return;
        };
        let Some(requirement) = requirement else {
            return;
        };
        let Some(node_type) = self.nodes[index].type_id else {
            return;
        };
        let requirements = self.types.resolved(node_type).requirements.clone();
        if !requirements.iter().any(|r| r.name == requirement.name) {
            // `[ a, b ]` may also list two selectable node templates.
            if self.nodes.iter().any(|n| n.name == requirement.name) {
                return;
            }
            self.unknown_member(
                &requirement.location,
                "requirement",
                &requirement.name,
                requirements.iter().map(|r| r.name.as_str()),
                &format!("node template \"{}\"", node.name),
                what,
            );
            return;
        }
        let template = st.node_templates.iter().find(|t| t.name.name == node.name);
        let assignments: Vec<&ast::RequirementAssignment> = template
            .map(|t| {
                t.requirements
                    .iter()
                    .filter(|a| a.name.name == requirement.name)
                    .collect()
            })
            .unwrap_or_default();
        let names_template = |a: &&ast::RequirementAssignment| {
            a.node
                .as_ref()
                .is_some_and(|n| self.nodes.iter().any(|m| m.name == n.name))
        };
        if !assignments.is_empty() && assignments.iter().all(names_template) {
            self.diagnostics.error(
                &requirement.location,
                format!(
                    "{what} maps onto requirement \"{}\" of node template \"{}\", which its assignment fulfils with a node template; requirements can only be mapped onto dangling requirements (§15.5.4)",
                    requirement.name, node.name
                ),
            );
        }
    }

    fn interface_mapping(
        &mut self,
        interface: &Named,
        operation: &Named,
        workflow: &Named,
        resolved: &Resolved,
        type_desc: &str,
        st: &ast::ServiceTemplate,
    ) {
        let what = format!("interface mapping \"{}\"", interface.name);
        let Some(spec) = resolved
            .interfaces
            .iter()
            .find(|i| i.name == interface.name)
        else {
            self.unknown_member(
                &interface.location,
                "interface",
                &interface.name,
                resolved.interfaces.iter().map(|i| i.name.as_str()),
                type_desc,
                &what,
            );
            return;
        };
        if spec.operation(&operation.name).is_none() {
            self.unknown_member(
                &operation.location,
                "operation",
                &operation.name,
                spec.operations.iter().map(|o| o.name.as_str()),
                &format!("interface \"{}\" of {type_desc}", interface.name),
                &what,
            );
        }
        if !st.workflows.iter().any(|w| w.name.name == workflow.name) {
            let names: Vec<&str> = st.workflows.iter().map(|w| w.name.name.as_str()).collect();
            self.diagnostics.error(
                &workflow.location,
                format!(
                    "unknown workflow \"{}\" in {what}{}; the service template's workflows are: {}",
                    workflow.name,
                    did_you_mean(&workflow.name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
        }
    }
}
