//! The type table: every type of every file, its parent (§6.4.2), derivation cycles, and the
//! flattened definitions each type inherits and refines (properties, attributes, capabilities,
//! requirements, interfaces, artifacts, restricting lists; §7.1, §7.3, §8.1, §9.2, §11, §12,
//! §16).

use crate::ast::{CountRange, Named, TypeDef, TypeKind};
use crate::catalog::Catalog;
use crate::diagnostic::{did_you_mean, known_list, Diagnostics};
use crate::model::{Builtin, DataTypeInfo, DataTypeRef, PropertyDefinition, TypeName};
use crate::names::{build_scopes, Lookup, Scope, TypeId};
use std::collections::HashMap;

mod artifacts;
mod capabilities;
mod clauses;
mod data;
mod interfaces;
mod restrictions;
mod scalars;
mod values;

pub(crate) use artifacts::ArtifactSpec;
use interfaces::check_interface_scope;
pub(crate) use interfaces::{InterfaceSpec, OperationSpec};

pub(crate) struct TypeEntry {
    pub kind: TypeKind,
    pub def: TypeDef,
    /// The file that defines the type (its names resolve in that file's scope).
    pub file: usize,
    pub profile: Option<String>,
    pub parent: Option<TypeId>,
    /// Data types deriving directly from a built-in type.
    pub builtin_parent: Option<Builtin>,
}

/// What a type has once inheritance is applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub properties: Vec<PropertyDefinition>,
    pub attributes: Vec<PropertyDefinition>,
    pub capabilities: Vec<CapabilitySpec>,
    pub requirements: Vec<RequirementSpec>,
    /// Node and relationship types.
    pub interfaces: Vec<InterfaceSpec>,
    /// Interface types: their inputs, operations and notifications.
    pub interface: InterfaceSpec,
    /// Node types.
    pub artifacts: Vec<ArtifactSpec>,
    pub valid_source_node_types: Option<Vec<TypeId>>,
    pub valid_target_node_types: Option<Vec<TypeId>>,
    pub valid_capability_types: Option<Vec<TypeId>>,
    pub valid_relationship_types: Option<Vec<TypeId>>,
    /// Group types: the node types of members.
    pub members: Option<Vec<TypeId>>,
    /// Policy types: the node and group types of targets.
    pub targets: Option<Vec<TypeId>>,
    /// Policy types: the names of their triggers.
    pub triggers: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CapabilitySpec {
    pub name: String,
    pub type_id: TypeId,
    pub properties: Vec<PropertyDefinition>,
    pub attributes: Vec<PropertyDefinition>,
    pub valid_source_node_types: Option<Vec<TypeId>>,
    pub valid_relationship_types: Option<Vec<TypeId>>,
}

/// The `capability` of a requirement definition: a capability type, or (with `node`) the name
/// of a capability of the target node type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CapabilityRef {
    Type(TypeId),
    Name(String),
}

#[derive(Debug, Clone)]
pub(crate) struct RequirementSpec {
    pub name: String,
    pub capability: Option<CapabilityRef>,
    pub node: Option<TypeId>,
    pub relationship: Option<RelationshipSpec>,
    pub count_range: CountRange,
}

#[derive(Debug, Clone)]
pub(crate) struct RelationshipSpec {
    pub type_id: TypeId,
    pub properties: Vec<PropertyDefinition>,
    pub attributes: Vec<PropertyDefinition>,
    pub interfaces: Vec<InterfaceSpec>,
}

/// Which definition grammar a value definition uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefLabel {
    Property,
    Attribute,
    Input,
    Output,
}

impl DefLabel {
    pub fn label(self) -> &'static str {
        match self {
            DefLabel::Property => "property",
            DefLabel::Attribute => "attribute",
            DefLabel::Input => "input",
            DefLabel::Output => "output",
        }
    }

    /// Parameters (inputs and outputs) may leave out the type.
    fn is_parameter(self) -> bool {
        matches!(self, DefLabel::Input | DefLabel::Output)
    }
}

pub(crate) struct Types {
    pub entries: Vec<TypeEntry>,
    pub resolved: Vec<Resolved>,
    pub scopes: Vec<Scope>,
    pub data_types: Vec<DataTypeInfo>,
    /// The repository names each file sees (§6.5, with namespace prefixes).
    pub repositories: Vec<Vec<String>>,
    data_index: HashMap<TypeId, usize>,
    /// The type of each entry of `data_types`.
    data_ids: Vec<TypeId>,
    done: Vec<bool>,
}

/// Collects every type of the catalog, resolves parents, breaks derivation cycles, and
/// flattens every type.
pub(crate) fn build(catalog: &mut Catalog, diagnostics: &mut Diagnostics) -> Types {
    let mut entries = Vec::new();
    let mut own = vec![Vec::new(); catalog.files.len()];
    for (file_index, file) in catalog.files.iter_mut().enumerate() {
        for def in std::mem::take(&mut file.ast.types) {
            if def.kind == TypeKind::Data && Builtin::from_name(&def.name.name).is_some() {
                diagnostics.error(
                    &def.name.location,
                    format!(
                        "\"{}\" is a built-in TOSCA type name and cannot be used for a data type (§9.1)",
                        def.name.name
                    ),
                );
                continue;
            }
            let id = entries.len();
            own[file_index].push((def.kind, def.name.name.clone(), id));
            entries.push(TypeEntry {
                kind: def.kind,
                def,
                file: file_index,
                profile: file.profile.clone(),
                parent: None,
                builtin_parent: None,
            });
        }
    }
    let scopes = build_scopes(catalog, &own);
    let repositories = crate::names::repository_scopes(catalog);
    let mut data_index = HashMap::new();
    let mut data_ids = Vec::new();
    let mut data_types = Vec::new();
    for (id, entry) in entries.iter().enumerate() {
        if entry.kind == TypeKind::Data {
            data_index.insert(id, data_types.len());
            data_ids.push(id);
            data_types.push(DataTypeInfo {
                name: entry.def.name.name.clone(),
                profile: entry.profile.clone(),
                location: entry.def.name.location.clone(),
                parent: None,
                base: None,
                properties: Vec::new(),
                entry: None,
                key: None,
                scalar: None,
                validations: Vec::new(),
            });
        }
    }
    let count = entries.len();
    let mut types = Types {
        entries,
        resolved: vec![Resolved::default(); count],
        scopes,
        data_types,
        repositories,
        data_index,
        data_ids,
        done: vec![false; count],
    };
    types.resolve_parents(diagnostics);
    types.break_cycles(diagnostics);
    for id in 0..count {
        types.flatten(id, diagnostics);
    }
    types.check_capability_names(diagnostics);
    types.check_definition_values(diagnostics);
    types.check_type_artifacts(diagnostics);
    types
}

impl Types {
    pub fn name(&self, id: TypeId) -> &str {
        &self.entries[id].def.name.name
    }

    pub fn kind(&self, id: TypeId) -> TypeKind {
        self.entries[id].kind
    }

    /// `node type "Web"`.
    pub fn describe(&self, id: TypeId) -> String {
        format!("{} \"{}\"", self.kind(id).label(), self.name(id))
    }

    /// The type and its ancestors, nearest first.
    pub fn lineage(&self, id: TypeId) -> Vec<TypeName> {
        self.ancestry(id)
            .map(|t| TypeName {
                name: self.name(t).to_string(),
                profile: self.entries[t].profile.clone(),
            })
            .collect()
    }

    pub(crate) fn ancestry(&self, id: TypeId) -> impl Iterator<Item = TypeId> + '_ {
        std::iter::successors(Some(id), |&t| self.entries[t].parent)
    }

    /// True when `id` is `ancestor` or derives from it.
    pub fn derives_from(&self, id: TypeId, ancestor: TypeId) -> bool {
        self.ancestry(id).any(|t| t == ancestor)
    }

    pub fn resolved(&self, id: TypeId) -> &Resolved {
        &self.resolved[id]
    }

    /// Resolves a type name written in `file`, reporting unknown and ambiguous names.
    /// `context` says where the name is used, e.g. `node template "web"`.
    pub fn lookup(
        &self,
        file: usize,
        kind: TypeKind,
        name: &Named,
        context: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<TypeId> {
        let scope = &self.scopes[file];
        match scope.lookup(kind, &name.name) {
            Lookup::Found(id) => Some(id),
            Lookup::Ambiguous(ids) => {
                let places: Vec<String> = ids
                    .iter()
                    .map(|&id| self.entries[id].def.name.location.to_string())
                    .collect();
                diagnostics.error(
                    &name.location,
                    format!(
                        "ambiguous {} name \"{}\" in {context}: it names the types defined at {}; import one of their files with a namespace (§6.8.4)",
                        kind.label(),
                        name.name,
                        places.join(" and ")
                    ),
                );
                None
            }
            Lookup::Unknown => {
                let mut known: Vec<&str> = scope.names(kind).collect();
                if kind == TypeKind::Data {
                    known.extend(Builtin::ALL.iter().map(|b| b.name()));
                }
                let other_kind = TypeKind::ALL.into_iter().find(|&k| {
                    k != kind && !matches!(scope.lookup(k, &name.name), Lookup::Unknown)
                });
                let note = match other_kind {
                    Some(other) => format!(" (\"{}\" is a {})", name.name, other.label()),
                    None => did_you_mean(&name.name, known.iter().copied()),
                };
                diagnostics.error(
                    &name.location,
                    format!(
                        "unknown {} \"{}\" in {context}{note}; known {}s: {}",
                        kind.label(),
                        name.name,
                        kind.label(),
                        known_list(known)
                    ),
                );
                None
            }
        }
    }

    /// A data type name: a built-in, or a data type visible in `file`.
    pub fn lookup_data(
        &self,
        file: usize,
        name: &Named,
        context: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<DataTypeRef> {
        if let Some(builtin) = Builtin::from_name(&name.name) {
            return Some(DataTypeRef::Builtin(builtin));
        }
        let id = self.lookup(file, TypeKind::Data, name, context, diagnostics)?;
        self.data_index.get(&id).map(|&i| DataTypeRef::Defined(i))
    }

    pub(super) fn data_id(&self, index: usize) -> Option<TypeId> {
        self.data_ids.get(index).copied()
    }

    /// The built-in a data type derives from, if any.
    pub fn data_base(&self, data: DataTypeRef) -> Option<Builtin> {
        match data {
            DataTypeRef::Builtin(b) => Some(b),
            DataTypeRef::Defined(index) => {
                let id = self.data_id(index)?;
                self.ancestry(id)
                    .find_map(|t| self.entries[t].builtin_parent)
            }
        }
    }

    /// True when a user data type has an entry schema somewhere in its derivation.
    pub(super) fn data_has_entry_schema(&self, data: DataTypeRef) -> bool {
        match data {
            DataTypeRef::Builtin(_) => false,
            DataTypeRef::Defined(index) => self.data_id(index).is_some_and(|id| {
                self.ancestry(id)
                    .any(|t| self.entries[t].def.entry_schema.is_some())
            }),
        }
    }

    /// True when data type `a` is `b` or derives from it.
    pub fn data_derives_from(&self, a: DataTypeRef, b: DataTypeRef) -> bool {
        if a == b {
            return true;
        }
        match (a, b) {
            (DataTypeRef::Defined(index), _) => {
                let Some(id) = self.data_id(index) else {
                    return false;
                };
                self.ancestry(id).any(|t| {
                    let here = DataTypeRef::Defined(self.data_index[&t]);
                    here == b || self.entries[t].builtin_parent.map(DataTypeRef::Builtin) == Some(b)
                })
            }
            _ => false,
        }
    }

    fn resolve_parents(&mut self, diagnostics: &mut Diagnostics) {
        for id in 0..self.entries.len() {
            let entry = &self.entries[id];
            let Some(derived_from) = entry.def.derived_from.clone() else {
                continue;
            };
            let (kind, file) = (entry.kind, entry.file);
            let context = format!("derived_from of {}", self.describe(id));
            if kind == TypeKind::Data {
                if let Some(builtin) = Builtin::from_name(&derived_from.name) {
                    self.entries[id].builtin_parent = Some(builtin);
                    continue;
                }
            }
            let parent = self.lookup(file, kind, &derived_from, &context, diagnostics);
            self.entries[id].parent = parent;
        }
    }

    /// Reports each derivation cycle once and cuts it, so that later stages terminate.
    fn break_cycles(&mut self, diagnostics: &mut Diagnostics) {
        let mut checked = vec![false; self.entries.len()];
        for start in 0..self.entries.len() {
            let mut path = Vec::new();
            let mut current = Some(start);
            while let Some(id) = current {
                if checked[id] {
                    break;
                }
                if let Some(position) = path.iter().position(|&p| p == id) {
                    let cycle: Vec<TypeId> = path[position..].to_vec();
                    let mut names: Vec<String> = cycle
                        .iter()
                        .map(|&t| format!("\"{}\"", self.name(t)))
                        .collect();
                    names.push(format!("\"{}\"", self.name(id)));
                    let first = cycle[0];
                    let at = self.entries[first]
                        .def
                        .derived_from
                        .as_ref()
                        .map(|d| d.location.clone())
                        .unwrap_or_else(|| self.entries[first].def.name.location.clone());
                    diagnostics.error(
                        &at,
                        format!(
                            "derivation cycle among {}s: {} (a type cannot derive from itself)",
                            self.kind(first).label(),
                            names.join(" derives from ")
                        ),
                    );
                    for member in cycle {
                        self.entries[member].parent = None;
                    }
                    break;
                }
                path.push(id);
                current = self.entries[id].parent;
            }
            for id in path {
                checked[id] = true;
            }
        }
    }

    pub(super) fn flatten(&mut self, id: TypeId, diagnostics: &mut Diagnostics) {
        if self.done[id] {
            return;
        }
        self.done[id] = true;
        let inherited = match self.entries[id].parent {
            Some(parent) => {
                self.flatten(parent, diagnostics);
                self.resolved[parent].clone()
            }
            None => Resolved::default(),
        };
        let def = self.entries[id].def.clone();
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let mut resolved = inherited.clone();
        resolved.properties = self.value_defs(
            file,
            &def.properties,
            &inherited.properties,
            DefLabel::Property,
            &owner,
            true,
            diagnostics,
        );
        resolved.attributes = self.value_defs(
            file,
            &def.attributes,
            &inherited.attributes,
            DefLabel::Attribute,
            &owner,
            true,
            diagnostics,
        );
        self.restrictions(file, &def, &mut resolved, &owner, diagnostics);
        for trigger in &def.triggers {
            if inherited.triggers.contains(&trigger.name.name) {
                diagnostics.error(
                    &trigger.name.location,
                    format!(
                        "trigger \"{}\" of {owner} is inherited, and a derived policy type cannot change an inherited trigger, only add new ones (§16.3)",
                        trigger.name.name
                    ),
                );
            } else {
                resolved.triggers.push(trigger.name.name.clone());
            }
        }
        resolved.interfaces = self.interface_definitions(
            file,
            &def.interfaces,
            &inherited.interfaces,
            &owner,
            diagnostics,
        );
        if def.kind == TypeKind::Interface {
            let parent = self.entries[id]
                .parent
                .map(|p| self.resolved[p].interface.clone());
            resolved.interface = self.interface_type_body(id, parent.as_ref(), diagnostics);
        }
        let attributes: Vec<&str> = resolved
            .attributes
            .iter()
            .chain(&resolved.properties)
            .map(|d| d.name.as_str())
            .collect();
        check_interface_scope(&def, &owner, &attributes, diagnostics);
        match def.kind {
            TypeKind::Node => {
                resolved.capabilities =
                    self.capabilities(id, &def, &inherited.capabilities, diagnostics);
                resolved.requirements =
                    self.requirements(id, &def, &inherited.requirements, diagnostics);
            }
            TypeKind::Data => self.data_type(id, &def, diagnostics),
            _ => {}
        }
        if def.kind == TypeKind::Node {
            resolved.artifacts = self.artifacts(
                file,
                &def.artifacts,
                &inherited.artifacts,
                &owner,
                diagnostics,
            );
        }
        self.resolved[id] = resolved;
    }
}
