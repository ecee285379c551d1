//! Instantiation: a compiled service template plus input values gives the representation
//! graph (§4.2.2).
//!
//! Inputs are checked (unknown names, missing required inputs, types) and defaulted; then
//! every value is evaluated as far as it can be without runtime state (see [`crate::eval`]).
//! Attributes without a value are kept as `Expr::Value(Value::Null)`, so that the graph lists
//! every attribute its types define.

use crate::eval::{partial, CustomFunctions, EvalContext, NoFunctions};
use crate::model::{
    Action, Artifact, Capability, Expr, Function, Implementation, Interface, Node, Operation,
    Output, Policy, Relationship, ServiceGraph, Trigger, TypeRef,
};
use khutulun_tosca::builtins::Kind;
use khutulun_tosca::{self as tosca, Diagnostic, Location, ServiceTemplate, TypeName};
use serde_json::Value;
use std::collections::BTreeMap;

/// Instantiates `template` with `inputs` (input name -> value). Custom functions stay
/// deferred (see [`instantiate_with`]).
pub fn instantiate(
    template: &ServiceTemplate,
    inputs: &BTreeMap<String, Value>,
) -> Result<ServiceGraph, Vec<Diagnostic>> {
    instantiate_with(template, inputs, &NoFunctions)
}

/// Instantiates `template` with `inputs`, computing the calls of custom functions that
/// `functions` knows once their arguments are known. A call `functions` does not know, or
/// whose arguments are only known at run time (`$get_attribute`), stays deferred; one that
/// fails is an error at the call.
pub fn instantiate_with(
    template: &ServiceTemplate,
    inputs: &BTreeMap<String, Value>,
    functions: &dyn CustomFunctions,
) -> Result<ServiceGraph, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let input_values = check_inputs(template, inputs, &mut diagnostics);
    for node in &template.node_templates {
        check_deployable(node, &mut diagnostics);
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut raw = ServiceGraph {
        inputs: input_values,
        nodes: Vec::new(),
        relationships: Vec::new(),
        outputs: BTreeMap::new(),
        policies: template
            .policies
            .iter()
            .map(|p| policy(template, p))
            .collect(),
        functions: template
            .functions
            .iter()
            .map(|(name, f)| {
                (
                    name.clone(),
                    Function {
                        implementation: f.implementation.as_ref().map(implementation),
                    },
                )
            })
            .collect(),
        input_kinds: template
            .inputs
            .iter()
            .filter_map(|input| {
                let kind = Kind::of(input.schema.as_ref()?, &template.data_types)?;
                Some((input.name.clone(), kind))
            })
            .collect(),
    };
    for node in &template.node_templates {
        let count = match node_count(&raw, node, functions) {
            Ok(count) => count,
            Err(message) => {
                diagnostics.push(Diagnostic::error(&node.count.location, message));
                0
            }
        };
        raw.nodes.push(Node {
            name: node.name.clone(),
            types: type_refs(&node.types),
            count,
            properties: values(&node.properties),
            attributes: attribute_values(&node.attributes),
            kinds: node.kinds.clone(),
            capabilities: node
                .capabilities
                .iter()
                .map(|(name, capability)| {
                    (
                        name.clone(),
                        Capability {
                            types: type_refs(&capability.types),
                            properties: values(&capability.properties),
                            attributes: attribute_values(&capability.attributes),
                            kinds: capability.kinds.clone(),
                        },
                    )
                })
                .collect(),
            interfaces: interfaces(&node.interfaces),
            artifacts: node
                .artifacts
                .iter()
                .map(|(name, a)| (name.clone(), artifact(a)))
                .collect(),
        });
        for requirement in &node.requirements {
            raw.relationships.push(Relationship {
                source: node.name.clone(),
                requirement: requirement.name.clone(),
                target: requirement.target.clone(),
                capability: requirement.capability.clone(),
                types: type_refs(&requirement.relationship.types),
                properties: values(&requirement.relationship.properties),
                attributes: attribute_values(&requirement.relationship.attributes),
                kinds: requirement.relationship.kinds.clone(),
                interfaces: interfaces(&requirement.relationship.interfaces),
            });
        }
    }
    for output in &template.outputs {
        let value = output
            .value
            .as_ref()
            .map(convert)
            .unwrap_or(Expr::Value(Value::Null));
        raw.outputs.insert(
            output.name.clone(),
            Output {
                description: output.description.clone(),
                value,
            },
        );
    }
    let graph = evaluate_all(&raw, template, functions, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(graph)
    } else {
        Err(diagnostics)
    }
}

/// The value of every input: given, or its default. Reports unknown, missing and ill-typed
/// inputs.
fn check_inputs(
    template: &ServiceTemplate,
    given: &BTreeMap<String, Value>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let names: Vec<&str> = template.inputs.iter().map(|i| i.name.as_str()).collect();
    for name in given.keys() {
        if template.input(name).is_none() {
            let known = if names.is_empty() {
                "it has none".to_string()
            } else {
                format!("its inputs are: {}", names.join(", "))
            };
            diagnostics.push(Diagnostic::error(
                &template.location,
                format!(
                    "unknown input \"{name}\": the service template does not define it; {known}"
                ),
            ));
        }
    }
    let mut values = BTreeMap::new();
    for input in &template.inputs {
        let type_name = input
            .schema
            .as_ref()
            .map(|s| format!(" (type {})", s.type_name))
            .unwrap_or_default();
        if let Some(value) = given.get(&input.name) {
            diagnostics.extend(template.check_input_value(&input.name, value));
            values.insert(input.name.clone(), value.clone());
            continue;
        }
        if let Some(default) = &input.default {
            match default.to_json() {
                Some(value) => {
                    values.insert(input.name.clone(), value);
                }
                None => diagnostics.push(Diagnostic::error(
                    &default.location,
                    format!(
                        "the default of input \"{}\" holds a function call; give the input a value",
                        input.name
                    ),
                )),
            }
        } else if input.required {
            diagnostics.push(Diagnostic::error(
                &input.location,
                format!(
                    "missing required input \"{}\"{type_name}: it has no default, so it must be given",
                    input.name
                ),
            ));
        }
    }
    values
}

/// What this graph cannot represent yet: selected or substituted nodes, and requirements the
/// compile could not fulfil from the template's own node templates.
fn check_deployable(node: &tosca::NodeTemplate, diagnostics: &mut Vec<Diagnostic>) {
    for directive in &node.directives {
        if directive != "create" {
            diagnostics.push(Diagnostic::error(
                &node.location,
                format!(
                    "node template \"{}\" has directive \"{directive}\", which is not supported yet: only nodes created from their template can be deployed",
                    node.name
                ),
            ));
        }
    }
    for requirement in node.unfulfilled.iter().filter(|r| !r.optional) {
        diagnostics.push(Diagnostic::error(
            &requirement.location,
            format!(
                "requirement \"{}\" of node template \"{}\" has no target: {}; name a target node template with node:",
                requirement.name, node.name, requirement.reason
            ),
        ));
    }
}

fn node_count(
    graph: &ServiceGraph,
    node: &tosca::NodeTemplate,
    functions: &dyn CustomFunctions,
) -> Result<u32, String> {
    let context = EvalContext::node(&node.name, 0);
    let value = partial(graph, &convert(&node.count), &context, functions)
        .map_err(|e| format!("the count of node template \"{}\": {e}", node.name))?;
    match value {
        Expr::Value(Value::Number(n)) if n.as_u64().is_some_and(|c| c <= u64::from(u32::MAX)) => {
            Ok(n.as_u64().unwrap_or_default() as u32)
        }
        Expr::Value(other) => Err(format!(
            "the count of node template \"{}\" must be a non-negative integer, not {other}",
            node.name
        )),
        _ => Err(format!(
            "the count of node template \"{}\" must be known at deployment; it depends on an attribute",
            node.name
        )),
    }
}

/// A policy with its group targets expanded into the groups' members.
fn policy(template: &ServiceTemplate, policy: &tosca::GroupOrPolicy) -> Policy {
    let mut targets: Vec<String> = Vec::new();
    for target in &policy.targets {
        let members = match template.groups.iter().find(|g| &g.name == target) {
            Some(group) => group.targets.clone(),
            None => vec![target.clone()],
        };
        for member in members {
            if !targets.contains(&member) {
                targets.push(member);
            }
        }
    }
    Policy {
        name: policy.name.clone(),
        types: type_refs(&policy.types),
        properties: values(&policy.properties),
        targets,
        triggers: policy.triggers.iter().map(trigger).collect(),
    }
}

/// A trigger: its condition and the inputs of its calls stay as written (converted), to be
/// evaluated when the event happens.
fn trigger(trigger: &tosca::TriggerDefinition) -> Trigger {
    Trigger {
        name: trigger.name.clone(),
        event: trigger.event.clone(),
        condition: trigger.condition.as_ref().map(convert),
        actions: trigger
            .actions
            .iter()
            .map(|call| Action::CallOperation {
                operation: call.operation.clone(),
                inputs: values(&call.inputs),
            })
            .collect(),
    }
}

/// Interfaces with their input values converted (evaluated later with the other values).
fn interfaces(
    interfaces: &BTreeMap<String, tosca::InterfaceTemplate>,
) -> BTreeMap<String, Interface> {
    let operations = |operations: &BTreeMap<String, tosca::OperationTemplate>| {
        operations
            .iter()
            .map(|(name, operation)| {
                (
                    name.clone(),
                    Operation {
                        implementation: Some(implementation(&operation.implementation)),
                        inputs: values(&operation.inputs),
                        outputs: operation.outputs.clone(),
                        timeout: operation.implementation.timeout,
                    },
                )
            })
            .collect()
    };
    interfaces
        .iter()
        .map(|(name, interface)| {
            (
                name.clone(),
                Interface {
                    types: type_refs(&interface.types),
                    operations: operations(&interface.operations),
                    notifications: operations(&interface.notifications),
                },
            )
        })
        .collect()
}

fn implementation(implementation: &tosca::ImplementationDefinition) -> Implementation {
    Implementation {
        primary: artifact(&implementation.primary),
        dependencies: implementation.dependencies.iter().map(artifact).collect(),
    }
}

fn artifact(artifact: &tosca::ArtifactTemplate) -> Artifact {
    Artifact {
        file: artifact.file.clone(),
        types: type_refs(&artifact.types),
    }
}

fn type_refs(types: &[TypeName]) -> Vec<TypeRef> {
    types
        .iter()
        .map(|t| TypeRef {
            name: t.name.clone(),
            profile: t.profile.clone(),
        })
        .collect()
}

fn values(values: &BTreeMap<String, tosca::Expr>) -> BTreeMap<String, Expr> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), convert(v)))
        .collect()
}

fn attribute_values(values: &BTreeMap<String, Option<tosca::Expr>>) -> BTreeMap<String, Expr> {
    values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_ref().map(convert).unwrap_or(Expr::Value(Value::Null)),
            )
        })
        .collect()
}

/// A compiled expression as a graph expression: plain data wherever no call occurs.
pub fn convert(expr: &tosca::Expr) -> Expr {
    if let Some(value) = expr.to_json() {
        return Expr::Value(value);
    }
    match &expr.kind {
        tosca::ExprKind::List(items) => Expr::List(items.iter().map(convert).collect()),
        tosca::ExprKind::Map(entries) => Expr::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), convert(v)))
                .collect(),
        ),
        tosca::ExprKind::Call(call) => Expr::Call {
            function: call.function.clone(),
            args: call.args.iter().map(convert).collect(),
        },
        // Plain data was returned above.
        _ => Expr::Value(Value::Null),
    }
}

/// Evaluates every value of the raw graph as far as it can be before run time. Errors are
/// reported at the compiled expression's place (a failed custom function at its call).
fn evaluate_all(
    raw: &ServiceGraph,
    template: &ServiceTemplate,
    functions: &dyn CustomFunctions,
    diagnostics: &mut Vec<Diagnostic>,
) -> ServiceGraph {
    let mut graph = raw.clone();
    // `source` is the compiled value, when there is one; `fallback` where to report otherwise.
    let mut run = |expr: &mut Expr,
                   context: &EvalContext,
                   source: Option<&tosca::Expr>,
                   fallback: &Location,
                   what: &str| match partial(raw, expr, context, functions) {
        Ok(value) => *expr = value,
        Err(error) => {
            let at = match source {
                Some(source) if !tosca::functions::is_builtin(&error.function) => {
                    call_location(source, &error.function).unwrap_or(&source.location)
                }
                Some(source) => &source.location,
                None => fallback,
            };
            diagnostics.push(Diagnostic::error(at, format!("{what}: {error}")))
        }
    };
    for (node, compiled) in graph.nodes.iter_mut().zip(&template.node_templates) {
        let context = EvalContext::node(&node.name, 0);
        let what = format!("node template \"{}\"", node.name);
        let here = &compiled.location;
        for (name, expr) in node.properties.iter_mut() {
            let source = compiled.properties.get(name);
            run(
                expr,
                &context,
                source,
                here,
                &format!("property \"{name}\" of {what}"),
            );
        }
        for (name, expr) in node.attributes.iter_mut() {
            let source = compiled.attributes.get(name).and_then(Option::as_ref);
            run(
                expr,
                &context,
                source,
                here,
                &format!("attribute \"{name}\" of {what}"),
            );
        }
        for (cap_name, capability) in node.capabilities.iter_mut() {
            let compiled_cap = &compiled.capabilities[cap_name];
            for (name, expr) in capability.properties.iter_mut() {
                run(
                    expr,
                    &context,
                    compiled_cap.properties.get(name),
                    here,
                    &format!("property \"{name}\" of capability \"{cap_name}\" of {what}"),
                );
            }
            for (name, expr) in capability.attributes.iter_mut() {
                run(
                    expr,
                    &context,
                    compiled_cap.attributes.get(name).and_then(Option::as_ref),
                    here,
                    &format!("attribute \"{name}\" of capability \"{cap_name}\" of {what}"),
                );
            }
        }
        for_each_input(
            &mut node.interfaces,
            &compiled.interfaces,
            |expr, source, input| run(expr, &context, source, here, &format!("{input} of {what}")),
        );
    }
    let requirements: Vec<(&tosca::NodeTemplate, &tosca::RequirementTemplate)> = template
        .node_templates
        .iter()
        .flat_map(|n| n.requirements.iter().map(move |r| (n, r)))
        .collect();
    let mut seen: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (relationship, (node, compiled)) in graph.relationships.iter_mut().zip(requirements) {
        let rel_index = seen
            .entry((
                relationship.source.clone(),
                relationship.requirement.clone(),
            ))
            .or_insert(0);
        let context = EvalContext::relationship(
            &relationship.source,
            0,
            &relationship.requirement,
            *rel_index,
        );
        *rel_index += 1;
        let what = format!(
            "the relationship of requirement \"{}\" of node template \"{}\"",
            compiled.name, node.name
        );
        let here = &compiled.location;
        for (name, expr) in relationship.properties.iter_mut() {
            run(
                expr,
                &context,
                compiled.relationship.properties.get(name),
                here,
                &format!("property \"{name}\" of {what}"),
            );
        }
        for (name, expr) in relationship.attributes.iter_mut() {
            run(
                expr,
                &context,
                compiled
                    .relationship
                    .attributes
                    .get(name)
                    .and_then(Option::as_ref),
                here,
                &format!("attribute \"{name}\" of {what}"),
            );
        }
        for_each_input(
            &mut relationship.interfaces,
            &compiled.relationship.interfaces,
            |expr, source, input| run(expr, &context, source, here, &format!("{input} of {what}")),
        );
    }
    for (policy, compiled) in graph.policies.iter_mut().zip(&template.policies) {
        for (name, expr) in policy.properties.iter_mut() {
            run(
                expr,
                &EvalContext::None,
                compiled.properties.get(name),
                &compiled.location,
                &format!("property \"{name}\" of policy \"{}\"", compiled.name),
            );
        }
    }
    for output in &template.outputs {
        if let (Some(graph_output), Some(value)) =
            (graph.outputs.get_mut(&output.name), &output.value)
        {
            run(
                &mut graph_output.value,
                &EvalContext::None,
                Some(value),
                &value.location,
                &format!("output \"{}\"", output.name),
            );
        }
    }
    graph
}

/// Calls `visit` with every input value of every operation and notification, its compiled
/// value and a description (`input "x" of operation "life.create"`).
fn for_each_input(
    interfaces: &mut BTreeMap<String, Interface>,
    compiled: &BTreeMap<String, tosca::InterfaceTemplate>,
    mut visit: impl FnMut(&mut Expr, Option<&tosca::Expr>, &str),
) {
    for (interface_name, interface) in interfaces.iter_mut() {
        let compiled = compiled.get(interface_name);
        for (label, operations, compiled_ops) in [
            (
                "operation",
                &mut interface.operations,
                compiled.map(|c| &c.operations),
            ),
            (
                "notification",
                &mut interface.notifications,
                compiled.map(|c| &c.notifications),
            ),
        ] {
            for (operation_name, operation) in operations.iter_mut() {
                let compiled_op = compiled_ops.and_then(|c| c.get(operation_name));
                for (name, expr) in operation.inputs.iter_mut() {
                    let source = compiled_op.and_then(|c| c.inputs.get(name));
                    visit(
                        expr,
                        source,
                        &format!(
                            "input \"{name}\" of {label} \"{interface_name}.{operation_name}\""
                        ),
                    );
                }
            }
        }
    }
}

/// Where the first call of `function` in `expr` is written.
fn call_location<'e>(expr: &'e tosca::Expr, function: &str) -> Option<&'e Location> {
    let mut found = None;
    expr.visit_calls(&mut |at, call| {
        if found.is_none() && call.function == function {
            found = Some(&at.location);
        }
    });
    found
}
