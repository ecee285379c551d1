//! The compiled, resolved service template: what [`crate::compile`] returns.
//!
//! Types are resolved and flattened into each template (a node template lists its type and
//! every ancestor, and carries every property that has a value), values are expressions that
//! may hold function calls, and requirements are fulfilled (each names its target node
//! template and capability). Positions are kept where later stages report errors.

use crate::diagnostic::{Diagnostic, Location};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A value that may hold function calls, with the place every part of it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub location: Location,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    List(Vec<Expr>),
    /// Entries in the order they were written.
    Map(Vec<(String, Expr)>),
    Call(Call),
}

/// A function call: `function` is the name without `$` (and without a `$n` key suffix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub function: String,
    pub args: Vec<Expr>,
}

impl Expr {
    pub fn new(location: Location, kind: ExprKind) -> Self {
        Expr { location, kind }
    }

    /// True when a function call occurs anywhere in this value.
    pub fn has_call(&self) -> bool {
        match &self.kind {
            ExprKind::Call(_) => true,
            ExprKind::List(items) => items.iter().any(Expr::has_call),
            ExprKind::Map(entries) => entries.iter().any(|(_, v)| v.has_call()),
            _ => false,
        }
    }

    pub fn as_call(&self) -> Option<&Call> {
        match &self.kind {
            ExprKind::Call(call) => Some(call),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The plain data of this value, or None when it holds a function call.
    pub fn to_json(&self) -> Option<Value> {
        Some(match &self.kind {
            ExprKind::Null => Value::Null,
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Integer(i) => Value::from(*i),
            ExprKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            ExprKind::String(s) => Value::String(s.clone()),
            ExprKind::List(items) => {
                Value::Array(items.iter().map(Expr::to_json).collect::<Option<_>>()?)
            }
            ExprKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.to_json()?)))
                    .collect::<Option<_>>()?,
            ),
            ExprKind::Call(_) => return None,
        })
    }

    /// Plain data as an expression; every part gets `location`.
    pub fn from_json(value: &Value, location: &Location) -> Expr {
        let kind = match value {
            Value::Null => ExprKind::Null,
            Value::Bool(b) => ExprKind::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ExprKind::Integer(i),
                None => ExprKind::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => ExprKind::String(s.clone()),
            Value::Array(items) => {
                ExprKind::List(items.iter().map(|v| Expr::from_json(v, location)).collect())
            }
            Value::Object(entries) => ExprKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Expr::from_json(v, location)))
                    .collect(),
            ),
        };
        Expr::new(location.clone(), kind)
    }

    /// Calls every function call in this value (outer calls before the calls in their
    /// arguments).
    pub fn visit_calls<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr, &'a Call)) {
        match &self.kind {
            ExprKind::Call(call) => {
                visit(self, call);
                for arg in &call.args {
                    arg.visit_calls(visit);
                }
            }
            ExprKind::List(items) => items.iter().for_each(|i| i.visit_calls(visit)),
            ExprKind::Map(entries) => entries.iter().for_each(|(_, v)| v.visit_calls(visit)),
            _ => {}
        }
    }

    /// A short description for messages: the kind, with the value when it is short.
    pub fn describe(&self) -> String {
        match &self.kind {
            ExprKind::Null => "null".to_string(),
            ExprKind::Bool(b) => format!("boolean {b}"),
            ExprKind::Integer(i) => format!("integer {i}"),
            ExprKind::Float(f) => format!("float {f}"),
            ExprKind::String(s) if s.chars().count() <= 40 => format!("string \"{s}\""),
            ExprKind::String(_) => "a string".to_string(),
            ExprKind::List(_) => "a list".to_string(),
            ExprKind::Map(_) => "a map".to_string(),
            ExprKind::Call(call) => format!("a call to ${}", call.function),
        }
    }
}

/// A type as templates see it: its name where it was defined and the profile that defined it
/// (None for types from plain files).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TypeName {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The TOSCA built-in data types (§9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    String,
    Integer,
    Float,
    Boolean,
    Bytes,
    Nil,
    Timestamp,
    Scalar,
    Version,
    List,
    Map,
}

impl Builtin {
    pub const ALL: [Builtin; 11] = [
        Builtin::String,
        Builtin::Integer,
        Builtin::Float,
        Builtin::Boolean,
        Builtin::Bytes,
        Builtin::Nil,
        Builtin::Timestamp,
        Builtin::Scalar,
        Builtin::Version,
        Builtin::List,
        Builtin::Map,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::String => "string",
            Builtin::Integer => "integer",
            Builtin::Float => "float",
            Builtin::Boolean => "boolean",
            Builtin::Bytes => "bytes",
            Builtin::Nil => "nil",
            Builtin::Timestamp => "timestamp",
            Builtin::Scalar => "scalar",
            Builtin::Version => "version",
            Builtin::List => "list",
            Builtin::Map => "map",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// list and map need an entry schema.
    pub fn is_collection(self) -> bool {
        matches!(self, Builtin::List | Builtin::Map)
    }
}

/// A data type reference: a built-in, or an index into [`ServiceTemplate::data_types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataTypeRef {
    Builtin(Builtin),
    Defined(usize),
}

/// The type of a value, with the schemas of its entries and keys (§9.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub data_type: DataTypeRef,
    /// The type's name as written (for messages).
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Box<Schema>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Box<Schema>>,
    /// Validation clauses; not evaluated yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Expr>,
}

/// A resolved user-defined data type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTypeInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<DataTypeRef>,
    /// The built-in type this type derives from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Builtin>,
    /// For complex types: the properties, inherited ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Schema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Schema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<ScalarUnits>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Expr>,
}

/// The units of a scalar type (§9.1.2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalarUnits {
    /// True when the number part is an integer (`data_type: integer`), else float.
    pub integer: bool,
    pub units: Vec<(String, f64)>,
    pub prefixes: Vec<(String, f64)>,
}

/// A property, attribute or parameter definition after inheritance and refinement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDefinition {
    pub name: String,
    pub location: Location,
    /// None only for parameters, whose type is optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Expr>,
    /// A fixed value (`value` keyname), which assignments cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Expr>,
}

/// Input and output parameters use the property definition grammar (§9.8).
pub type ParameterDefinition = PropertyDefinition;

/// The compiled service template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
    /// Where the `service_template` keyname is (the entry file's start when there is none).
    pub location: Location,
    /// Input parameters in the order they were declared.
    pub inputs: Vec<ParameterDefinition>,
    /// Node templates in the order they were declared.
    pub node_templates: Vec<NodeTemplate>,
    /// Output parameters in the order they were declared; `value` holds the expression.
    pub outputs: Vec<ParameterDefinition>,
    /// Groups (§14.2) in the order they were declared; `targets` are their members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupOrPolicy>,
    /// Policies (§14.3) in the order they were declared; `targets` name node templates or
    /// groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<GroupOrPolicy>,
    /// Every data type the schemas above refer to ([`DataTypeRef::Defined`] indexes this).
    pub data_types: Vec<DataTypeInfo>,
    /// The declared functions (§10.4) the entry file sees, by the name templates call them
    /// with (namespace prefix included, no `$`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, FunctionDefinition>,
    /// Warnings of the compile (errors make it fail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Diagnostic>,
}

/// A group or a policy of the service template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOrPolicy {
    pub name: String,
    pub location: Location,
    /// The type first, then its ancestors (empty when the type is unknown, already reported).
    pub types: Vec<TypeName>,
    /// Every property that has a value: assigned or default.
    pub properties: BTreeMap<String, Expr>,
    /// A group's members, or a policy's targets, as written.
    pub targets: Vec<String>,
    /// Policies: the policy type's triggers (ancestors' first), then the policy's own (one of
    /// the same name replaces the type's). Only their `call_operation` activities are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDefinition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTemplate {
    pub name: String,
    pub location: Location,
    /// The node type first, then its ancestors.
    pub types: Vec<TypeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
    /// `create` (the default), `select` or `substitute`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<String>,
    /// Number of node representations (§14.1): an integer, or a function call such as
    /// `$get_input` that instantiation evaluates. 1 unless the template says otherwise.
    pub count: Expr,
    /// Every property that has a value: assigned, fixed (`value`) or default.
    pub properties: BTreeMap<String, Expr>,
    /// Every attribute the type defines, with its assigned or default value when it has one.
    pub attributes: BTreeMap<String, Option<Expr>>,
    /// The kinds (scalar, version, timestamp, bytes) of the properties and attributes whose
    /// declared types compare specially, by name (an attribute's over a property's), so that
    /// deploy-time comparisons compare them as their types say (§9.1.2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, crate::builtins::Kind>,
    pub capabilities: BTreeMap<String, CapabilityTemplate>,
    /// Fulfilled requirements, in assignment order.
    pub requirements: Vec<RequirementTemplate>,
    /// Requirements no node template of this service fulfils (no `node:` named a template and
    /// none fits): valid TOSCA, left to the orchestrator to fulfil at deployment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfulfilled: Vec<UnfulfilledRequirement>,
    /// The interfaces with something to run: the type's definitions merged with the template's
    /// assignments (§11.3, §11.5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, InterfaceTemplate>,
    /// The node's artifacts (§12.2) by symbolic name: its type's (with ancestors') and its
    /// own, which replace the type's of the same name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactTemplate>,
}

/// A requirement left without a target by the compile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnfulfilledRequirement {
    pub name: String,
    pub location: Location,
    /// Why no node template fits, e.g. `no other node template of node type "Compute"`.
    pub reason: String,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapabilityTemplate {
    pub name: String,
    /// The capability type first, then its ancestors.
    pub types: Vec<TypeName>,
    pub properties: BTreeMap<String, Expr>,
    pub attributes: BTreeMap<String, Option<Expr>>,
    /// As for node templates: the kinds of the properties and attributes that compare
    /// specially.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, crate::builtins::Kind>,
}

/// A fulfilled requirement: the source is the node template that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequirementTemplate {
    pub name: String,
    pub location: Location,
    /// The target node template.
    pub target: String,
    /// The target capability's name in the target node template.
    pub capability: String,
    pub relationship: RelationshipTemplate,
    /// How many relationships the assignment asks for (`count`, default 1): an integer or a
    /// function call.
    pub count: Expr,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationshipTemplate {
    /// The relationship type first, then its ancestors.
    pub types: Vec<TypeName>,
    pub properties: BTreeMap<String, Expr>,
    pub attributes: BTreeMap<String, Option<Expr>>,
    /// As for node templates: the kinds of the properties and attributes that compare
    /// specially.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, crate::builtins::Kind>,
    /// As for node templates: the type's interfaces with the assignments of the requirement's
    /// relationship (or of the relationship template it names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, InterfaceTemplate>,
}

/// An interface of a node or relationship template with its runnable operations and
/// notifications (§11.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceTemplate {
    /// The interface type first, then its ancestors.
    pub types: Vec<TypeName>,
    /// Operations that have an implementation (from a type or the template).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationTemplate>,
    /// Notifications that have an implementation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, OperationTemplate>,
}

/// An operation or notification with its implementation, input values and output mappings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationTemplate {
    pub implementation: ImplementationDefinition,
    /// The interface's inputs, then the operation's (which win), each with its assigned value,
    /// else its definition's `value` or default. Inputs without any value are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Expr>,
    /// Output name -> the attribute of SELF it is mapped onto (§11.5). Mappings onto anything
    /// else are left out (with a warning).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
}

/// An implementation (§11.8) with its artifacts resolved: a symbolic name became the node's
/// artifact of that name, any other name a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImplementationDefinition {
    /// Where the implementation is written.
    pub location: Location,
    pub primary: ArtifactTemplate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ArtifactTemplate>,
    /// Seconds the operation may run (`timeout`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// An artifact (§12.2) as the orchestrator uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactTemplate {
    /// The file joined to the directory of the TOSCA file it is written in; as written when it
    /// is a URL (`://`) or an absolute path, or when that TOSCA file is a profile's held in
    /// memory.
    pub file: String,
    /// The artifact type first, then its ancestors; empty for a bare file name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypeName>,
    /// Where the artifact (or the file name) is written.
    pub location: Location,
}

/// A trigger of a policy (§16.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerDefinition {
    pub name: String,
    pub location: Location,
    /// The event's name as written.
    pub event: String,
    /// The condition clause as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    /// The `call_operation` activities of the action, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<CallOperation>,
}

/// A `call_operation` activity (§13.2.3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOperation {
    /// `<interface>.<operation>`.
    pub operation: String,
    pub location: Location,
    /// Input assignments for this call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Expr>,
}

/// A declared function (§10.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// Where the (most specific) definition is written.
    pub location: Location,
    /// The implementation of the first signature that has one; None when none has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<ImplementationDefinition>,
}

impl ServiceTemplate {
    pub fn node_template(&self, name: &str) -> Option<&NodeTemplate> {
        self.node_templates.iter().find(|n| n.name == name)
    }

    pub fn input(&self, name: &str) -> Option<&ParameterDefinition> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Checks a value given for input `name` against the input's type. Each problem is a
    /// diagnostic at the input's definition.
    pub fn check_input_value(&self, name: &str, value: &Value) -> Vec<Diagnostic> {
        let Some(input) = self.input(name) else {
            return Vec::new();
        };
        let Some(schema) = &input.schema else {
            return Vec::new();
        };
        let expr = Expr::from_json(value, &input.location);
        let mut problems = Vec::new();
        crate::values::check(
            &expr,
            schema,
            &self.data_types,
            &format!("input \"{name}\""),
            &mut problems,
        );
        problems
            .into_iter()
            .map(|p| Diagnostic::error(&p.location, p.message))
            .collect()
    }
}
