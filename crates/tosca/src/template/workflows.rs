//! Imperative workflows of the service template (§13.2): inputs and outputs, step targets
//! and links, and activities — a call_operation must name an operation of its target and give
//! every required input a value of the right type (§13.2.3.3), an inline activity a workflow of
//! the service template (§13.2.3.4).

use super::checks::SelfRef;
use super::Compiler;
use crate::ast::{self, Activity, Assignment, RelationshipAssignment, StepDef, WorkflowDef};
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{PropertyDefinition, ServiceTemplate};
use crate::types::{DefLabel, InterfaceSpec};

/// What the activities of a step act on.
#[derive(Clone, Copy)]
enum Target {
    Node(usize),
    /// A node's requirement: its relationships.
    Relationship(usize, usize),
    /// A group, or a target already reported as unknown.
    Other,
}

impl Compiler<'_> {
    pub(super) fn workflows(&mut self, st: &ast::ServiceTemplate, model: &ServiceTemplate) {
        for workflow in &st.workflows {
            self.workflow(workflow, st, model);
        }
    }

    fn workflow(
        &mut self,
        workflow: &WorkflowDef,
        st: &ast::ServiceTemplate,
        model: &ServiceTemplate,
    ) {
        let what = format!("workflow \"{}\"", workflow.name.name);
        let inputs = self.parameters_of(&workflow.inputs, DefLabel::Input, &what);
        self.parameters_of(&workflow.outputs, DefLabel::Output, &what);
        let mut scope: Vec<&PropertyDefinition> = inputs.iter().collect();
        scope.extend(
            model
                .inputs
                .iter()
                .filter(|i| !inputs.iter().any(|w| w.name == i.name)),
        );
        if let Some(precondition) = &workflow.precondition {
            self.check_expr_in(precondition, SelfRef::Unknown, &scope, false);
        }
        let step_names: Vec<&str> = workflow
            .steps
            .iter()
            .map(|s| s.name.name.as_str())
            .collect();
        for step in &workflow.steps {
            let step_what = format!("step \"{}\" of {what}", step.name.name);
            let target = self.step_target(step, st, &step_what);
            for next in step.on_success.iter().chain(&step.on_failure) {
                if !step_names.contains(&next.name.as_str()) {
                    self.diagnostics.error(
                        &next.location,
                        format!(
                            "unknown step \"{}\" in {step_what}{}; the steps of {what} are: {}",
                            next.name,
                            did_you_mean(&next.name, step_names.iter().copied()),
                            known_list(step_names.iter().copied())
                        ),
                    );
                }
            }
            let here = match target {
                Target::Node(i) => SelfRef::Node(i),
                _ => SelfRef::Unknown,
            };
            for filter in &step.filter {
                self.check_expr_in(filter, here, &scope, false);
            }
            for activity in &step.activities {
                self.activity(activity, target, st, &inputs, &scope, &step_what);
            }
        }
    }

    /// Input or output definitions of a workflow, with their literal values checked.
    fn parameters_of(
        &mut self,
        defs: &[ast::PropertyDef],
        label: DefLabel,
        owner: &str,
    ) -> Vec<PropertyDefinition> {
        let parameters =
            self.types
                .value_defs(self.file, defs, &[], label, owner, true, self.diagnostics);
        for parameter in &parameters {
            let what = format!("{} \"{}\" of {owner}", label.label(), parameter.name);
            if let Some(schema) = &parameter.schema {
                for (keyname, value) in
                    [("default", &parameter.default), ("value", &parameter.value)]
                {
                    if let Some(value) = value {
                        self.check_value(value, schema, &format!("the {keyname} of {what}"));
                    }
                }
            }
        }
        parameters
    }

    fn step_target(&mut self, step: &StepDef, st: &ast::ServiceTemplate, what: &str) -> Target {
        let Some(target) = &step.target else {
            return Target::Other;
        };
        let Some(index) = self.node_index.get(&target.name).copied() else {
            if !st.groups.iter().any(|g| g.name.name == target.name) {
                let names: Vec<&str> = self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .chain(st.groups.iter().map(|g| g.name.name.as_str()))
                    .collect();
                self.diagnostics.error(
                    &target.location,
                    format!(
                        "unknown target \"{}\" of {what}{}: a step targets a node template or a group (§13.2.2); these are: {}",
                        target.name,
                        did_you_mean(&target.name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
            } else if let Some(relationship) = &step.target_relationship {
                self.diagnostics.error(
                    &relationship.location,
                    format!("{what} targets group \"{}\", so it cannot have a target_relationship, which names a requirement of a node (§13.2.2)", target.name),
                );
            }
            return Target::Other;
        };
        let Some(relationship) = &step.target_relationship else {
            return Target::Node(index);
        };
        let Some(type_id) = self.nodes[index].type_id else {
            return Target::Other;
        };
        let requirements = &self.types.resolved(type_id).requirements;
        match requirements
            .iter()
            .position(|r| r.name == relationship.name)
        {
            Some(r) => Target::Relationship(index, r),
            None => {
                let names: Vec<&str> = requirements.iter().map(|r| r.name.as_str()).collect();
                self.diagnostics.error(
                    &relationship.location,
                    format!(
                        "unknown requirement \"{}\" in the target_relationship of {what}{}; {} defines requirements: {}",
                        relationship.name,
                        did_you_mean(&relationship.name, names.iter().copied()),
                        self.types.describe(type_id),
                        known_list(names.iter().copied())
                    ),
                );
                Target::Other
            }
        }
    }

    fn activity(
        &mut self,
        activity: &Activity,
        target: Target,
        st: &ast::ServiceTemplate,
        inputs: &[PropertyDefinition],
        scope: &[&PropertyDefinition],
        what: &str,
    ) {
        let here = match target {
            Target::Node(i) => SelfRef::Node(i),
            _ => SelfRef::Unknown,
        };
        match activity {
            Activity::CallOperation {
                operation,
                inputs: given,
            } => {
                for input in given {
                    self.check_expr_in(&input.value, here, scope, false);
                }
                self.call_operation(operation, given, target, st, inputs, scope, what);
            }
            Activity::Inline {
                workflow,
                inputs: given,
            } => {
                for input in given {
                    self.check_expr_in(&input.value, here, scope, false);
                }
                if !self.known_workflow(workflow, st, what) {
                    return;
                }
                let Some(inlined) = st.workflows.iter().find(|w| w.name.name == workflow.name)
                else {
                    return;
                };
                let names: Vec<&str> = inlined
                    .inputs
                    .iter()
                    .map(|i| i.name.name.as_str())
                    .collect();
                for input in given {
                    if !names.contains(&input.name.name.as_str()) {
                        self.diagnostics.error(
                            &input.name.location,
                            format!(
                                "unknown input \"{}\" of workflow \"{}\" in the inline activity of {what}{}; its inputs are: {}",
                                input.name.name,
                                workflow.name,
                                did_you_mean(&input.name.name, names.iter().copied()),
                                known_list(names.iter().copied())
                            ),
                        );
                    }
                }
            }
            Activity::Delegate { inputs: given, .. } => {
                for input in given {
                    self.check_expr_in(&input.value, here, scope, false);
                }
            }
            Activity::SetState => {}
        }
    }

    /// The interfaces of a target and the inputs its template assigns to them.
    fn target_interfaces(
        &self,
        target: Target,
        st: &ast::ServiceTemplate,
    ) -> Option<(Vec<InterfaceSpec>, Vec<ast::InterfaceAssignment>, String)> {
        match target {
            Target::Node(i) => {
                let type_id = self.nodes[i].type_id?;
                let template = st
                    .node_templates
                    .iter()
                    .find(|t| t.name.name == self.nodes[i].name)?;
                Some((
                    self.types.resolved(type_id).interfaces.clone(),
                    template.interfaces.clone(),
                    format!("node template \"{}\"", self.nodes[i].name),
                ))
            }
            Target::Relationship(i, r) => {
                let type_id = self.nodes[i].type_id?;
                let spec = &self.types.resolved(type_id).requirements[r];
                let template = st
                    .node_templates
                    .iter()
                    .find(|t| t.name.name == self.nodes[i].name)?;
                let fulfilled = self.nodes[i]
                    .requirements
                    .iter()
                    .find(|info| info.name == spec.name);
                let interfaces = fulfilled
                    .and_then(|info| info.relationship.as_ref())
                    .or(spec.relationship.as_ref())
                    .map(|rel| rel.interfaces.clone())
                    .unwrap_or_default();
                let assigned = template
                    .requirements
                    .iter()
                    .filter(|a| a.name.name == spec.name)
                    .find_map(|a| match &a.relationship {
                        Some(RelationshipAssignment::Full { interfaces, .. }) => {
                            Some(interfaces.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                Some((
                    interfaces,
                    assigned,
                    format!(
                        "the relationship of requirement \"{}\" of node template \"{}\"",
                        spec.name, self.nodes[i].name
                    ),
                ))
            }
            Target::Other => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call_operation(
        &mut self,
        operation: &ast::Named,
        given: &[Assignment],
        target: Target,
        st: &ast::ServiceTemplate,
        workflow_inputs: &[PropertyDefinition],
        scope: &[&PropertyDefinition],
        what: &str,
    ) {
        let Some((interfaces, assigned, target_desc)) = self.target_interfaces(target, st) else {
            return;
        };
        // `<interface>.<operation>`; interface names may themselves hold dots.
        let found = operation
            .name
            .match_indices('.')
            .map(|(i, _)| (&operation.name[..i], &operation.name[i + 1..]))
            .find_map(|(interface, op)| {
                let spec = interfaces.iter().find(|s| s.name == interface)?;
                Some((spec, spec.operation(op)?))
            });
        let Some((interface, op)) = found else {
            let names: Vec<String> = interfaces
                .iter()
                .flat_map(|i| {
                    i.operations
                        .iter()
                        .map(move |o| format!("{}.{}", i.name, o.name))
                })
                .collect();
            self.diagnostics.error(
                &operation.location,
                format!(
                    "unknown operation \"{}\" in the call_operation activity of {what}{}: it names <interface>.<operation> of the target, {target_desc}, whose operations are: {}",
                    operation.name,
                    did_you_mean(&operation.name, names.iter().map(String::as_str)),
                    known_list(names.iter().map(String::as_str))
                ),
            );
            return;
        };
        // Operation inputs refine interface inputs of the same name.
        let mut defs: Vec<&PropertyDefinition> = op.inputs.iter().collect();
        defs.extend(
            interface
                .inputs
                .iter()
                .filter(|i| !op.inputs.iter().any(|o| o.name == i.name)),
        );
        let template_assignment = assigned.iter().find(|a| a.name.name == interface.name);
        let mut assigned_names: Vec<&str> = Vec::new();
        if let Some(assignment) = template_assignment {
            assigned_names.extend(assignment.inputs.iter().map(|a| a.name.name.as_str()));
            if let Some(op_assignment) = assignment
                .operations
                .iter()
                .find(|o| o.name.name == op.name)
            {
                assigned_names.extend(op_assignment.inputs.iter().map(|a| a.name.name.as_str()));
            }
        }
        let call = format!("the call of operation \"{}\" in {what}", operation.name);
        for input in given {
            let name = input.name.name.as_str();
            let Some(def) = defs.iter().find(|d| d.name == name) else {
                if !assigned_names.contains(&name) {
                    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                    self.diagnostics.error(
                        &input.name.location,
                        format!(
                            "unknown input \"{name}\" in {call}{}: operation \"{}\" of {target_desc} defines inputs: {} (§13.2.3.3)",
                            did_you_mean(name, names.iter().copied()),
                            operation.name,
                            known_list(names.iter().copied())
                        ),
                    );
                }
                continue;
            };
            let input_what = format!("input \"{name}\" of {call}");
            if def.value.is_some() {
                self.diagnostics.error(
                    &input.name.location,
                    format!(
                        "{input_what} cannot be assigned: its definition fixes its value (§9.9)"
                    ),
                );
                continue;
            }
            self.check_fed_input(input, def, workflow_inputs, scope, &input_what);
        }
        for def in &defs {
            let has_value = def.value.is_some()
                || def.default.is_some()
                || given.iter().any(|g| g.name.name == def.name)
                || assigned_names.contains(&def.name.as_str());
            if def.required && !has_value {
                self.diagnostics.error(
                    &operation.location,
                    format!(
                        "{call} gives no value to input \"{}\", which the operation requires (it has no default, and {target_desc} assigns none) (§13.2.3.3)",
                        def.name
                    ),
                );
            }
        }
    }

    /// A value given to an operation input: literal values must fit the input's type; a
    /// `$get_input` of a workflow input must have a compatible type, and an optional workflow
    /// input without a default cannot feed a required operation input.
    fn check_fed_input(
        &mut self,
        input: &Assignment,
        def: &PropertyDefinition,
        workflow_inputs: &[PropertyDefinition],
        scope: &[&PropertyDefinition],
        what: &str,
    ) {
        let Some(call) = input.value.as_call() else {
            if let Some(schema) = &def.schema {
                self.check_value(&input.value, schema, what);
            }
            return;
        };
        if call.function != "get_input" || call.args.len() != 1 {
            return;
        }
        let Some(name) = call.args[0].as_str() else {
            return;
        };
        let Some(source) = scope.iter().find(|i| i.name == name) else {
            return;
        };
        let from_workflow = workflow_inputs.iter().any(|w| w.name == name);
        let origin = if from_workflow {
            "workflow input"
        } else {
            "input"
        };
        if let (Some(given), Some(wanted)) = (&source.schema, &def.schema) {
            if !self.schemas_fit(given, wanted) {
                self.diagnostics.error(
                    &input.value.location,
                    format!(
                        "{what} has type \"{}\", but {origin} \"{name}\" given to it has type \"{}\"",
                        wanted.type_name, given.type_name
                    ),
                );
            }
        }
        if def.required && !source.required && source.default.is_none() && source.value.is_none() {
            self.diagnostics.error(
                &input.value.location,
                format!(
                    "{what} is required, but {origin} \"{name}\" given to it is optional and has no default, so it may have no value"
                ),
            );
        }
    }
}
