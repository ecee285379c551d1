//! The representation graph of one deployed service revision.
//!
//! This is what `revisions/<n>/graph.json` holds: the compiled template instantiated with
//! concrete inputs. It is immutable once written. Values that can only be known at run time
//! (`$get_attribute`, anything built on it) stay as [`Expr::Call`] and are evaluated against
//! the runtime state when needed (see `eval`).

use khutulun_tosca::builtins::Kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A TOSCA type as the graph knows it: its name and the profile that defined it, if any.
/// The profile lets the orchestrator recognise its own types (e.g. the Khutulun `Process`)
/// however the user's template named or namespaced the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A value that may still contain function calls to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A plain value (no function call anywhere inside).
    Value(Value),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    /// A function call such as `$get_attribute` or `$concat`; `function` is without the `$`.
    Call {
        function: String,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceGraph {
    /// Every input with the value it got (given or default).
    pub inputs: BTreeMap<String, Value>,
    /// Node templates in the order the template declares them.
    pub nodes: Vec<Node>,
    /// Every fulfilled requirement.
    pub relationships: Vec<Relationship>,
    pub outputs: BTreeMap<String, Output>,
    /// The template's policies, with group targets replaced by the groups' member nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
    /// Declared functions (§10.4) whose signatures name an implementation, by the name
    /// templates call them with (namespace prefix included, no `$`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Function>,
    /// The kinds of the inputs whose declared types compare specially (scalar, version,
    /// timestamp, bytes), by name: built-in functions compare their values by them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_kinds: BTreeMap<String, Kind>,
}

/// A declared custom function the orchestrator implements with a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// The implementation of the first signature that names one. `None` when no signature
    /// does: the function must then come from a registered plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
}

/// An interface of a node or relationship (§11.3): its operations and notifications with
/// their implementations and inputs, type definitions and template assignments merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// The interface's type first, then its ancestors (e.g. `Standard`, `Lifecycle`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypeRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, Operation>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, Operation>,
}

/// An operation or notification as the orchestrator runs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// None when neither the types nor the template gave one: there is nothing to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
    /// The interface's inputs, then the operation's (which win), each with its assigned or
    /// default value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Expr>,
    /// Output name -> the attribute of SELF it is mapped onto (§11.5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// Seconds the operation may run (the implementation's `timeout`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// An operation's implementation (§11.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    pub primary: Artifact,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Artifact>,
}

/// An artifact (§12.2): a file of the deployed package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The path relative to the package root (the TOSCA file's own directory resolved), or
    /// as written when it is a URL or an absolute path.
    pub file: String,
    /// The artifact's type first, then its ancestors; empty when none was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypeRef>,
}

/// A policy trigger (§16.5): when `event` happens to a target and `condition` holds, the
/// actions run in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    pub actions: Vec<Action>,
}

/// An activity of a trigger's action. Only `call_operation` is run by Khutulun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `<interface>.<operation>` of the target, with input assignments that override the
    /// template's for this call.
    CallOperation {
        operation: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        inputs: BTreeMap<String, Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// The policy's type first, then its ancestors.
    pub types: Vec<TypeRef>,
    pub properties: BTreeMap<String, Expr>,
    /// Names of the node templates the policy applies to, each once, in the order written.
    pub targets: Vec<String>,
    /// The policy's triggers: the type's, then the template's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
}

impl Policy {
    pub fn is_a(&self, profile_prefix: &str, name: &str) -> bool {
        self.types.iter().any(|t| t.is(profile_prefix, name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The node template's name.
    pub name: String,
    /// The node's type first, then its ancestors up to the root.
    pub types: Vec<TypeRef>,
    /// Number of node representations (TOSCA `count`), 1 unless the template says otherwise.
    pub count: u32,
    /// Every property the type defines that has a value (assigned or default).
    pub properties: BTreeMap<String, Expr>,
    /// Every attribute the type defines, with its default or assigned value when it has one,
    /// `Expr::Value(Value::Null)` when it has neither.
    pub attributes: BTreeMap<String, Expr>,
    /// The kinds of the properties and attributes whose declared types compare specially,
    /// by name (see `khutulun_tosca::NodeTemplate::kinds`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, Kind>,
    pub capabilities: BTreeMap<String, Capability>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, Interface>,
    /// The node's artifacts (its type's and its template's) by symbolic name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, Artifact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    /// The capability's type first, then its ancestors.
    pub types: Vec<TypeRef>,
    pub properties: BTreeMap<String, Expr>,
    pub attributes: BTreeMap<String, Expr>,
    /// The kinds of the properties and attributes whose declared types compare specially,
    /// by name (see `khutulun_tosca::NodeTemplate::kinds`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, Kind>,
}

/// A fulfilled requirement: an edge from `source` to a capability of `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    pub source: String,
    /// The requirement's name in the source node.
    pub requirement: String,
    pub target: String,
    /// The capability's name in the target node.
    pub capability: String,
    /// The relationship's type first, then its ancestors.
    pub types: Vec<TypeRef>,
    pub properties: BTreeMap<String, Expr>,
    pub attributes: BTreeMap<String, Expr>,
    /// The kinds of the properties and attributes whose declared types compare specially,
    /// by name (see `khutulun_tosca::NodeTemplate::kinds`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, Kind>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, Interface>,
}

impl TypeRef {
    /// True when this is the type `name` from a profile whose name starts with `profile_prefix`.
    pub fn is(&self, profile_prefix: &str, name: &str) -> bool {
        self.name == name
            && self
                .profile
                .as_deref()
                .is_some_and(|p| p.starts_with(profile_prefix))
    }
}

impl Node {
    /// True when the node's type is, or derives from, `name` of the given profile.
    pub fn is_a(&self, profile_prefix: &str, name: &str) -> bool {
        self.types.iter().any(|t| t.is(profile_prefix, name))
    }
}

impl Capability {
    pub fn is_a(&self, profile_prefix: &str, name: &str) -> bool {
        self.types.iter().any(|t| t.is(profile_prefix, name))
    }
}

impl Relationship {
    pub fn is_a(&self, profile_prefix: &str, name: &str) -> bool {
        self.types.iter().any(|t| t.is(profile_prefix, name))
    }
}

impl Interface {
    /// The operation `name`, if the interface defines it.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }
}

impl Node {
    /// The operation `interface.operation` (interface by name, or by type name such as
    /// `Standard`), when the node has it.
    pub fn operation(&self, interface: &str, operation: &str) -> Option<&Operation> {
        interface_operation(&self.interfaces, interface, operation)
    }
}

impl Relationship {
    pub fn operation(&self, interface: &str, operation: &str) -> Option<&Operation> {
        interface_operation(&self.interfaces, interface, operation)
    }
}

fn interface_operation<'a>(
    interfaces: &'a BTreeMap<String, Interface>,
    interface: &str,
    operation: &str,
) -> Option<&'a Operation> {
    interfaces
        .get(interface)
        .or_else(|| {
            interfaces
                .values()
                .find(|i| i.types.first().is_some_and(|t| t.name == interface))
        })
        .and_then(|i| i.operation(operation))
}

impl Implementation {
    /// The primary artifact, then the dependencies.
    pub fn artifacts_mut(&mut self) -> impl Iterator<Item = &mut Artifact> {
        std::iter::once(&mut self.primary).chain(self.dependencies.iter_mut())
    }
}

impl Interface {
    /// The implementations of every operation and notification.
    pub fn implementations_mut(&mut self) -> impl Iterator<Item = &mut Implementation> {
        self.operations
            .values_mut()
            .chain(self.notifications.values_mut())
            .filter_map(|o| o.implementation.as_mut())
    }
}

impl ServiceGraph {
    /// Makes every artifact file under `root` relative to it (the package was compiled in one
    /// directory and is kept in another). Other files (URLs, absolute paths elsewhere) stay as
    /// they are. Pure: the file system is not consulted.
    pub fn relativize_artifacts(&mut self, root: &std::path::Path) {
        let relativize = |artifact: &mut Artifact| {
            if let Ok(relative) = std::path::Path::new(&artifact.file).strip_prefix(root) {
                artifact.file = relative.to_string_lossy().into_owned();
            }
        };
        let interfaces = self
            .nodes
            .iter_mut()
            .flat_map(|n| n.interfaces.values_mut())
            .chain(
                self.relationships
                    .iter_mut()
                    .flat_map(|r| r.interfaces.values_mut()),
            );
        for interface in interfaces {
            interface
                .implementations_mut()
                .flat_map(Implementation::artifacts_mut)
                .for_each(relativize);
        }
        for node in &mut self.nodes {
            node.artifacts.values_mut().for_each(relativize);
        }
        self.functions
            .values_mut()
            .filter_map(|f| f.implementation.as_mut())
            .flat_map(Implementation::artifacts_mut)
            .for_each(relativize);
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Relationships whose source is `node`, in requirement order.
    pub fn requirements_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Relationship> {
        self.relationships.iter().filter(move |r| r.source == node)
    }

    /// Relationships whose target is `node`.
    pub fn dependants_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Relationship> {
        self.relationships.iter().filter(move |r| r.target == node)
    }
}
