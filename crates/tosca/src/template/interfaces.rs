//! Interface assignments of node templates, relationship templates and requirement
//! relationships (§11.3, §11.5, §11.7): the interface, operation and notification named must
//! be defined by the type; values given for defined inputs must fit their definitions; output
//! mappings must name attributes of the entity.

use super::Compiler;
use crate::ast::{Assignment, InterfaceAssignment, OperationAssignment};
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{ExprKind, PropertyDefinition};
use crate::types::{InterfaceSpec, OperationSpec};

/// What an interface assignment is checked against.
pub(crate) struct InterfaceContext<'a> {
    pub specs: &'a [InterfaceSpec],
    /// e.g. `node template "web"`.
    pub what: &'a str,
    /// e.g. `node type "Web"`.
    pub type_desc: &'a str,
    /// The names of the entity's attributes and properties (outputs map onto them).
    pub attributes: Vec<&'a str>,
}

impl Compiler<'_> {
    /// The artifacts of a node template (§12.2), and those written in place in the
    /// implementations of its interface assignments; records every artifact name of the node.
    pub(crate) fn template_artifacts(
        &mut self,
        template: &crate::ast::NodeTemplate,
        type_id: Option<crate::names::TypeId>,
        what: &str,
    ) {
        let mut names: Vec<String> = type_id
            .map(|t| {
                self.types
                    .resolved(t)
                    .artifacts
                    .iter()
                    .map(|a| a.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for artifact in &template.artifacts {
            let artifact_what = format!("artifact \"{}\" of {what}", artifact.name.name);
            let artifact_type =
                self.types
                    .artifact_type(self.file, artifact, &artifact_what, self.diagnostics);
            self.types.check_artifact(
                self.file,
                artifact,
                artifact_type,
                &artifact_what,
                self.diagnostics,
            );
            if !names.contains(&artifact.name.name) {
                names.push(artifact.name.name.clone());
            }
        }
        for interface in &template.interfaces {
            for operation in interface.operations.iter().chain(&interface.notifications) {
                if let Some(implementation) = &operation.implementation {
                    let implementation_what = format!(
                        "the implementation of \"{}.{}\" of {what}",
                        interface.name.name, operation.name.name
                    );
                    self.types.check_implementation(
                        self.file,
                        implementation,
                        &implementation_what,
                        self.diagnostics,
                    );
                }
            }
        }
        if let Some(node) = self.nodes.last_mut() {
            node.artifacts = names;
        }
    }

    pub(crate) fn interface_assignments(
        &mut self,
        assignments: &[InterfaceAssignment],
        context: &InterfaceContext,
    ) {
        for assignment in assignments {
            let name = &assignment.name.name;
            let Some(spec) = context.specs.iter().find(|s| &s.name == name) else {
                let names: Vec<&str> = context.specs.iter().map(|s| s.name.as_str()).collect();
                self.diagnostics.error(
                    &assignment.name.location,
                    format!(
                        "unknown interface \"{name}\" in {}{}; {} defines interfaces: {}",
                        context.what,
                        did_you_mean(name, names.iter().copied()),
                        context.type_desc,
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            let what = format!("interface \"{name}\" of {}", context.what);
            // Inputs not defined by the interface may be given (§11.3).
            self.parameter_values(&spec.inputs, &assignment.inputs, "input", &what);
            for (label, defined, assigned) in [
                ("operation", &spec.operations, &assignment.operations),
                (
                    "notification",
                    &spec.notifications,
                    &assignment.notifications,
                ),
            ] {
                for operation in assigned {
                    self.operation_assignment(operation, defined, label, &what, context);
                }
            }
        }
    }

    fn operation_assignment(
        &mut self,
        assignment: &OperationAssignment,
        defined: &[OperationSpec],
        label: &str,
        owner: &str,
        context: &InterfaceContext,
    ) {
        let name = &assignment.name.name;
        let Some(spec) = defined.iter().find(|o| &o.name == name) else {
            let names: Vec<&str> = defined.iter().map(|o| o.name.as_str()).collect();
            self.diagnostics.error(
                &assignment.name.location,
                format!(
                    "unknown {label} \"{name}\" in {owner}{}; its interface defines {label}s: {}",
                    did_you_mean(name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
            return;
        };
        let what = format!("{label} \"{name}\" of {owner}");
        self.parameter_values(&spec.inputs, &assignment.inputs, "input", &what);
        for output in &assignment.outputs {
            if let Some(def) = spec.outputs.iter().find(|d| d.name == output.name.name) {
                if def.value.is_some() {
                    self.diagnostics.error(
                        &output.name.location,
                        format!(
                            "output \"{}\" of {what} is already mapped where it is defined, so it cannot be mapped again (§11.5)",
                            output.name.name
                        ),
                    );
                }
            }
            self.check_self_attribute(&output.value, &output.name.name, &what, context);
        }
    }

    /// `[ SELF, <attribute>, ... ]`: the attribute must exist (other paths are followed at
    /// deployment).
    fn check_self_attribute(
        &mut self,
        mapping: &crate::model::Expr,
        output: &str,
        what: &str,
        context: &InterfaceContext,
    ) {
        let ExprKind::List(items) = &mapping.kind else {
            return;
        };
        let (Some("SELF"), Some(attribute)) = (
            items.first().and_then(|i| i.as_str()),
            items.get(1).and_then(|i| i.as_str()),
        ) else {
            return;
        };
        if matches!(
            attribute,
            "CAPABILITY" | "RELATIONSHIP" | "SOURCE" | "TARGET"
        ) {
            return;
        }
        if !context.attributes.contains(&attribute) {
            self.diagnostics.error(
                &items[1].location,
                format!(
                    "output \"{output}\" of {what} maps to attribute \"{attribute}\", which {} does not have{}; it has: {}",
                    context.what,
                    did_you_mean(attribute, context.attributes.iter().copied()),
                    known_list(context.attributes.iter().copied())
                ),
            );
        }
    }

    /// Values given to parameters: those with a definition must fit it and must not have a
    /// fixed value. Messages say `{role} "name" of {owner}`.
    pub(crate) fn parameter_values(
        &mut self,
        defs: &[PropertyDefinition],
        assignments: &[Assignment],
        role: &str,
        owner: &str,
    ) {
        for assignment in assignments {
            let Some(def) = defs.iter().find(|d| d.name == assignment.name.name) else {
                continue;
            };
            let what = format!("{role} \"{}\" of {owner}", assignment.name.name);
            if def.value.is_some() {
                self.diagnostics.error(
                    &assignment.name.location,
                    format!("{what} cannot be assigned: its definition fixes its value (§9.9)"),
                );
                continue;
            }
            if let Some(schema) = &def.schema {
                self.check_value(&assignment.value, schema, &what);
            }
        }
    }
}
