//! What the orchestrator runs, carried into the model: the interfaces of node and relationship
//! templates with their implementations, input values and output mappings (§11.3, §11.5,
//! §11.8), the artifacts of nodes (§12.2), and declared functions with their implementations
//! (§10.4).
//!
//! Artifact files are joined to the directory of the TOSCA file they are written in, so that
//! a type imported from `types/web.yaml` names `types/scripts/start.sh`. URLs and absolute
//! paths are kept as written, and so are files of profiles held in memory (they have no
//! directory). Errors in what is merged here were reported by the checks of assignments; this
//! only adds warnings for what Khutulun leaves out.

use super::Compiler;
use crate::ast::{
    ArtifactDef, ArtifactRef, Assignment, Implementation, InterfaceAssignment, OperationAssignment,
    TypeKind,
};
use crate::catalog::Catalog;
use crate::model::{
    ArtifactTemplate, Expr, ExprKind, FunctionDefinition, ImplementationDefinition,
    InterfaceTemplate, OperationTemplate, PropertyDefinition, TypeName,
};
use crate::names::{Lookup, TypeId};
use crate::types::{ArtifactSpec, InterfaceSpec, OperationSpec, Types};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory of each file of the catalog (None for profile files held in memory).
pub(crate) type Dirs = [Option<PathBuf>];

/// `path` as written in file `file`: joined to that file's directory unless it is a URL or an
/// absolute path, or the file has no directory.
pub(crate) fn resolve_path(dirs: &Dirs, file: usize, path: &str) -> String {
    if path.contains("://") || Path::new(path).is_absolute() {
        return path.to_string();
    }
    match dirs.get(file).and_then(Option::as_ref) {
        Some(dir) => crate::source::normalize(&dir.join(path))
            .to_string_lossy()
            .into_owned(),
        None => path.to_string(),
    }
}

/// The type named `name` in the scope of `file` and its ancestors; empty when unknown (that is
/// reported where the artifact is checked).
fn artifact_types(types: &Types, file: usize, name: Option<&crate::ast::Named>) -> Vec<TypeName> {
    let Some(name) = name else {
        return Vec::new();
    };
    match types.scopes[file].lookup(TypeKind::Artifact, &name.name) {
        Lookup::Found(id) => types.lineage(id),
        _ => Vec::new(),
    }
}

/// An artifact definition written in file `file`; None without a file (reported).
fn defined_artifact(
    types: &Types,
    dirs: &Dirs,
    file: usize,
    def: &ArtifactDef,
) -> Option<ArtifactTemplate> {
    let path = def.file.as_ref()?;
    Some(ArtifactTemplate {
        file: resolve_path(dirs, file, &path.name),
        types: artifact_types(types, file, def.type_name.as_ref()),
        location: def.location.clone(),
    })
}

/// An artifact a node type has.
fn type_artifact(types: &Types, dirs: &Dirs, spec: &ArtifactSpec) -> Option<ArtifactTemplate> {
    let path = spec.file.as_ref()?;
    Some(ArtifactTemplate {
        file: resolve_path(dirs, spec.defined_in, path),
        types: spec.type_id.map(|t| types.lineage(t)).unwrap_or_default(),
        location: spec.location.clone(),
    })
}

/// The artifact an implementation names: a symbolic name of the node's artifacts, else a file
/// (written in file `file`); or one defined in place.
fn referenced_artifact(
    types: &Types,
    dirs: &Dirs,
    file: usize,
    reference: &ArtifactRef,
    artifacts: &BTreeMap<String, ArtifactTemplate>,
) -> Option<ArtifactTemplate> {
    match reference {
        ArtifactRef::Name(name) => {
            Some(
                artifacts
                    .get(&name.name)
                    .cloned()
                    .unwrap_or_else(|| ArtifactTemplate {
                        file: resolve_path(dirs, file, &name.name),
                        types: Vec::new(),
                        location: name.location.clone(),
                    }),
            )
        }
        ArtifactRef::Inline(def) => defined_artifact(types, dirs, file, def),
    }
}

/// An implementation written in file `file`, its artifacts resolved; None when it has no
/// primary artifact (nothing to run).
pub(crate) fn implementation_definition(
    types: &Types,
    dirs: &Dirs,
    file: usize,
    implementation: &Implementation,
    artifacts: &BTreeMap<String, ArtifactTemplate>,
) -> Option<ImplementationDefinition> {
    let primary = implementation.primary.as_ref()?;
    let primary = referenced_artifact(types, dirs, file, primary, artifacts)?;
    let dependencies = implementation
        .dependencies
        .iter()
        .filter_map(|d| referenced_artifact(types, dirs, file, d, artifacts))
        .collect();
    Some(ImplementationDefinition {
        location: implementation.location.clone(),
        primary,
        dependencies,
        timeout: implementation.timeout,
    })
}

/// Parameter values: each definition's fixed value, else the assigned one, else its default
/// (defaults of parameters that are not required are never used, §9.5); then assignments of
/// parameters that are not defined (§11.3, §11.5). Parameters without a value are left out.
fn parameter_values(
    defs: &[PropertyDefinition],
    assigned: &[Assignment],
) -> BTreeMap<String, Expr> {
    let mut values = BTreeMap::new();
    for def in defs {
        let value = def
            .value
            .clone()
            .or_else(|| {
                assigned
                    .iter()
                    .find(|a| a.name.name == def.name)
                    .map(|a| a.value.clone())
            })
            .or_else(|| def.default.clone().filter(|_| def.required));
        if let Some(value) = value {
            values.insert(def.name.clone(), value);
        }
    }
    for assignment in assigned {
        if !defs.iter().any(|d| d.name == assignment.name.name) {
            values.insert(assignment.name.name.clone(), assignment.value.clone());
        }
    }
    values
}

/// The attribute of `[ SELF, <attribute> ]`; None for any other mapping.
fn self_attribute(mapping: &Expr) -> Option<String> {
    let ExprKind::List(items) = &mapping.kind else {
        return None;
    };
    match items.as_slice() {
        [first, attribute] if first.as_str() == Some("SELF") => {
            let attribute = attribute.as_str()?;
            (!matches!(
                attribute,
                "CAPABILITY" | "RELATIONSHIP" | "SOURCE" | "TARGET"
            ))
            .then(|| attribute.to_string())
        }
        _ => None,
    }
}

/// `[ SOURCE, state ]` for messages.
fn show_mapping(mapping: &Expr) -> String {
    match &mapping.kind {
        ExprKind::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match &i.kind {
                    ExprKind::String(s) => s.clone(),
                    ExprKind::Integer(n) => n.to_string(),
                    _ => i.describe(),
                })
                .collect();
            format!("[ {} ]", parts.join(", "))
        }
        _ => mapping.describe(),
    }
}

impl Compiler<'_> {
    /// The artifacts of a node: its type's (with ancestors'), then its own by name.
    pub(crate) fn node_artifacts(
        &self,
        template: &crate::ast::NodeTemplate,
        type_id: Option<TypeId>,
    ) -> BTreeMap<String, ArtifactTemplate> {
        let mut artifacts = BTreeMap::new();
        if let Some(type_id) = type_id {
            for spec in &self.types.resolved(type_id).artifacts {
                if let Some(artifact) = type_artifact(self.types, &self.dirs, spec) {
                    artifacts.insert(spec.name.clone(), artifact);
                }
            }
        }
        for def in &template.artifacts {
            if let Some(artifact) = defined_artifact(self.types, &self.dirs, self.file, def) {
                artifacts.insert(def.name.name.clone(), artifact);
            }
        }
        artifacts
    }

    /// The interfaces of a node or relationship with something to run: the type's definitions
    /// (`specs`) merged with the template's `assignments` (written in the entry file).
    /// Operations and notifications without an implementation are left out, and so are
    /// interfaces left without any.
    pub(crate) fn runnable_interfaces(
        &mut self,
        specs: &[InterfaceSpec],
        assignments: &[InterfaceAssignment],
        artifacts: &BTreeMap<String, ArtifactTemplate>,
    ) -> BTreeMap<String, InterfaceTemplate> {
        let mut interfaces = BTreeMap::new();
        for spec in specs {
            let assignment = assignments.iter().find(|a| a.name.name == spec.name);
            let assigned_inputs = assignment.map(|a| a.inputs.as_slice()).unwrap_or(&[]);
            let interface_inputs = parameter_values(&spec.inputs, assigned_inputs);
            let mut interface = InterfaceTemplate {
                types: spec
                    .type_id
                    .map(|t| self.types.lineage(t))
                    .unwrap_or_default(),
                operations: BTreeMap::new(),
                notifications: BTreeMap::new(),
            };
            let empty = Vec::new();
            for (label, defined, assigned) in [
                (
                    "operation",
                    &spec.operations,
                    assignment.map(|a| &a.operations).unwrap_or(&empty),
                ),
                (
                    "notification",
                    &spec.notifications,
                    assignment.map(|a| &a.notifications).unwrap_or(&empty),
                ),
            ] {
                for operation in defined {
                    let assigned = assigned.iter().find(|a| a.name.name == operation.name);
                    let what = format!("{label} \"{}.{}\"", spec.name, operation.name);
                    let Some(compiled) = self.runnable_operation(
                        operation,
                        assigned,
                        &interface_inputs,
                        artifacts,
                        &what,
                    ) else {
                        continue;
                    };
                    let target = if label == "operation" {
                        &mut interface.operations
                    } else {
                        &mut interface.notifications
                    };
                    target.insert(operation.name.clone(), compiled);
                }
            }
            if !interface.operations.is_empty() || !interface.notifications.is_empty() {
                interfaces.insert(spec.name.clone(), interface);
            }
        }
        interfaces
    }

    fn runnable_operation(
        &mut self,
        operation: &OperationSpec,
        assigned: Option<&OperationAssignment>,
        interface_inputs: &BTreeMap<String, Expr>,
        artifacts: &BTreeMap<String, ArtifactTemplate>,
        what: &str,
    ) -> Option<OperationTemplate> {
        // The template's implementation overrides the type's (§11.5).
        let (file, implementation) = match assigned.and_then(|a| a.implementation.as_ref()) {
            Some(implementation) => (self.file, implementation),
            None => {
                let (file, implementation) = operation.implementation.as_ref()?;
                (*file, implementation)
            }
        };
        let implementation =
            implementation_definition(self.types, &self.dirs, file, implementation, artifacts)?;
        let mut inputs = interface_inputs.clone();
        let assigned_inputs = assigned.map(|a| a.inputs.as_slice()).unwrap_or(&[]);
        inputs.extend(parameter_values(&operation.inputs, assigned_inputs));
        let mut mappings: Vec<(String, Expr)> = operation.mappings.clone();
        for output in assigned.map(|a| a.outputs.as_slice()).unwrap_or(&[]) {
            mappings.retain(|(name, _)| name != &output.name.name);
            mappings.push((output.name.name.clone(), output.value.clone()));
        }
        let mut outputs = BTreeMap::new();
        for (name, mapping) in mappings {
            match self_attribute(&mapping) {
                Some(attribute) => {
                    outputs.insert(name, attribute);
                }
                None => self.diagnostics.warning(
                    &mapping.location,
                    format!(
                        "output \"{name}\" of {what} is mapped onto {}, which Khutulun ignores: Khutulun maps outputs onto attributes of SELF only ([ SELF, <attribute> ])",
                        show_mapping(&mapping)
                    ),
                ),
            }
        }
        Some(OperationTemplate {
            implementation,
            inputs,
            outputs,
        })
    }
}

/// The declared functions the entry file sees, by the name it calls them with. A function
/// the entry file declares under a name it also imports (without a namespace) refines the
/// imported one (§10.4): signature by signature, the entry file's implementation wins.
pub(crate) fn functions(
    catalog: &Catalog,
    types: &Types,
    dirs: &Dirs,
) -> BTreeMap<String, FunctionDefinition> {
    let scopes = crate::functions::scopes(catalog);
    let Some(scope) = scopes.first() else {
        return BTreeMap::new();
    };
    let no_artifacts = BTreeMap::new();
    let mut functions = BTreeMap::new();
    for (name, declared) in scope {
        let def = &catalog.files[declared.file].ast.functions[declared.index];
        let refined = (declared.file == 0)
            .then(|| {
                catalog.files[0]
                    .imports
                    .iter()
                    .filter(|edge| edge.namespace.is_none())
                    .find_map(|edge| scopes[edge.file].get(name))
            })
            .flatten()
            .filter(|d| d.file != 0)
            .map(|d| (d.file, &catalog.files[d.file].ast.functions[d.index]));
        let count = def
            .signatures
            .len()
            .max(refined.map(|(_, r)| r.signatures.len()).unwrap_or(0));
        let implementation = (0..count).find_map(|i| {
            let own = def
                .signatures
                .get(i)
                .and_then(|s| s.implementation.as_ref())
                .map(|imp| (declared.file, imp));
            let inherited = refined.and_then(|(file, r)| {
                r.signatures
                    .get(i)
                    .and_then(|s| s.implementation.as_ref())
                    .map(|imp| (file, imp))
            });
            let (file, implementation) = own.or(inherited)?;
            implementation_definition(types, dirs, file, implementation, &no_artifacts)
        });
        functions.insert(
            name.clone(),
            FunctionDefinition {
                location: def.name.location.clone(),
                implementation,
            },
        );
    }
    functions
}
