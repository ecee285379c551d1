//! Evaluation of expressions against the graph (and, at run time, the runtime state).
//!
//! One evaluator serves two moments:
//! - at instantiation ([`partial`]), with no runtime state: `$get_input`, `$get_property`,
//!   `$concat` and friends are computed from the graph; `$get_attribute`, and any call whose
//!   arguments contain it, stays a call (its constant arguments already evaluated), unless
//!   an argument already decides it (`false` for `$and`, `true` for `$or`);
//! - at run time ([`evaluate`]): `$get_attribute` reads the runtime value of an attribute,
//!   falling back to the attribute's value in the graph (null when it has none); a name that
//!   is only a property reads the property, which TOSCA reflects as an attribute (§9.6).
//!
//! What the built-ins other than the graph queries compute is `khutulun_tosca::builtins`'s
//! to say: this evaluator only finds their arguments' values.
//!
//! Paths follow §10.3. The graph records relationships per node template, not per node
//! representation, so a relationship of representation `i` of its source is taken to reach
//! representation `i % count` of its target, and incoming relationships (`CAPABILITY, c,
//! RELATIONSHIP`) are read as coming from representation 0 of their source.

use crate::model::{Capability, Expr, Function, Node, Relationship, ServiceGraph};
use khutulun_tosca::builtins::{self, Kind, Typed};
use khutulun_tosca::path::{self, EntityKind, Index, PathArg, Start, Step};
use serde_json::Value;

/// Custom functions (§10.4) the orchestrator implements, e.g. with Wasm plugins.
pub trait CustomFunctions {
    /// Calls `name` (as the template writes it, without `$`) with its evaluated arguments.
    /// `declared` is the graph's declaration when the template declares the function.
    /// None: this function is unknown here.
    fn call(
        &self,
        name: &str,
        declared: Option<&Function>,
        args: &[Value],
    ) -> Option<Result<Value, String>>;
}

/// No custom functions: every call of one stays deferred at instantiation and is an error at
/// run time.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFunctions;

impl CustomFunctions for NoFunctions {
    fn call(&self, _: &str, _: Option<&Function>, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// The runtime state the orchestrator keeps for attributes. Returns None for an attribute
/// that has no runtime value (yet).
pub trait RuntimeAttributes {
    fn node_attribute(&self, node: &str, index: u32, name: &str) -> Option<Value>;
    fn capability_attribute(
        &self,
        node: &str,
        index: u32,
        capability: &str,
        name: &str,
    ) -> Option<Value>;
    fn relationship_attribute(
        &self,
        source: &str,
        index: u32,
        requirement: &str,
        rel_index: u32,
        name: &str,
    ) -> Option<Value>;
}

/// No runtime state: every attribute has its value from the graph.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRuntime;

impl RuntimeAttributes for NoRuntime {
    fn node_attribute(&self, _: &str, _: u32, _: &str) -> Option<Value> {
        None
    }
    fn capability_attribute(&self, _: &str, _: u32, _: &str, _: &str) -> Option<Value> {
        None
    }
    fn relationship_attribute(&self, _: &str, _: u32, _: &str, _: u32, _: &str) -> Option<Value> {
        None
    }
}

/// Where an expression is evaluated: what SELF is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalContext {
    /// No SELF (outputs).
    None,
    /// A node representation: the node template and the representation's index.
    Node { node: String, index: u32 },
    /// A relationship: its source representation, its requirement, and its index among the
    /// relationships of that requirement.
    Relationship {
        source: String,
        index: u32,
        requirement: String,
        rel_index: u32,
    },
}

impl EvalContext {
    pub fn node(node: impl Into<String>, index: u32) -> Self {
        EvalContext::Node {
            node: node.into(),
            index,
        }
    }

    pub fn relationship(
        source: impl Into<String>,
        index: u32,
        requirement: impl Into<String>,
        rel_index: u32,
    ) -> Self {
        EvalContext::Relationship {
            source: source.into(),
            index,
            requirement: requirement.into(),
            rel_index,
        }
    }
}

/// Why an expression could not be evaluated: the function, its arguments, what was missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// The function that failed, without `$`.
    pub function: String,
    pub message: String,
}

/// Evaluates `expr` with the runtime state. Every function is computed; a function this
/// evaluator does not implement yet is an error.
pub fn evaluate(
    graph: &ServiceGraph,
    expr: &Expr,
    context: &EvalContext,
    runtime: &dyn RuntimeAttributes,
) -> Result<Value, EvalError> {
    evaluate_with(graph, expr, context, runtime, &NoFunctions)
}

/// [`evaluate`], with custom functions computed by `functions`. A custom function that
/// `functions` does not know is an error; one that fails is an error naming it.
pub fn evaluate_with(
    graph: &ServiceGraph,
    expr: &Expr,
    context: &EvalContext,
    runtime: &dyn RuntimeAttributes,
    functions: &dyn CustomFunctions,
) -> Result<Value, EvalError> {
    let evaluator = Evaluator {
        graph,
        runtime: Some(runtime),
        functions,
    };
    match evaluator.eval(expr, context, 0)? {
        Outcome::Value(value) => Ok(value),
        Outcome::Deferred(Expr::Call { function, .. }) => Err(EvalError {
            message: format!("${function} cannot be evaluated yet: it is not implemented"),
            function,
        }),
        Outcome::Deferred(_) => Err(EvalError {
            function: String::new(),
            message: "the value holds a function that is not implemented".to_string(),
        }),
    }
}

/// Evaluates what can be known without runtime state; returns a value, or an expression
/// still holding calls for run time.
pub(crate) fn partial(
    graph: &ServiceGraph,
    expr: &Expr,
    context: &EvalContext,
    functions: &dyn CustomFunctions,
) -> Result<Expr, EvalError> {
    let evaluator = Evaluator {
        graph,
        runtime: None,
        functions,
    };
    Ok(match evaluator.eval(expr, context, 0)? {
        Outcome::Value(value) => Expr::Value(value),
        Outcome::Deferred(expr) => expr,
    })
}

enum Outcome {
    Value(Value),
    /// Only known at run time.
    Deferred(Expr),
}

impl Outcome {
    fn into_expr(self) -> Expr {
        match self {
            Outcome::Value(value) => Expr::Value(value),
            Outcome::Deferred(expr) => expr,
        }
    }
}

/// Guards against properties that refer to each other in a cycle.
const MAX_DEPTH: usize = 32;

struct Evaluator<'a> {
    graph: &'a ServiceGraph,
    /// None at instantiation.
    runtime: Option<&'a dyn RuntimeAttributes>,
    functions: &'a dyn CustomFunctions,
}

/// A representation a path reached.
#[derive(Clone, Copy)]
enum Entity<'g> {
    Node {
        node: &'g Node,
        index: u32,
    },
    Capability {
        node: &'g Node,
        index: u32,
        name: &'g str,
        capability: &'g Capability,
    },
    Relationship {
        relationship: &'g Relationship,
        index: u32,
        rel_index: u32,
    },
}

fn error(function: &str, message: impl Into<String>) -> EvalError {
    EvalError {
        function: function.to_string(),
        message: message.into(),
    }
}

/// `[a, CAPABILITY, b, c]` for messages.
fn show_args(args: &[Value]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    format!("[ {} ]", parts.join(", "))
}

impl<'g> Evaluator<'g> {
    fn eval(&self, expr: &Expr, context: &EvalContext, depth: usize) -> Result<Outcome, EvalError> {
        if depth > MAX_DEPTH {
            return Err(error(
                "get_property",
                "properties refer to each other too deeply (is there a cycle of $get_property?)",
            ));
        }
        match expr {
            Expr::Value(value) => Ok(Outcome::Value(value.clone())),
            Expr::List(items) => {
                let outcomes = items
                    .iter()
                    .map(|item| self.eval(item, context, depth))
                    .collect::<Result<Vec<_>, _>>()?;
                if outcomes.iter().all(|o| matches!(o, Outcome::Value(_))) {
                    Ok(Outcome::Value(Value::Array(
                        outcomes
                            .into_iter()
                            .map(|o| match o {
                                Outcome::Value(v) => v,
                                Outcome::Deferred(_) => unreachable!(),
                            })
                            .collect(),
                    )))
                } else {
                    Ok(Outcome::Deferred(Expr::List(
                        outcomes.into_iter().map(Outcome::into_expr).collect(),
                    )))
                }
            }
            Expr::Map(entries) => {
                let mut values = serde_json::Map::new();
                let mut exprs = std::collections::BTreeMap::new();
                let mut deferred = false;
                for (key, item) in entries {
                    match self.eval(item, context, depth)? {
                        Outcome::Value(v) => {
                            values.insert(key.clone(), v.clone());
                            exprs.insert(key.clone(), Expr::Value(v));
                        }
                        Outcome::Deferred(e) => {
                            deferred = true;
                            exprs.insert(key.clone(), e);
                        }
                    }
                }
                Ok(if deferred {
                    Outcome::Deferred(Expr::Map(exprs))
                } else {
                    Outcome::Value(Value::Object(values))
                })
            }
            Expr::Call { function, args } => self.call(function, args, context, depth),
        }
    }

    fn call(
        &self,
        function: &str,
        args: &[Expr],
        context: &EvalContext,
        depth: usize,
    ) -> Result<Outcome, EvalError> {
        if function == "get_attribute" && self.runtime.is_none() {
            return Ok(Outcome::Deferred(Expr::Call {
                function: function.to_string(),
                args: args.to_vec(),
            }));
        }
        // Arguments first; any that is only known at run time defers the call.
        let mut values = Vec::with_capacity(args.len());
        let mut deferred = false;
        let mut partial_args = Vec::with_capacity(args.len());
        for arg in args {
            match self.eval(arg, context, depth)? {
                Outcome::Value(v) => {
                    if let Some(decided) = builtins::decides(function, &v) {
                        return Ok(Outcome::Value(decided));
                    }
                    partial_args.push(Expr::Value(v.clone()));
                    values.push(v);
                }
                Outcome::Deferred(e) => {
                    deferred = true;
                    partial_args.push(e);
                }
            }
        }
        let defer = || {
            Ok(Outcome::Deferred(Expr::Call {
                function: function.to_string(),
                args: partial_args.clone(),
            }))
        };
        if deferred {
            return defer();
        }
        if !khutulun_tosca::functions::is_builtin(function) {
            let declared = self.graph.functions.get(function);
            match self.functions.call(function, declared, &values) {
                Some(Ok(value)) => return Ok(Outcome::Value(value)),
                Some(Err(message)) => {
                    return Err(error(function, format!("${function} failed: {message}")))
                }
                None => {}
            }
        }
        match function {
            "get_input" => self.get_input(&values).map(Outcome::Value),
            "get_property" => self.get_value(function, &values, context, depth, false),
            "get_attribute" => self.get_value(function, &values, context, depth, true),
            _ if builtins::computes(function) => {
                // Null here is most often an attribute that has no value yet.
                let hint = if values.iter().any(Value::is_null) {
                    " (an attribute without a value yet?)"
                } else {
                    ""
                };
                let args: Vec<Typed> = values
                    .into_iter()
                    .zip(args)
                    .map(|(value, arg)| Typed {
                        value,
                        kind: self.kind_of(arg, context),
                    })
                    .collect();
                builtins::call(function, &args)
                    .map(Outcome::Value)
                    .map_err(|message| error(function, format!("{message}{hint}")))
            }
            "node_index" => match context {
                EvalContext::Node { index, .. } | EvalContext::Relationship { index, .. } => {
                    Ok(Outcome::Value(Value::from(*index)))
                }
                EvalContext::None => Err(error(function, "$node_index is used outside a node")),
            },
            "relationship_index" => match context {
                EvalContext::Relationship { rel_index, .. } => {
                    Ok(Outcome::Value(Value::from(*rel_index)))
                }
                _ => Err(error(
                    function,
                    "$relationship_index is used outside a relationship",
                )),
            },
            // Not implemented yet: kept for run time, where it is an error.
            _ if self.runtime.is_none() => defer(),
            _ => Err(error(
                function,
                format!("${function} is not implemented yet"),
            )),
        }
    }

    /// The kind of the value of `arg` when it reads an input, property or attribute whose
    /// declared type compares specially (not of entries inside one, nor of lists from `ALL`).
    fn kind_of(&self, arg: &Expr, context: &EvalContext) -> Option<Kind> {
        let Expr::Call { function, args } = arg else {
            return None;
        };
        let args: Vec<Value> = args
            .iter()
            .map(|a| match a {
                Expr::Value(v) => Some(v.clone()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match (function.as_str(), args.as_slice()) {
            ("get_input", [Value::String(name)]) => self.graph.input_kinds.get(name).cloned(),
            ("get_property" | "get_attribute", _) => {
                let parsed = parse_path(&args, context).ok()?;
                let Some([Value::String(name)]) = args.get(parsed.consumed..) else {
                    return None;
                };
                let (entities, many) = self.resolve(&parsed, context, function, "").ok()?;
                match (entities.as_slice(), many) {
                    ([entity], false) => self.kinds(*entity).get(name).cloned(),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn kinds(&self, entity: Entity<'g>) -> &'g std::collections::BTreeMap<String, Kind> {
        match entity {
            Entity::Node { node, .. } => &node.kinds,
            Entity::Capability { capability, .. } => &capability.kinds,
            Entity::Relationship { relationship, .. } => &relationship.kinds,
        }
    }

    fn get_input(&self, args: &[Value]) -> Result<Value, EvalError> {
        let Some(Value::String(name)) = args.first() else {
            return Err(error("get_input", "$get_input needs an input name first"));
        };
        let Some(value) = self.graph.inputs.get(name) else {
            return Err(error(
                "get_input",
                format!("$get_input: input \"{name}\" has no value (it is not required and was not given)"),
            ));
        };
        navigate(value, &args[1..], "get_input", &format!("input \"{name}\""))
    }

    /// `$get_property` / `$get_attribute`.
    fn get_value(
        &self,
        function: &str,
        args: &[Value],
        context: &EvalContext,
        depth: usize,
        attribute: bool,
    ) -> Result<Outcome, EvalError> {
        let shown = format!("${function} {}", show_args(args));
        let parsed = parse_path(args, context)
            .map_err(|message| error(function, format!("{shown}: {message}")))?;
        let Some(Value::String(name)) = args.get(parsed.consumed) else {
            return Err(error(
                function,
                format!(
                    "{shown}: the name of a {} must follow the path",
                    if attribute { "attribute" } else { "property" }
                ),
            ));
        };
        let nested = &args[parsed.consumed + 1..];
        let (entities, many) = self.resolve(&parsed, context, function, &shown)?;
        let mut results = Vec::with_capacity(entities.len());
        for entity in entities {
            let outcome = if attribute {
                self.attribute_of(entity, name, &shown, depth)?
            } else {
                self.property_of(entity, name, &shown, depth)?
            };
            match outcome {
                Outcome::Value(value) => results.push(navigate(&value, nested, function, &shown)?),
                // The property holds something only known at run time: keep the call.
                Outcome::Deferred(_) => {
                    return Ok(Outcome::Deferred(Expr::Call {
                        function: function.to_string(),
                        args: args.iter().cloned().map(Expr::Value).collect(),
                    }))
                }
            }
        }
        Ok(Outcome::Value(if many {
            Value::Array(results)
        } else {
            results.pop().unwrap_or(Value::Null)
        }))
    }

    /// The representations a path reaches, and whether ALL was used (a list results).
    fn resolve(
        &self,
        parsed: &path::ToscaPath,
        context: &EvalContext,
        function: &str,
        shown: &str,
    ) -> Result<(Vec<Entity<'g>>, bool), EvalError> {
        let fail = |message: String| error(function, format!("{shown}: {message}"));
        let mut many = false;
        let mut entities: Vec<Entity<'g>> = match (&parsed.start, context) {
            (Start::SelfEntity, EvalContext::Node { node, index }) => {
                let node = self.graph.node(node).ok_or_else(|| {
                    fail(format!(
                        "SELF is node \"{node}\", which is not in the graph"
                    ))
                })?;
                vec![Entity::Node {
                    node,
                    index: *index,
                }]
            }
            (
                Start::SelfEntity,
                EvalContext::Relationship {
                    source,
                    index,
                    requirement,
                    rel_index,
                },
            ) => {
                let relationship = self
                    .graph
                    .relationships
                    .iter()
                    .filter(|r| &r.source == source && &r.requirement == requirement)
                    .nth(*rel_index as usize)
                    .ok_or_else(|| {
                        fail(format!(
                            "SELF is relationship {rel_index} of requirement \"{requirement}\" of node \"{source}\", which is not in the graph"
                        ))
                    })?;
                vec![Entity::Relationship {
                    relationship,
                    index: *index,
                    rel_index: *rel_index,
                }]
            }
            (Start::SelfEntity, EvalContext::None) => {
                return Err(fail(
                    "SELF is used where there is no node or relationship".into(),
                ))
            }
            (Start::Node(name), _) => {
                let node = self
                    .graph
                    .node(name)
                    .ok_or_else(|| fail(format!("there is no node template \"{name}\"")))?;
                let indexes: Vec<u32> = match parsed.node_index {
                    Index::All => {
                        many = true;
                        (0..node.count).collect()
                    }
                    single => {
                        let i = single.single().unwrap_or(0);
                        let i = u32::try_from(i).unwrap_or(u32::MAX);
                        if i >= node.count.max(1) {
                            return Err(fail(format!(
                                "node template \"{name}\" has {} representation(s), so there is no index {i}",
                                node.count
                            )));
                        }
                        vec![i]
                    }
                };
                indexes
                    .into_iter()
                    .map(|index| Entity::Node { node, index })
                    .collect()
            }
        };
        for step in &parsed.steps {
            let mut next = Vec::new();
            for entity in entities {
                match (entity, step) {
                    (
                        Entity::Node { node, index },
                        Step::Relationship {
                            requirement,
                            index: which,
                        },
                    ) => {
                        let relationships: Vec<&Relationship> = self
                            .graph
                            .relationships
                            .iter()
                            .filter(|r| r.source == node.name && &r.requirement == requirement)
                            .collect();
                        let picked = pick_indexes(which, relationships.len(), &mut many);
                        for k in picked {
                            let relationship = relationships.get(k).ok_or_else(|| {
                                fail(format!(
                                    "node \"{}\" has {} relationship(s) for requirement \"{requirement}\", so there is no index {k}",
                                    node.name,
                                    relationships.len()
                                ))
                            })?;
                            next.push(Entity::Relationship {
                                relationship,
                                index,
                                rel_index: k as u32,
                            });
                        }
                    }
                    (Entity::Node { node, index }, Step::Capability(name)) => {
                        let (name, capability) =
                            node.capabilities.get_key_value(name).ok_or_else(|| {
                                fail(format!(
                                    "node \"{}\" has no capability \"{name}\"",
                                    node.name
                                ))
                            })?;
                        next.push(Entity::Capability {
                            node,
                            index,
                            name,
                            capability,
                        });
                    }
                    (
                        Entity::Relationship {
                            relationship,
                            index,
                            ..
                        },
                        Step::Source,
                    ) => {
                        next.push(Entity::Node {
                            node: self.node(&relationship.source, &fail)?,
                            index,
                        });
                    }
                    (
                        Entity::Relationship {
                            relationship,
                            index,
                            ..
                        },
                        Step::Target,
                    ) => {
                        let node = self.node(&relationship.target, &fail)?;
                        next.push(Entity::Node {
                            node,
                            index: index % node.count.max(1),
                        });
                    }
                    (
                        Entity::Relationship {
                            relationship,
                            index,
                            ..
                        },
                        Step::TargetCapability,
                    ) => {
                        let node = self.node(&relationship.target, &fail)?;
                        let (name, capability) = node
                            .capabilities
                            .get_key_value(&relationship.capability)
                            .ok_or_else(|| {
                                fail(format!(
                                    "node \"{}\" has no capability \"{}\"",
                                    node.name, relationship.capability
                                ))
                            })?;
                        next.push(Entity::Capability {
                            node,
                            index: index % node.count.max(1),
                            name,
                            capability,
                        });
                    }
                    (Entity::Capability { node, name, .. }, Step::Incoming(which)) => {
                        let incoming: Vec<&Relationship> = self
                            .graph
                            .relationships
                            .iter()
                            .filter(|r| r.target == node.name && r.capability == name)
                            .collect();
                        let picked = pick_indexes(which, incoming.len(), &mut many);
                        for k in picked {
                            let relationship = incoming.get(k).ok_or_else(|| {
                                fail(format!(
                                    "capability \"{name}\" of node \"{}\" has {} incoming relationship(s), so there is no index {k}",
                                    node.name,
                                    incoming.len()
                                ))
                            })?;
                            let rel_index = self
                                .graph
                                .relationships
                                .iter()
                                .filter(|r| {
                                    r.source == relationship.source
                                        && r.requirement == relationship.requirement
                                })
                                .position(|r| std::ptr::eq(r, *relationship))
                                .unwrap_or(0) as u32;
                            next.push(Entity::Relationship {
                                relationship,
                                index: 0,
                                rel_index,
                            });
                        }
                    }
                    _ => return Err(fail("the path does not fit the graph".into())),
                }
            }
            entities = next;
        }
        Ok((entities, many))
    }

    fn node(&self, name: &str, fail: &dyn Fn(String) -> EvalError) -> Result<&'g Node, EvalError> {
        self.graph
            .node(name)
            .ok_or_else(|| fail(format!("there is no node template \"{name}\"")))
    }

    fn property_of(
        &self,
        entity: Entity<'g>,
        name: &str,
        shown: &str,
        depth: usize,
    ) -> Result<Outcome, EvalError> {
        let (properties, context, what) = self.parts(entity, false);
        match properties.get(name) {
            Some(expr) => self.eval(expr, &context, depth + 1),
            None => Err(error(
                "get_property",
                format!("{shown}: {what} has no property \"{name}\" with a value"),
            )),
        }
    }

    fn attribute_of(
        &self,
        entity: Entity<'g>,
        name: &str,
        shown: &str,
        depth: usize,
    ) -> Result<Outcome, EvalError> {
        if let Some(runtime) = self.runtime {
            let value = match entity {
                Entity::Node { node, index } => runtime.node_attribute(&node.name, index, name),
                Entity::Capability {
                    node,
                    index,
                    name: capability,
                    ..
                } => runtime.capability_attribute(&node.name, index, capability, name),
                Entity::Relationship {
                    relationship,
                    index,
                    rel_index,
                } => runtime.relationship_attribute(
                    &relationship.source,
                    index,
                    &relationship.requirement,
                    rel_index,
                    name,
                ),
            };
            if let Some(value) = value {
                return Ok(Outcome::Value(value));
            }
        }
        let (attributes, context, what) = self.parts(entity, true);
        if let Some(expr) = attributes.get(name) {
            return self.eval(expr, &context, depth + 1);
        }
        // A property not declared as an attribute too is reflected as one (§9.6).
        let (properties, _, _) = self.parts(entity, false);
        match properties.get(name) {
            Some(expr) => self.eval(expr, &context, depth + 1),
            None => Err(error(
                "get_attribute",
                format!("{shown}: {what} has no attribute or property \"{name}\""),
            )),
        }
    }

    /// The properties or attributes of an entity, the context to evaluate them in, and a name.
    fn parts(
        &self,
        entity: Entity<'g>,
        attributes: bool,
    ) -> (
        &'g std::collections::BTreeMap<String, Expr>,
        EvalContext,
        String,
    ) {
        match entity {
            Entity::Node { node, index } => (
                if attributes {
                    &node.attributes
                } else {
                    &node.properties
                },
                EvalContext::node(&node.name, index),
                format!("node \"{}\"", node.name),
            ),
            Entity::Capability {
                node,
                index,
                name,
                capability,
            } => (
                if attributes {
                    &capability.attributes
                } else {
                    &capability.properties
                },
                EvalContext::node(&node.name, index),
                format!("capability \"{name}\" of node \"{}\"", node.name),
            ),
            Entity::Relationship {
                relationship,
                index,
                rel_index,
            } => (
                if attributes {
                    &relationship.attributes
                } else {
                    &relationship.properties
                },
                EvalContext::relationship(
                    &relationship.source,
                    index,
                    &relationship.requirement,
                    rel_index,
                ),
                format!(
                    "the relationship of requirement \"{}\" of node \"{}\"",
                    relationship.requirement, relationship.source
                ),
            ),
        }
    }
}

/// The TOSCA path at the start of the arguments of `$get_property` / `$get_attribute`.
fn parse_path(args: &[Value], context: &EvalContext) -> Result<path::ToscaPath, String> {
    let path_args: Vec<PathArg> = args
        .iter()
        .map(|a| match a {
            Value::String(s) => PathArg::Str(s),
            Value::Number(n) => n.as_i64().map(PathArg::Int).unwrap_or(PathArg::Other),
            _ => PathArg::Other,
        })
        .collect();
    let self_kind = match context {
        EvalContext::None => None,
        EvalContext::Node { .. } => Some(EntityKind::Node),
        EvalContext::Relationship { .. } => Some(EntityKind::Relationship),
    };
    path::parse(&path_args, self_kind)
}

/// Follows nested keys and indexes into a value.
fn navigate(value: &Value, keys: &[Value], function: &str, what: &str) -> Result<Value, EvalError> {
    let mut current = value;
    for key in keys {
        let next = match (current, key) {
            (Value::Object(map), Value::String(k)) => map.get(k),
            (Value::Array(items), Value::Number(n)) => {
                n.as_u64().and_then(|i| items.get(i as usize))
            }
            _ => None,
        };
        current = next.ok_or_else(|| {
            error(
                function,
                format!("${function}: {what} has no entry {key} (in {current})"),
            )
        })?;
    }
    Ok(current.clone())
}

/// The positions an index of a TOSCA path selects among `len` candidates: all of them for
/// `ALL` (which makes the result a list), else the one given (0 when none is).
fn pick_indexes(which: &Index, len: usize, many: &mut bool) -> Vec<usize> {
    match which {
        Index::All => {
            *many = true;
            (0..len).collect()
        }
        single => vec![single.single().unwrap_or(0) as usize],
    }
}
