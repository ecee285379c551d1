//! The parsed form of one TOSCA file, before names are resolved.
//!
//! The parser checks the grammar (keynames, shapes of values) and keeps the position of every
//! element; names of types and templates are resolved later, once all imports are loaded.

use crate::diagnostic::Location;
use crate::model::Expr;

mod interfaces;
mod workflows;

pub use interfaces::*;
pub use workflows::*;

/// The eight kinds of TOSCA types (§6.4.3). Each kind has its own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypeKind {
    Artifact,
    Data,
    Capability,
    Interface,
    Relationship,
    Node,
    Group,
    Policy,
}

impl TypeKind {
    pub const ALL: [TypeKind; 8] = [
        TypeKind::Artifact,
        TypeKind::Data,
        TypeKind::Capability,
        TypeKind::Interface,
        TypeKind::Relationship,
        TypeKind::Node,
        TypeKind::Group,
        TypeKind::Policy,
    ];

    /// "node type", "data type", ...
    pub fn label(self) -> &'static str {
        match self {
            TypeKind::Artifact => "artifact type",
            TypeKind::Data => "data type",
            TypeKind::Capability => "capability type",
            TypeKind::Interface => "interface type",
            TypeKind::Relationship => "relationship type",
            TypeKind::Node => "node type",
            TypeKind::Group => "group type",
            TypeKind::Policy => "policy type",
        }
    }

    /// The file keyname that holds types of this kind.
    pub fn keyname(self) -> &'static str {
        match self {
            TypeKind::Artifact => "artifact_types",
            TypeKind::Data => "data_types",
            TypeKind::Capability => "capability_types",
            TypeKind::Interface => "interface_types",
            TypeKind::Relationship => "relationship_types",
            TypeKind::Node => "node_types",
            TypeKind::Group => "group_types",
            TypeKind::Policy => "policy_types",
        }
    }

    pub fn from_keyname(keyname: &str) -> Option<TypeKind> {
        TypeKind::ALL.into_iter().find(|k| k.keyname() == keyname)
    }
}

/// A name as written, with its place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Named {
    pub name: String,
    pub location: Location,
}

#[derive(Debug, Clone, Default)]
pub struct File {
    pub location: Location,
    pub profile: Option<Named>,
    pub imports: Vec<Import>,
    pub types: Vec<TypeDef>,
    pub repositories: Vec<Repository>,
    pub functions: Vec<FunctionDef>,
    pub service_template: Option<ServiceTemplate>,
    /// Every function call written in this file, for the checks of function names and
    /// arguments.
    pub calls: Vec<CallSite>,
}

/// A repository definition (§6.5).
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: Named,
    pub url: Option<Named>,
}

/// A function call as written: its name (without `$`) and arguments.
#[derive(Debug, Clone)]
pub struct CallSite {
    pub name: Named,
    pub args: Vec<Expr>,
}

/// A function definition (§10.4).
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: Named,
    pub signatures: Vec<SignatureDef>,
}

/// One signature of a function definition (§10.4).
#[derive(Debug, Clone)]
pub struct SignatureDef {
    pub arguments: Vec<SchemaDef>,
    pub optional_arguments: Vec<SchemaDef>,
    pub variadic: bool,
    pub result: Option<SchemaDef>,
    /// The implementation (§10.4: the grammar of an operation implementation).
    pub implementation: Option<Implementation>,
}

#[derive(Debug, Clone)]
pub struct Import {
    pub location: Location,
    pub target: ImportTarget,
    pub namespace: Option<Named>,
    pub repository: Option<Named>,
}

#[derive(Debug, Clone)]
pub enum ImportTarget {
    Url(Named),
    Profile(Named),
}

/// A type definition of any kind; fields a kind does not have stay empty.
#[derive(Debug, Clone)]
pub struct TypeDef {
    pub kind: TypeKind,
    pub name: Named,
    pub derived_from: Option<Named>,
    pub description: Option<String>,
    pub properties: Vec<PropertyDef>,
    pub attributes: Vec<PropertyDef>,
    pub capabilities: Vec<CapabilityDef>,
    pub requirements: Vec<RequirementDef>,
    pub interfaces: Vec<InterfaceDef>,
    pub valid_source_node_types: Option<Vec<Named>>,
    pub valid_target_node_types: Option<Vec<Named>>,
    pub valid_capability_types: Option<Vec<Named>>,
    pub valid_relationship_types: Option<Vec<Named>>,
    /// Group types: node types of the members.
    pub members: Option<Vec<Named>>,
    /// Policy types: node or group types of the targets.
    pub targets: Option<Vec<Named>>,
    /// Data types.
    pub key_schema: Option<SchemaDef>,
    pub entry_schema: Option<SchemaDef>,
    pub validation: Option<Expr>,
    pub scalar: Option<ScalarDef>,
    /// Interface types: inputs, operations and notifications (`name` and `type_name` unused).
    pub interface: InterfaceDef,
    /// Node types.
    pub artifacts: Vec<ArtifactDef>,
    /// Artifact types.
    pub mime_type: Option<String>,
    pub file_ext: Option<Vec<Named>>,
    /// Policy types.
    pub triggers: Vec<TriggerDef>,
}

impl TypeDef {
    pub fn new(kind: TypeKind, name: Named) -> Self {
        TypeDef {
            kind,
            name,
            derived_from: None,
            description: None,
            properties: Vec::new(),
            attributes: Vec::new(),
            capabilities: Vec::new(),
            requirements: Vec::new(),
            interfaces: Vec::new(),
            valid_source_node_types: None,
            valid_target_node_types: None,
            valid_capability_types: None,
            valid_relationship_types: None,
            members: None,
            targets: None,
            key_schema: None,
            entry_schema: None,
            validation: None,
            scalar: None,
            interface: InterfaceDef::default(),
            artifacts: Vec::new(),
            mime_type: None,
            file_ext: None,
            triggers: Vec::new(),
        }
    }
}

/// The keynames of a scalar data type (§9.1.2.2).
#[derive(Debug, Clone, Default)]
pub struct ScalarDef {
    pub data_type: Option<Named>,
    pub units: Vec<(String, f64)>,
    pub prefixes: Vec<(String, f64)>,
    pub canonical_unit: Option<Named>,
    pub location: Location,
}

/// A property, attribute or parameter definition (or refinement: most keynames optional).
#[derive(Debug, Clone)]
pub struct PropertyDef {
    pub name: Named,
    pub type_name: Option<Named>,
    pub description: Option<String>,
    pub required: Option<bool>,
    pub default: Option<Expr>,
    pub value: Option<Expr>,
    pub validation: Option<Expr>,
    pub key_schema: Option<SchemaDef>,
    pub entry_schema: Option<SchemaDef>,
    /// Incoming parameters: the attribute the value is stored in (§9.8).
    pub mapping: Option<Expr>,
    /// Written in the single-line grammar `name: value` (§9.4, §9.8).
    pub single_line: bool,
}

impl PropertyDef {
    pub fn new(name: Named) -> Self {
        PropertyDef {
            name,
            type_name: None,
            description: None,
            required: None,
            default: None,
            value: None,
            validation: None,
            key_schema: None,
            entry_schema: None,
            mapping: None,
            single_line: false,
        }
    }
}

/// A schema definition (§9.3).
#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub location: Location,
    /// Optional only in refinements, which keep the refined schema's type (§9.3).
    pub type_name: Option<Named>,
    pub key_schema: Option<Box<SchemaDef>>,
    pub entry_schema: Option<Box<SchemaDef>>,
    pub validation: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct CapabilityDef {
    pub name: Named,
    pub type_name: Option<Named>,
    pub description: Option<String>,
    pub properties: Vec<PropertyDef>,
    pub attributes: Vec<PropertyDef>,
    pub valid_source_node_types: Option<Vec<Named>>,
    pub valid_relationship_types: Option<Vec<Named>>,
}

#[derive(Debug, Clone)]
pub struct RequirementDef {
    pub name: Named,
    pub description: Option<String>,
    pub capability: Option<Named>,
    pub node: Option<Named>,
    pub relationship: Option<RelationshipDef>,
    pub count_range: Option<CountRange>,
    pub node_filter: Option<Expr>,
    /// Written in the TOSCA 1.x short form `name: CapabilityType` (reported by the parser;
    /// kept so that templates using the requirement do not get follow-on errors).
    pub short_form: bool,
}

/// `count_range: [ min, max ]`; `max` None is UNBOUNDED. The default is [ 0, UNBOUNDED ].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountRange {
    pub min: u64,
    pub max: Option<u64>,
}

impl std::fmt::Display for CountRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max {
            Some(max) => write!(f, "[ {}, {} ]", self.min, max),
            None => write!(f, "[ {}, UNBOUNDED ]", self.min),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RelationshipDef {
    pub location: Location,
    pub type_name: Option<Named>,
    pub properties: Vec<PropertyDef>,
    pub attributes: Vec<PropertyDef>,
    pub interfaces: Vec<InterfaceDef>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceTemplate {
    pub location: Location,
    pub description: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub inputs: Vec<PropertyDef>,
    pub outputs: Vec<PropertyDef>,
    pub node_templates: Vec<NodeTemplate>,
    pub relationship_templates: Vec<RelationshipTemplate>,
    pub groups: Vec<GroupDef>,
    pub policies: Vec<GroupDef>,
    pub workflows: Vec<WorkflowDef>,
    pub substitution: Option<SubstitutionMappings>,
}

#[derive(Debug, Clone)]
pub struct NodeTemplate {
    pub name: Named,
    pub type_name: Option<Named>,
    pub description: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub directives: Vec<Named>,
    pub properties: Vec<Assignment>,
    pub attributes: Vec<Assignment>,
    pub capabilities: Vec<CapabilityAssignment>,
    pub requirements: Vec<RequirementAssignment>,
    pub interfaces: Vec<InterfaceAssignment>,
    pub artifacts: Vec<ArtifactDef>,
    pub node_filter: Option<Expr>,
    /// A non-negative integer, or a function call such as `$get_input`.
    pub count: Option<Expr>,
}

/// `name: value` in a template.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub name: Named,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct CapabilityAssignment {
    pub name: Named,
    pub properties: Vec<Assignment>,
    pub attributes: Vec<Assignment>,
}

#[derive(Debug, Clone)]
pub struct RequirementAssignment {
    pub name: Named,
    pub location: Location,
    pub node: Option<Named>,
    /// Index of the target node representation (`node: [ name, index ]`).
    pub node_index: Option<Expr>,
    pub capability: Option<Named>,
    pub relationship: Option<RelationshipAssignment>,
    /// A non-negative integer, or a function call.
    pub count: Option<Expr>,
    pub optional: bool,
    pub node_filter: Option<Expr>,
    /// Allocations from the target capability's properties (§8.5.5).
    pub allocation: Vec<Assignment>,
}

#[derive(Debug, Clone)]
pub enum RelationshipAssignment {
    /// The short form: a relationship type name, or a relationship template name.
    Name(Named),
    Full {
        location: Location,
        type_name: Option<Named>,
        properties: Vec<Assignment>,
        attributes: Vec<Assignment>,
        interfaces: Vec<InterfaceAssignment>,
    },
}

#[derive(Debug, Clone)]
pub struct RelationshipTemplate {
    pub name: Named,
    pub type_name: Option<Named>,
    pub properties: Vec<Assignment>,
    pub attributes: Vec<Assignment>,
    pub interfaces: Vec<InterfaceAssignment>,
}

/// A group or policy definition: its type, properties and members/targets.
#[derive(Debug, Clone)]
pub struct GroupDef {
    pub name: Named,
    pub type_name: Option<Named>,
    pub properties: Vec<Assignment>,
    pub attributes: Vec<Assignment>,
    pub members: Vec<Named>,
    /// Policies only.
    pub triggers: Vec<TriggerDef>,
}
