//! Interface definitions (§11.1, §11.2), operation and notification definitions (§11.4,
//! §11.6), their implementations (§11.8), and interface, operation and notification
//! assignments in templates (§11.3, §11.5, §11.7).

use super::defs::ValueDefKind;
use super::{Entry, Parser};
use crate::ast::{
    ArtifactRef, Implementation, InterfaceAssignment, InterfaceDef, Named, OperationAssignment,
    OperationDef,
};
use crate::yaml::{Node, Yaml};

const INTERFACE_DEF_KEYNAMES: &[&str] = &[
    "type",
    "description",
    "metadata",
    "inputs",
    "operations",
    "notifications",
];
const OPERATION_DEF_KEYNAMES: &[&str] = &[
    "description",
    "metadata",
    "implementation",
    "inputs",
    "outputs",
];
const IMPLEMENTATION_KEYNAMES: &[&str] = &["primary", "dependencies", "timeout"];
const INTERFACE_ASSIGNMENT_KEYNAMES: &[&str] = &["inputs", "operations", "notifications"];
// §11.5: "An operation assignment may add or change the implementation and description".
const OPERATION_ASSIGNMENT_KEYNAMES: &[&str] =
    &["description", "implementation", "inputs", "outputs"];

/// Where operations are defined: interface types only declare them (§11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationPlace {
    InterfaceType,
    /// Node and relationship types, and requirement definitions.
    EntityType,
}

impl Parser<'_> {
    /// Interface definitions in node and relationship types (§11.2).
    pub fn interface_definitions(&mut self, node: &Node, owner: &str) -> Vec<InterfaceDef> {
        let Some(entries) = self.entries(node, &format!("the interfaces of {owner}")) else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("interface \"{}\" of {owner}", entry.key);
            let mut def = InterfaceDef {
                name: entry.named(),
                ..InterfaceDef::default()
            };
            let Some(fields) = self.entries_or_empty(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "type" => {
                        def.type_name = self.named(field.value, &format!("the type of {what}"))
                    }
                    "description" => def.description = self.description(field.value),
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "inputs" | "operations" | "notifications" => {
                        self.interface_part(field, &mut def, &what, OperationPlace::EntityType)
                    }
                    _ => self.unknown_keyname(field, &what, INTERFACE_DEF_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    /// `inputs`, `operations` or `notifications` of an interface type or definition.
    pub fn interface_part(
        &mut self,
        field: &Entry,
        def: &mut InterfaceDef,
        what: &str,
        place: OperationPlace,
    ) {
        match field.key {
            "inputs" => {
                def.inputs = self.value_definitions(field.value, ValueDefKind::Parameter, what)
            }
            "operations" => {
                def.operations = self.operation_definitions(field.value, what, "operation", place)
            }
            _ => {
                def.notifications =
                    self.operation_definitions(field.value, what, "notification", place)
            }
        }
    }

    /// Operation or notification definitions (§11.4, §11.6). `label` is "operation" or
    /// "notification".
    fn operation_definitions(
        &mut self,
        node: &Node,
        owner: &str,
        label: &str,
        place: OperationPlace,
    ) -> Vec<OperationDef> {
        let Some(entries) = self.entries_or_empty(node, &format!("the {label}s of {owner}")) else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("{label} \"{}\" of {owner}", entry.key);
            let mut def = OperationDef {
                name: entry.named(),
                description: None,
                implementation: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
            };
            if entry.value.as_map().is_none() {
                // Single-line grammar: the implementation.
                if !entry.value.is_null() {
                    def.implementation = self.implementation_in(entry.value, &what, place);
                }
                defs.push(def);
                continue;
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "description" => def.description = self.description(field.value),
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    "implementation" => {
                        def.implementation = self.implementation_in(field.value, &what, place)
                    }
                    "inputs" => {
                        def.inputs =
                            self.value_definitions(field.value, ValueDefKind::Parameter, &what)
                    }
                    "outputs" => {
                        def.outputs = self.value_definitions(
                            field.value,
                            ValueDefKind::IncomingParameter,
                            &what,
                        );
                        if place == OperationPlace::InterfaceType {
                            for output in def.outputs.iter().filter(|o| o.mapping.is_some()) {
                                self.error(
                                    &output.name.location,
                                    format!(
                                        "output \"{}\" of {what} cannot map to an attribute: interface types have no node or relationship to map to (§11.4)",
                                        output.name.name
                                    ),
                                );
                            }
                        }
                    }
                    _ => self.unknown_keyname(field, &what, OPERATION_DEF_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    fn implementation_in(
        &mut self,
        node: &Node,
        owner: &str,
        place: OperationPlace,
    ) -> Option<Implementation> {
        if place == OperationPlace::InterfaceType {
            self.error(
                &node.location(),
                format!(
                    "{owner} cannot have an implementation: operations and notifications in interface types are only declared (§11.4, §11.6)"
                ),
            );
            return None;
        }
        self.implementation(node, owner)
    }

    /// An operation or notification implementation (§11.8): an artifact name (or file), or
    /// `primary` and `dependencies`.
    pub fn implementation(&mut self, node: &Node, owner: &str) -> Option<Implementation> {
        let what = format!("the implementation of {owner}");
        let mut implementation = Implementation {
            location: node.location(),
            primary: None,
            dependencies: Vec::new(),
            timeout: None,
        };
        if let Yaml::Str(_) = node.value {
            implementation.primary = self.named(node, &what).map(ArtifactRef::Name);
            return Some(implementation);
        }
        let fields = self.entries(node, &what)?;
        for field in &fields {
            match field.key {
                "primary" => {
                    implementation.primary =
                        self.artifact_reference(field.value, &format!("the primary of {what}"))
                }
                "dependencies" => match field.value.as_seq() {
                    Some(items) => {
                        implementation.dependencies = items
                            .iter()
                            .filter_map(|item| {
                                self.artifact_reference(item, &format!("a dependency of {what}"))
                            })
                            .collect()
                    }
                    None => self.error(
                        &field.value.location(),
                        format!(
                            "the dependencies of {what} must be a list of artifact names or definitions, not {}",
                            field.value.describe()
                        ),
                    ),
                },
                "timeout" => {
                    implementation.timeout =
                        self.non_negative(field.value, &format!("the timeout of {what}"));
                }
                _ => self.unknown_keyname(field, &what, IMPLEMENTATION_KEYNAMES),
            }
        }
        Some(implementation)
    }

    fn artifact_reference(&mut self, node: &Node, what: &str) -> Option<ArtifactRef> {
        if let Yaml::Str(_) = node.value {
            return self.named(node, what).map(ArtifactRef::Name);
        }
        let name = Named {
            name: String::new(),
            location: node.location(),
        };
        self.artifact_definition(name, node, what)
            .map(|def| ArtifactRef::Inline(Box::new(def)))
    }

    /// Interface assignments in templates (§11.3).
    pub fn interface_assignments(&mut self, node: &Node, owner: &str) -> Vec<InterfaceAssignment> {
        let Some(entries) = self.entries(node, &format!("the interfaces of {owner}")) else {
            return Vec::new();
        };
        let mut assignments = Vec::new();
        for entry in &entries {
            let what = format!("interface \"{}\" of {owner}", entry.key);
            let mut assignment = InterfaceAssignment {
                name: entry.named(),
                inputs: Vec::new(),
                operations: Vec::new(),
                notifications: Vec::new(),
            };
            let Some(fields) = self.entries_or_empty(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "inputs" => {
                        assignment.inputs =
                            self.assignments(field.value, &format!("the inputs of {what}"))
                    }
                    "operations" => {
                        assignment.operations =
                            self.operation_assignments(field.value, &what, "operation")
                    }
                    "notifications" => {
                        assignment.notifications =
                            self.operation_assignments(field.value, &what, "notification")
                    }
                    _ => self.unknown_keyname(field, &what, INTERFACE_ASSIGNMENT_KEYNAMES),
                }
            }
            assignments.push(assignment);
        }
        assignments
    }

    fn operation_assignments(
        &mut self,
        node: &Node,
        owner: &str,
        label: &str,
    ) -> Vec<OperationAssignment> {
        let Some(entries) = self.entries_or_empty(node, &format!("the {label}s of {owner}")) else {
            return Vec::new();
        };
        let mut assignments = Vec::new();
        for entry in &entries {
            let what = format!("{label} \"{}\" of {owner}", entry.key);
            let mut assignment = OperationAssignment {
                name: entry.named(),
                implementation: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
            };
            if entry.value.as_map().is_none() {
                if !entry.value.is_null() {
                    assignment.implementation = self.implementation(entry.value, &what);
                }
                assignments.push(assignment);
                continue;
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            for field in &fields {
                match field.key {
                    "description" => {
                        self.description(field.value);
                    }
                    "implementation" => {
                        assignment.implementation = self.implementation(field.value, &what)
                    }
                    "inputs" => {
                        assignment.inputs =
                            self.assignments(field.value, &format!("the inputs of {what}"))
                    }
                    "outputs" => {
                        assignment.outputs =
                            self.assignments(field.value, &format!("the outputs of {what}"));
                        for output in &assignment.outputs {
                            self.attribute_mapping(&output.value, &output.name.name, &what);
                        }
                    }
                    _ => self.unknown_keyname(field, &what, OPERATION_ASSIGNMENT_KEYNAMES),
                }
            }
            assignments.push(assignment);
        }
        assignments
    }

    /// A parameter mapping assignment (§9.10): `[ <tosca_path>, <attribute_name>, ... ]`.
    pub fn attribute_mapping(&mut self, value: &crate::model::Expr, name: &str, owner: &str) {
        use crate::model::ExprKind;
        let ok = match &value.kind {
            ExprKind::List(items) => {
                items.len() >= 2
                    && items
                        .iter()
                        .all(|i| matches!(i.kind, ExprKind::String(_) | ExprKind::Integer(_)))
            }
            _ => false,
        };
        if !ok {
            self.error(
                &value.location,
                format!(
                    "output \"{name}\" of {owner} must map to an attribute as [ <tosca_path>, <attribute_name>, ... ] (e.g. [ SELF, state ]), not {} (§9.10)",
                    value.describe()
                ),
            );
        }
    }
}
