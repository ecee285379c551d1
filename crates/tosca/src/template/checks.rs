//! Checks of function calls that can be made before deployment: `$get_input` names an input
//! of the service template (or of the workflow); `$get_property`, `$get_attribute`,
//! `$get_artifact` and `$available_allocation` follow a valid TOSCA path to a node template,
//! capability or relationship that has the property, attribute or artifact named.
//! Where the path goes through something only known at deployment (an index, incoming
//! relationships), checking stops there.

use super::Compiler;
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{Call, Expr, ExprKind, PropertyDefinition, ServiceTemplate};
use crate::path::{self, EntityKind, PathArg, Start, Step};

/// What SELF is where an expression is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum SelfRef {
    None,
    /// SELF is something this check does not follow (a group, a policy's target, the service
    /// of a precondition): paths from it are left to deployment.
    Unknown,
    Node(usize),
    /// A relationship: the source node and the requirement's position among its requirements.
    Relationship(usize, usize),
}

/// Where a path is known to lead while checking.
enum Reached {
    Node(usize),
    Relationship(usize, usize),
    Capability(usize, String),
    /// Only known at deployment.
    Unknown,
}

impl Compiler<'_> {
    /// The values given to interface inputs in node templates (and their requirements'
    /// relationships), where SELF is the node (or relationship), and node filters.
    pub(super) fn check_interface_functions(
        &mut self,
        st: &crate::ast::ServiceTemplate,
        model: &ServiceTemplate,
    ) {
        for (index, template) in st.node_templates.iter().enumerate() {
            let values = interface_values(&template.interfaces);
            for value in values {
                self.check_expr(value, SelfRef::Node(index), model);
            }
            // The filter of a node to select is evaluated on the candidate node (§8.6). What
            // it names that does not exist makes the filter false for every candidate: the
            // orchestrator finds no node, and the file stays valid.
            if let Some(filter) = &template.node_filter {
                let mark = self.diagnostics.len();
                self.check_expr(filter, SelfRef::Node(index), model);
                self.diagnostics.downgrade_from(mark, FILTER_NOTE);
            }
            // A requirement's filter is evaluated on the relationship to the target (§8.6).
            let mut seen = 0;
            for requirement in &template.requirements {
                let position = self.nodes[index]
                    .requirements
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.name == requirement.name.name)
                    .nth(seen)
                    .map(|(r, _)| r);
                if let (Some(filter), Some(r)) = (&requirement.node_filter, position) {
                    let mark = self.diagnostics.len();
                    self.check_expr(filter, SelfRef::Relationship(index, r), model);
                    self.diagnostics.downgrade_from(mark, FILTER_NOTE);
                }
                if position.is_some() {
                    seen += 1;
                }
            }
            for requirement in &template.requirements {
                if let Some(crate::ast::RelationshipAssignment::Full { interfaces, .. }) =
                    &requirement.relationship
                {
                    let position = self.nodes[index]
                        .requirements
                        .iter()
                        .position(|r| r.name == requirement.name.name);
                    let here = match position {
                        Some(r) => SelfRef::Relationship(index, r),
                        None => SelfRef::Unknown,
                    };
                    for value in interface_values(interfaces) {
                        self.check_expr(value, here, model);
                    }
                }
            }
        }
    }

    pub(super) fn check_functions(&mut self, model: &ServiceTemplate) {
        for (index, node) in model.node_templates.iter().enumerate() {
            let here = SelfRef::Node(index);
            self.check_expr(&node.count, here, model);
            for value in node.properties.values() {
                self.check_expr(value, here, model);
            }
            for value in node.attributes.values().flatten() {
                self.check_expr(value, here, model);
            }
            for capability in node.capabilities.values() {
                for value in capability.properties.values() {
                    self.check_expr(value, here, model);
                }
                for value in capability.attributes.values().flatten() {
                    self.check_expr(value, here, model);
                }
            }
            for (r, requirement) in node.requirements.iter().enumerate() {
                let here = SelfRef::Relationship(index, r);
                self.check_expr(&requirement.count, here, model);
                for value in requirement.relationship.properties.values() {
                    self.check_expr(value, here, model);
                }
                for value in requirement.relationship.attributes.values().flatten() {
                    self.check_expr(value, here, model);
                }
            }
        }
        for output in &model.outputs {
            if let Some(value) = &output.value {
                self.check_expr(value, SelfRef::None, model);
            }
        }
    }

    fn check_expr(&mut self, expr: &Expr, here: SelfRef, model: &ServiceTemplate) {
        let inputs: Vec<&PropertyDefinition> = model.inputs.iter().collect();
        self.check_expr_in(expr, here, &inputs, true);
    }

    /// Checks the calls in `expr`. `$get_input` names one of `inputs`; when that is not
    /// `strict` (workflows, whose inputs are their own) an unknown name is only a warning.
    pub(super) fn check_expr_in(
        &mut self,
        expr: &Expr,
        here: SelfRef,
        inputs: &[&PropertyDefinition],
        strict: bool,
    ) {
        let mut calls = Vec::new();
        expr.visit_calls(&mut |e, call| calls.push((e, call)));
        for (e, call) in calls {
            match call.function.as_str() {
                "get_input" => self.check_get_input(e, call, inputs, strict),
                "get_property" | "get_attribute" => self.check_get_value(e, call, here),
                "get_artifact" => self.check_get_artifact(e, call, here),
                "available_allocation" => self.check_available_allocation(e, call, here),
                "node_index" if matches!(here, SelfRef::None) => self.diagnostics.warning(
                    &e.location,
                    "$node_index is used where there is no node (§10.2.1.6); it has no value here",
                ),
                "relationship_index" if !matches!(here, SelfRef::Relationship(..)) => {
                    self.diagnostics.warning(
                        &e.location,
                        "$relationship_index is used where there is no relationship (§10.2.1.7); it has no value here",
                    )
                }
                _ => {}
            }
        }
    }

    fn check_get_input(
        &mut self,
        at: &Expr,
        call: &Call,
        inputs: &[&PropertyDefinition],
        strict: bool,
    ) {
        let Some(name) = call.args.first() else {
            self.diagnostics.error(
                &at.location,
                "$get_input needs the name of an input of the service template",
            );
            return;
        };
        let ExprKind::String(name_text) = &name.kind else {
            if name.as_call().is_none() {
                self.diagnostics.error(
                    &name.location,
                    format!(
                        "$get_input needs an input name (a string) first, not {}",
                        name.describe()
                    ),
                );
            }
            return;
        };
        if !inputs.iter().any(|i| &i.name == name_text) {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            let scope = if strict {
                "the service template's inputs are"
            } else {
                "the inputs of the workflow and of the service template are"
            };
            let message = format!(
                "unknown input \"{name_text}\" in $get_input{}; {scope}: {}",
                did_you_mean(name_text, names.iter().copied()),
                known_list(names.iter().copied())
            );
            if strict {
                self.diagnostics.error(&name.location, message);
            } else {
                self.diagnostics.warning(&name.location, message);
            }
        }
    }

    /// Follows the TOSCA path of a `$get_*` call: where it leads, and the name argument after
    /// it (`what` says what the name names). None when it is wrong (reported) or not known.
    fn follow_path<'c>(
        &mut self,
        at: &Expr,
        call: &'c Call,
        here: SelfRef,
        what: &str,
    ) -> Option<(Reached, &'c Expr, &'c str)> {
        let function = format!("${}", call.function);
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            match &arg.kind {
                ExprKind::String(s) => args.push(PathArg::Str(s)),
                ExprKind::Integer(i) => args.push(PathArg::Int(*i)),
                // Computed path elements are only known when evaluated.
                ExprKind::Call(_) => return None,
                _ => args.push(PathArg::Other),
            }
        }
        let self_kind = match here {
            SelfRef::None => None,
            SelfRef::Unknown => Some(EntityKind::Node),
            SelfRef::Node(_) => Some(EntityKind::Node),
            SelfRef::Relationship(..) => Some(EntityKind::Relationship),
        };
        let parsed = match path::parse(&args, self_kind) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.diagnostics.error(
                    &at.location,
                    format!("invalid TOSCA path in {function}: {message}"),
                );
                return None;
            }
        };
        let Some(name_arg) = call.args.get(parsed.consumed) else {
            self.diagnostics.error(
                &at.location,
                format!("{function} needs the name of a {what} after the TOSCA path (§10.2.1)"),
            );
            return None;
        };
        let Some(name) = name_arg.as_str() else {
            self.diagnostics.error(
                &name_arg.location,
                format!(
                    "{function} needs the name of a {what} after the TOSCA path, not {}",
                    name_arg.describe()
                ),
            );
            return None;
        };
        let mut reached = match (&parsed.start, here) {
            (Start::SelfEntity, SelfRef::Node(i)) => Reached::Node(i),
            (Start::SelfEntity, SelfRef::Relationship(i, r)) => Reached::Relationship(i, r),
            (Start::SelfEntity, SelfRef::None | SelfRef::Unknown) => return None,
            (Start::Node(node), _) => match self.node_index.get(node.as_str()).copied() {
                Some(i) => Reached::Node(i),
                None => {
                    let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                    self.diagnostics.error(
                        &call.args[0].location,
                        format!(
                            "unknown node template \"{node}\" in {function}{}; node templates: {}",
                            did_you_mean(node, names.iter().copied()),
                            known_list(names.iter().copied())
                        ),
                    );
                    return None;
                }
            },
        };
        for step in &parsed.steps {
            reached = self.step(reached, step, at, &function)?;
        }
        Some((reached, name_arg, name))
    }

    /// `$available_allocation: [ <tosca_path>, <property_name> ]`: the path leads to a
    /// capability that has the property, of an allocatable type (§10.2.1.8).
    fn check_available_allocation(&mut self, at: &Expr, call: &Call, here: SelfRef) {
        let Some((reached, name_arg, name)) = self.follow_path(at, call, here, "property") else {
            return;
        };
        let (node, capability) = match reached {
            Reached::Capability(node, capability) => (node, capability),
            Reached::Unknown => return,
            _ => {
                self.diagnostics.error(
                    &at.location,
                    "the TOSCA path of $available_allocation must lead to a capability (§10.2.1.8)",
                );
                return;
            }
        };
        let Some(type_id) = self.nodes[node].type_id else {
            return;
        };
        let Some(spec) = self
            .types
            .resolved(type_id)
            .capabilities
            .iter()
            .find(|c| c.name == capability)
            .cloned()
        else {
            return;
        };
        let Some(property) = spec.properties.iter().find(|p| p.name == name) else {
            let names: Vec<&str> = spec.properties.iter().map(|p| p.name.as_str()).collect();
            self.diagnostics.error(
                &name_arg.location,
                format!(
                    "unknown property \"{name}\" of capability \"{capability}\" of node template \"{}\" in $available_allocation{}; it has: {}",
                    self.nodes[node].name,
                    did_you_mean(name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
            return;
        };
        let base = property
            .schema
            .as_ref()
            .and_then(|s| self.types.data_base(s.data_type));
        if !matches!(
            base,
            None | Some(
                crate::model::Builtin::Integer
                    | crate::model::Builtin::Float
                    | crate::model::Builtin::Scalar
            )
        ) {
            self.diagnostics.error(
                &name_arg.location,
                format!("$available_allocation reads property \"{name}\", which is not an integer, float or scalar, so it cannot be allocated (§10.2.1.8)"),
            );
        }
    }

    /// `$get_artifact: [ <tosca_path>, <artifact_name> ]`: the path leads to a node that has
    /// the artifact (§10.2.1.4).
    fn check_get_artifact(&mut self, at: &Expr, call: &Call, here: SelfRef) {
        let Some((reached, name_arg, name)) = self.follow_path(at, call, here, "artifact") else {
            return;
        };
        let node = match reached {
            Reached::Node(i) => i,
            Reached::Unknown => return,
            _ => {
                self.diagnostics.error(
                    &at.location,
                    "the TOSCA path of $get_artifact must lead to a node, which holds artifacts (§10.2.1.4)",
                );
                return;
            }
        };
        let artifacts = &self.nodes[node].artifacts;
        if !artifacts.iter().any(|a| a == name) {
            let names: Vec<&str> = artifacts.iter().map(String::as_str).collect();
            self.diagnostics.error(
                &name_arg.location,
                format!(
                    "unknown artifact \"{name}\" of node template \"{}\" in $get_artifact{}; it has: {}",
                    self.nodes[node].name,
                    did_you_mean(name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
        }
    }

    fn check_get_value(&mut self, at: &Expr, call: &Call, here: SelfRef) {
        let what = if call.function == "get_property" {
            "property"
        } else {
            "attribute"
        };
        let Some((reached, name_arg, name)) = self.follow_path(at, call, here, what) else {
            return;
        };
        let function = format!("${}", call.function);
        let (defs, owner) = match &reached {
            Reached::Node(i) => {
                let Some(type_id) = self.nodes[*i].type_id else {
                    return;
                };
                let resolved = self.types.resolved(type_id);
                (
                    (resolved.properties.clone(), resolved.attributes.clone()),
                    format!(
                        "node template \"{}\" ({})",
                        self.nodes[*i].name,
                        self.types.describe(type_id)
                    ),
                )
            }
            Reached::Capability(i, capability) => {
                let Some(type_id) = self.nodes[*i].type_id else {
                    return;
                };
                let Some(spec) = self
                    .types
                    .resolved(type_id)
                    .capabilities
                    .iter()
                    .find(|c| &c.name == capability)
                else {
                    return;
                };
                (
                    (spec.properties.clone(), spec.attributes.clone()),
                    format!(
                        "capability \"{capability}\" of node template \"{}\" (capability type \"{}\")",
                        self.nodes[*i].name,
                        self.types.name(spec.type_id)
                    ),
                )
            }
            Reached::Relationship(i, r) => {
                let Some(info) = self.nodes[*i].requirements.get(*r) else {
                    return;
                };
                let Some(spec) = &info.relationship else {
                    return;
                };
                (
                    (spec.properties.clone(), spec.attributes.clone()),
                    format!(
                        "the relationship of requirement \"{}\" of node template \"{}\" (relationship type \"{}\")",
                        info.name,
                        self.nodes[*i].name,
                        self.types.name(spec.type_id)
                    ),
                )
            }
            Reached::Unknown => return,
        };
        let (properties, attributes) = defs;
        // Properties are reflected as attributes (§9.6).
        let candidates: Vec<&PropertyDefinition> = if what == "property" {
            properties.iter().collect()
        } else {
            attributes.iter().chain(properties.iter()).collect()
        };
        if !candidates.iter().any(|d| d.name == name) {
            let names: Vec<&str> = candidates.iter().map(|d| d.name.as_str()).collect();
            self.diagnostics.error(
                &name_arg.location,
                format!(
                    "unknown {what} \"{name}\" of {owner} in {function}{}; it has: {}",
                    did_you_mean(name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
        }
    }

    fn step(
        &mut self,
        reached: Reached,
        step: &Step,
        at: &Expr,
        function: &str,
    ) -> Option<Reached> {
        Some(match (reached, step) {
            (Reached::Unknown, _) => Reached::Unknown,
            (Reached::Node(i), Step::Relationship { requirement, index }) => {
                let type_id = self.nodes[i].type_id?;
                let specs = &self.types.resolved(type_id).requirements;
                if !specs.iter().any(|s| &s.name == requirement) {
                    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                    self.diagnostics.error(
                        &at.location,
                        format!(
                            "unknown requirement \"{requirement}\" of node template \"{}\" in the TOSCA path of {function}{}; {} defines requirements: {}",
                            self.nodes[i].name,
                            did_you_mean(requirement, names.iter().copied()),
                            self.types.describe(type_id),
                            known_list(names.iter().copied())
                        ),
                    );
                    return None;
                }
                let matching: Vec<usize> = self.nodes[i]
                    .requirements
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| &r.name == requirement)
                    .map(|(k, _)| k)
                    .collect();
                match index.single().and_then(|k| matching.get(k as usize)) {
                    Some(&r) => Reached::Relationship(i, r),
                    None => Reached::Unknown,
                }
            }
            (Reached::Node(i), Step::Capability(capability)) => {
                let type_id = self.nodes[i].type_id?;
                let capabilities = &self.types.resolved(type_id).capabilities;
                if !capabilities.iter().any(|c| &c.name == capability) {
                    let names: Vec<&str> = capabilities.iter().map(|c| c.name.as_str()).collect();
                    self.diagnostics.error(
                        &at.location,
                        format!(
                            "unknown capability \"{capability}\" of node template \"{}\" in the TOSCA path of {function}{}; {} defines capabilities: {}",
                            self.nodes[i].name,
                            did_you_mean(capability, names.iter().copied()),
                            self.types.describe(type_id),
                            known_list(names.iter().copied())
                        ),
                    );
                    return None;
                }
                Reached::Capability(i, capability.clone())
            }
            (Reached::Relationship(i, _), Step::Source) => Reached::Node(i),
            (Reached::Relationship(i, r), Step::Target) => {
                let target = &self.nodes[i].requirements[r].target;
                Reached::Node(*self.node_index.get(target.as_str())?)
            }
            (Reached::Relationship(i, r), Step::TargetCapability) => {
                let info = &self.nodes[i].requirements[r];
                let target = *self.node_index.get(info.target.as_str())?;
                Reached::Capability(target, info.capability.clone())
            }
            _ => Reached::Unknown,
        })
    }
}

const FILTER_NOTE: &str = " (in a node filter, which no candidate can then satisfy)";

/// Every value given to an input in interface assignments.
fn interface_values(interfaces: &[crate::ast::InterfaceAssignment]) -> Vec<&Expr> {
    let mut values = Vec::new();
    for interface in interfaces {
        values.extend(interface.inputs.iter().map(|a| &a.value));
        for operation in interface.operations.iter().chain(&interface.notifications) {
            values.extend(operation.inputs.iter().map(|a| &a.value));
        }
    }
    values
}
