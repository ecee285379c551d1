//! The representation graph of one deployed service revision.
//!
//! This is what `revisions/<n>/graph.json` holds: the compiled template instantiated with
//! concrete inputs. It is immutable once written. Values that can only be known at run time
//! (`$get_attribute`, anything built on it) stay as [`Expr::Call`] and are evaluated against
//! the runtime state when needed (see `eval`).

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// The policy's type first, then its ancestors.
    pub types: Vec<TypeRef>,
    pub properties: BTreeMap<String, Expr>,
    /// Names of the node templates the policy applies to, each once, in the order written.
    pub targets: Vec<String>,
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
    pub capabilities: BTreeMap<String, Capability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    /// The capability's type first, then its ancestors.
    pub types: Vec<TypeRef>,
    pub properties: BTreeMap<String, Expr>,
    pub attributes: BTreeMap<String, Expr>,
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

impl ServiceGraph {
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
