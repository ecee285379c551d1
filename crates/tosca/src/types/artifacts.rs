//! Artifact definitions (§12.2) of node types (inherited, and replaced whole when redefined)
//! and node templates: the artifact type must exist, the repository must be defined, and the
//! property assignments must fit the artifact type.

use super::Types;
use crate::ast::{ArtifactDef, ArtifactRef, Implementation, InterfaceDef, TypeKind};
use crate::diagnostic::{did_you_mean, known_list, Diagnostics};
use crate::names::TypeId;

/// An artifact a node type has: its name and type, and its file as written in file
/// `defined_in` (relative to that file).
#[derive(Debug, Clone)]
pub(crate) struct ArtifactSpec {
    pub name: String,
    pub type_id: Option<TypeId>,
    pub file: Option<String>,
    pub defined_in: usize,
    pub location: crate::diagnostic::Location,
}

impl Types {
    /// The artifacts of a node type: inherited ones, with its own added or replacing them.
    pub(super) fn artifacts(
        &mut self,
        file: usize,
        defs: &[ArtifactDef],
        inherited: &[ArtifactSpec],
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) -> Vec<ArtifactSpec> {
        let mut out = inherited.to_vec();
        for def in defs {
            let what = format!("artifact \"{}\" of {owner}", def.name.name);
            let type_id = self.artifact_type(file, def, &what, diagnostics);
            let spec = ArtifactSpec {
                name: def.name.name.clone(),
                type_id,
                file: def.file.as_ref().map(|f| f.name.clone()),
                defined_in: file,
                location: def.location.clone(),
            };
            match out.iter().position(|a| a.name == def.name.name) {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    /// The type of an artifact definition (reported when unknown) and, once types are
    /// flattened, nothing more: the properties are checked by [`Types::check_artifact`].
    pub(crate) fn artifact_type(
        &mut self,
        file: usize,
        def: &ArtifactDef,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<TypeId> {
        let type_name = def.type_name.as_ref()?;
        let id = self.lookup(
            file,
            TypeKind::Artifact,
            type_name,
            &format!("the type of {what}"),
            diagnostics,
        )?;
        self.flatten(id, diagnostics);
        Some(id)
    }

    /// The repository and property assignments of an artifact definition.
    pub(crate) fn check_artifact(
        &self,
        file: usize,
        def: &ArtifactDef,
        type_id: Option<TypeId>,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) {
        if let Some(repository) = &def.repository {
            let known = &self.repositories[file];
            if !known.contains(&repository.name) {
                diagnostics.error(
                    &repository.location,
                    format!(
                        "unknown repository \"{}\" in {what}{}; repositories: {}",
                        repository.name,
                        did_you_mean(&repository.name, known.iter().map(String::as_str)),
                        known_list(known.iter().map(String::as_str))
                    ),
                );
            }
        }
        let Some(type_id) = type_id else {
            return;
        };
        let defs = &self.resolved[type_id].properties;
        let type_desc = self.describe(type_id);
        let mut problems = Vec::new();
        for assignment in &def.properties {
            let name = &assignment.name.name;
            let Some(property) = defs.iter().find(|d| &d.name == name) else {
                let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                diagnostics.error(
                    &assignment.name.location,
                    format!(
                        "unknown property \"{name}\" in {what}{}; {type_desc} defines properties: {}",
                        did_you_mean(name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            if property.value.is_some() {
                diagnostics.error(
                    &assignment.name.location,
                    format!("property \"{name}\" in {what} cannot be assigned: {type_desc} fixes its value (§9.5)"),
                );
                continue;
            }
            if let Some(schema) = &property.schema {
                crate::values::check(
                    &assignment.value,
                    schema,
                    &self.data_types,
                    &format!("property \"{name}\" of {what}"),
                    &mut problems,
                );
            }
        }
        for property in defs {
            let given = def.properties.iter().any(|a| a.name.name == property.name);
            if !given && property.required && property.default.is_none() && property.value.is_none()
            {
                diagnostics.error(
                    &def.location,
                    format!(
                        "{what} lacks required property \"{}\": {type_desc} requires it and gives no default",
                        property.name
                    ),
                );
            }
        }
        for problem in problems {
            diagnostics.error(&problem.location, problem.message);
        }
    }

    /// Checks the artifacts that node types define, and the artifacts written in place in
    /// the implementations of their interfaces (once every type is flattened).
    pub(super) fn check_type_artifacts(&mut self, diagnostics: &mut Diagnostics) {
        for id in 0..self.entries.len() {
            let kind = self.entries[id].kind;
            if !matches!(kind, TypeKind::Node | TypeKind::Relationship) {
                continue;
            }
            let file = self.entries[id].file;
            let owner = self.describe(id);
            let def = self.entries[id].def.clone();
            for artifact in &def.artifacts {
                let what = format!("artifact \"{}\" of {owner}", artifact.name.name);
                let type_id = self.resolved[id]
                    .artifacts
                    .iter()
                    .find(|a| a.name == artifact.name.name)
                    .and_then(|a| a.type_id);
                self.check_artifact(file, artifact, type_id, &what, diagnostics);
            }
            self.check_inline_artifacts(file, &def.interfaces, &owner, diagnostics);
        }
    }

    /// Artifacts defined in place as the primary or dependencies of implementations.
    pub(crate) fn check_inline_artifacts(
        &mut self,
        file: usize,
        interfaces: &[InterfaceDef],
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) {
        for interface in interfaces {
            for operation in interface.operations.iter().chain(&interface.notifications) {
                if let Some(implementation) = &operation.implementation {
                    let what = format!(
                        "the implementation of \"{}.{}\" of {owner}",
                        interface.name.name, operation.name.name
                    );
                    self.check_implementation(file, implementation, &what, diagnostics);
                }
            }
        }
    }

    /// The artifacts written in place in one implementation.
    pub(crate) fn check_implementation(
        &mut self,
        file: usize,
        implementation: &Implementation,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) {
        let refs = implementation
            .primary
            .iter()
            .chain(&implementation.dependencies);
        for reference in refs {
            if let ArtifactRef::Inline(artifact) = reference {
                let type_id = self.artifact_type(file, artifact, what, diagnostics);
                self.check_artifact(
                    file,
                    artifact,
                    type_id,
                    &format!("an artifact of {what}"),
                    diagnostics,
                );
            }
        }
    }
}
