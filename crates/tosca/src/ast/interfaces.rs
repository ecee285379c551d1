//! Interfaces, operations and notifications (§11), their implementations (§11.8), and
//! artifacts (§12.2), as written.

use super::{Assignment, Named, PropertyDef};
use crate::diagnostic::Location;

/// An interface definition (in a node or relationship type, §11.2) or the body of an interface
/// type (§11.1, where `type_name` is None).
#[derive(Debug, Clone, Default)]
pub struct InterfaceDef {
    pub name: Named,
    pub type_name: Option<Named>,
    pub description: Option<String>,
    pub inputs: Vec<PropertyDef>,
    pub operations: Vec<OperationDef>,
    pub notifications: Vec<OperationDef>,
}

/// An operation or notification definition or refinement (§11.4, §11.6).
#[derive(Debug, Clone)]
pub struct OperationDef {
    pub name: Named,
    pub description: Option<String>,
    pub implementation: Option<Implementation>,
    pub inputs: Vec<PropertyDef>,
    pub outputs: Vec<PropertyDef>,
}

/// An operation or notification implementation (§11.8), also the implementation of a function
/// signature (§10.4).
#[derive(Debug, Clone)]
pub struct Implementation {
    pub location: Location,
    pub primary: Option<ArtifactRef>,
    pub dependencies: Vec<ArtifactRef>,
    /// Seconds (`timeout`), when given.
    pub timeout: Option<u64>,
}

/// An artifact named by its symbolic name (or a file), or defined in place.
#[derive(Debug, Clone)]
pub enum ArtifactRef {
    /// A symbolic artifact name of the node, or else a file path.
    Name(Named),
    Inline(Box<ArtifactDef>),
}

/// An artifact definition (§12.2).
#[derive(Debug, Clone)]
pub struct ArtifactDef {
    pub name: Named,
    pub location: Location,
    pub type_name: Option<Named>,
    pub file: Option<Named>,
    pub repository: Option<Named>,
    pub properties: Vec<Assignment>,
}

/// An interface assignment in a node or relationship template (§11.3).
#[derive(Debug, Clone)]
pub struct InterfaceAssignment {
    pub name: Named,
    pub inputs: Vec<Assignment>,
    pub operations: Vec<OperationAssignment>,
    pub notifications: Vec<OperationAssignment>,
}

/// An operation or notification assignment (§11.5, §11.7).
#[derive(Debug, Clone)]
pub struct OperationAssignment {
    pub name: Named,
    pub implementation: Option<Implementation>,
    pub inputs: Vec<Assignment>,
    pub outputs: Vec<Assignment>,
}
