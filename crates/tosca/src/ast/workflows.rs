//! Workflows (§13), policy triggers (§16.5) and substitution mappings (§15), as written.

use super::{Assignment, Implementation, Named, PropertyDef};
use crate::diagnostic::Location;
use crate::model::Expr;

/// An imperative workflow definition (§13.2).
#[derive(Debug, Clone)]
pub struct WorkflowDef {
    pub name: Named,
    pub inputs: Vec<PropertyDef>,
    pub outputs: Vec<PropertyDef>,
    pub precondition: Option<Expr>,
    pub steps: Vec<StepDef>,
    pub implementation: Option<Implementation>,
}

/// A workflow step (§13.2.2).
#[derive(Debug, Clone)]
pub struct StepDef {
    pub name: Named,
    pub target: Option<Named>,
    pub target_relationship: Option<Named>,
    pub filter: Vec<Expr>,
    pub activities: Vec<Activity>,
    pub on_success: Vec<Named>,
    pub on_failure: Vec<Named>,
}

/// An activity of a workflow step or of a trigger's action (§13.2.3).
#[derive(Debug, Clone)]
pub enum Activity {
    /// The workflow is the orchestrator's (§13.2.3.1).
    Delegate {
        inputs: Vec<Assignment>,
    },
    SetState,
    CallOperation {
        /// `<interface>.<operation>`.
        operation: Named,
        inputs: Vec<Assignment>,
    },
    Inline {
        workflow: Named,
        inputs: Vec<Assignment>,
    },
}

/// A trigger of a policy type or policy (§16.5).
#[derive(Debug, Clone)]
pub struct TriggerDef {
    pub name: Named,
    pub event: Option<Named>,
    pub condition: Option<Expr>,
    pub action: Vec<Activity>,
}

/// The substitution mappings of a service template (§15).
#[derive(Debug, Clone)]
pub struct SubstitutionMappings {
    pub node_type: Option<Named>,
    pub filter: Option<Expr>,
    pub properties: Vec<ValueMapping>,
    pub attributes: Vec<ValueMapping>,
    /// Capability name of the node type, and `[ node_template, capability ]`.
    pub capabilities: Vec<(Named, Option<(Named, Named)>)>,
    pub requirements: Vec<RequirementMapping>,
    /// Interface name, operation name, workflow name.
    pub interfaces: Vec<(Named, Named, Named)>,
}

/// A property mapping (§15.2) or attribute mapping (§15.3): the path of the node type's
/// property or attribute (`[ name ]`, `[ CAPABILITY, cap, name ]` or
/// `[ RELATIONSHIP, req, idx, name ]`) and the input or output it maps to.
#[derive(Debug, Clone)]
pub struct ValueMapping {
    pub location: Location,
    pub path: Vec<String>,
    pub parameter: Named,
}

/// A requirement mapping (§15.5): the node type's requirement, and each target: a node
/// template with one of its requirements, or a selectable node template.
#[derive(Debug, Clone)]
pub struct RequirementMapping {
    pub requirement: Named,
    pub targets: Vec<(Named, Option<Named>)>,
}
