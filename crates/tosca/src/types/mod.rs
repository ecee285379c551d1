//! The type table: every type of every file, its parent (§6.4.2), derivation cycles, and the
//! flattened definitions each type inherits and refines (properties, attributes, capabilities,
//! requirements, interfaces; §7.1, §7.3, §8.1, §9.2).

use crate::ast::{
    CountRange, Named, PropertyDef, RelationshipDef, RequirementDef, SchemaDef, TypeDef, TypeKind,
};
use crate::catalog::Catalog;
use crate::diagnostic::{did_you_mean, known_list, Diagnostics};
use crate::model::{
    Builtin, DataTypeInfo, DataTypeRef, Expr, PropertyDefinition, ScalarUnits, Schema, TypeName,
};
use crate::names::{build_scopes, Lookup, Scope, TypeId};
use std::collections::HashMap;

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
    pub interfaces: Vec<String>,
    pub valid_source_node_types: Option<Vec<TypeId>>,
    pub valid_target_node_types: Option<Vec<TypeId>>,
    pub valid_capability_types: Option<Vec<TypeId>>,
    pub valid_relationship_types: Option<Vec<TypeId>>,
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

    fn ancestry(&self, id: TypeId) -> impl Iterator<Item = TypeId> + '_ {
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

    fn data_id(&self, index: usize) -> Option<TypeId> {
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
    fn data_has_entry_schema(&self, data: DataTypeRef) -> bool {
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

    fn flatten(&mut self, id: TypeId, diagnostics: &mut Diagnostics) {
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
        let names =
            |this: &Self, list: &Option<Vec<Named>>, kind: TypeKind, d: &mut Diagnostics| {
                list.as_ref().map(|names| {
                    names
                        .iter()
                        .filter_map(|n| this.lookup(file, kind, n, &owner, d))
                        .collect::<Vec<_>>()
                })
            };
        if let Some(list) = names(
            self,
            &def.valid_source_node_types,
            TypeKind::Node,
            diagnostics,
        ) {
            resolved.valid_source_node_types = Some(list);
        }
        if let Some(list) = names(
            self,
            &def.valid_target_node_types,
            TypeKind::Node,
            diagnostics,
        ) {
            resolved.valid_target_node_types = Some(list);
        }
        if let Some(list) = names(
            self,
            &def.valid_capability_types,
            TypeKind::Capability,
            diagnostics,
        ) {
            resolved.valid_capability_types = Some(list);
        }
        if let Some(list) = names(
            self,
            &def.valid_relationship_types,
            TypeKind::Relationship,
            diagnostics,
        ) {
            resolved.valid_relationship_types = Some(list);
        }
        names(self, &def.members, TypeKind::Node, diagnostics);
        if let Some(targets) = &def.targets {
            for target in targets {
                let scope = &self.scopes[file];
                if matches!(
                    scope.lookup(TypeKind::Group, &target.name),
                    Lookup::Found(_)
                ) {
                    continue;
                }
                self.lookup(file, TypeKind::Node, target, &owner, diagnostics);
            }
        }
        for interface in &def.interfaces {
            let what = format!("interface \"{}\" of {owner}", interface.name.name);
            match &interface.type_name {
                Some(type_name) => {
                    self.lookup(file, TypeKind::Interface, type_name, &what, diagnostics);
                }
                None if !inherited.interfaces.contains(&interface.name.name) => diagnostics.error(
                    &interface.name.location,
                    format!("{what} needs a type (§11.2)"),
                ),
                None => {}
            }
            if !resolved.interfaces.contains(&interface.name.name) {
                resolved.interfaces.push(interface.name.name.clone());
            }
        }
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
        self.resolved[id] = resolved;
    }

    /// Applies own definitions to inherited ones: refinements of existing names and (when
    /// `allow_new`) new definitions.
    #[allow(clippy::too_many_arguments)]
    pub fn value_defs(
        &mut self,
        file: usize,
        own: &[PropertyDef],
        inherited: &[PropertyDefinition],
        label: DefLabel,
        owner: &str,
        allow_new: bool,
        diagnostics: &mut Diagnostics,
    ) -> Vec<PropertyDefinition> {
        let mut out = inherited.to_vec();
        for def in own {
            let what = if label.is_parameter() {
                format!("{} \"{}\"", label.label(), def.name.name)
            } else {
                format!("{} \"{}\" of {owner}", label.label(), def.name.name)
            };
            match out.iter_mut().find(|d| d.name == def.name.name) {
                Some(parent) => *parent = self.refine(file, parent, def, &what, diagnostics),
                None if !allow_new => diagnostics.error(
                    &def.name.location,
                    format!(
                        "{what} refines nothing: its type does not define a {} \"{}\", and new ones cannot be added here; defined: {}",
                        label.label(),
                        def.name.name,
                        known_list(inherited.iter().map(|d| d.name.as_str()))
                    ),
                ),
                None => out.push(self.new_value_def(file, def, label, &what, diagnostics)),
            }
        }
        out
    }

    fn new_value_def(
        &mut self,
        file: usize,
        def: &PropertyDef,
        label: DefLabel,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> PropertyDefinition {
        let schema = match &def.type_name {
            Some(type_name) => self.schema(
                file,
                type_name,
                def.entry_schema.as_ref(),
                def.key_schema.as_ref(),
                def.validation.as_ref(),
                what,
                diagnostics,
            ),
            None => {
                let is_short_form = def.value.is_some()
                    && def.description.is_none()
                    && def.required.is_none()
                    && def.default.is_none();
                if is_short_form && !label.is_parameter() {
                    diagnostics.error(
                        &def.name.location,
                        format!(
                            "{what} is not inherited, so it needs a full definition with a type; the short form \"name: value\" only refines an inherited {} (§9.4)",
                            label.label()
                        ),
                    );
                } else if !label.is_parameter() {
                    diagnostics.error(
                        &def.name.location,
                        format!("{what} needs a type (§9.4, §9.6)"),
                    );
                }
                None
            }
        };
        let required = def.required.unwrap_or(label != DefLabel::Attribute);
        if !required && def.default.is_some() && label != DefLabel::Attribute {
            diagnostics.warning(
                &def.name.location,
                format!(
                    "{what} is not required, so its default is never used (a non-required {} without a value stays undefined, §9.5)",
                    label.label()
                ),
            );
        }
        PropertyDefinition {
            name: def.name.name.clone(),
            location: def.name.location.clone(),
            schema,
            description: def.description.clone(),
            required,
            default: def.default.clone(),
            value: def.value.clone(),
        }
    }

    fn refine(
        &mut self,
        file: usize,
        parent: &PropertyDefinition,
        def: &PropertyDef,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> PropertyDefinition {
        if parent.value.is_some() {
            diagnostics.error(
                &def.name.location,
                format!(
                    "{what} cannot be refined: its value is fixed (the value keyname) where it is inherited from (§9.4)"
                ),
            );
            return parent.clone();
        }
        let mut refined = parent.clone();
        refined.location = def.name.location.clone();
        if let Some(type_name) = &def.type_name {
            let schema = self.schema(
                file,
                type_name,
                def.entry_schema.as_ref(),
                def.key_schema.as_ref(),
                def.validation.as_ref(),
                what,
                diagnostics,
            );
            if let (Some(new), Some(old)) = (&schema, &parent.schema) {
                if !self.data_derives_from(new.data_type, old.data_type) {
                    diagnostics.error(
                        &type_name.location,
                        format!(
                            "{what} refines the type \"{}\" to \"{}\", which does not derive from it (§9.4)",
                            old.type_name, new.type_name
                        ),
                    );
                }
            }
            if schema.is_some() {
                refined.schema = schema;
            }
        } else if let Some(mut schema) = refined.schema.clone() {
            if let Some(entry) = &def.entry_schema {
                let parent_entry = schema.entry.clone();
                schema.entry = self
                    .refine_schema(
                        file,
                        parent_entry.as_deref(),
                        entry,
                        &format!("the entry_schema of {what}"),
                        diagnostics,
                    )
                    .map(Box::new);
            }
            if let Some(key) = &def.key_schema {
                let parent_key = schema.key.clone();
                schema.key = self
                    .refine_schema(
                        file,
                        parent_key.as_deref(),
                        key,
                        &format!("the key_schema of {what}"),
                        diagnostics,
                    )
                    .map(Box::new);
            }
            if let Some(validation) = &def.validation {
                schema.validations.push(validation.clone());
            }
            refined.schema = Some(schema);
        }
        if let Some(required) = def.required {
            if parent.required && !required {
                diagnostics.error(
                    &def.name.location,
                    format!(
                        "{what} cannot be made optional: it is required where it is inherited from (§9.4)"
                    ),
                );
            } else {
                refined.required = required;
            }
        }
        if def.description.is_some() {
            refined.description = def.description.clone();
        }
        if def.default.is_some() {
            refined.default = def.default.clone();
        }
        if def.value.is_some() {
            refined.value = def.value.clone();
        }
        refined
    }

    /// The schema of a value definition: its type with entry and key schemas (§9.3).
    #[allow(clippy::too_many_arguments)]
    pub fn schema(
        &mut self,
        file: usize,
        type_name: &Named,
        entry: Option<&SchemaDef>,
        key: Option<&SchemaDef>,
        validation: Option<&Expr>,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<Schema> {
        let data_type =
            self.lookup_data(file, type_name, &format!("the type of {what}"), diagnostics)?;
        let base = self.data_base(data_type);
        let mut schema = Schema {
            data_type,
            type_name: type_name.name.clone(),
            entry: None,
            key: None,
            validations: validation.cloned().into_iter().collect(),
        };
        match entry {
            Some(entry) if !base.is_some_and(Builtin::is_collection) => diagnostics.error(
                &entry.location,
                format!(
                    "{what} has type \"{}\", which is not a list or map, so it cannot have an entry_schema (§9.4)",
                    type_name.name
                ),
            ),
            Some(entry) => {
                schema.entry = self
                    .schema_def(file, entry, &format!("the entry_schema of {what}"), diagnostics)
                    .map(Box::new)
            }
            None if base.is_some_and(Builtin::is_collection)
                && !self.data_has_entry_schema(data_type) =>
            {
                diagnostics.error(
                    &type_name.location,
                    format!(
                        "{what} has type \"{}\" and needs an entry_schema giving the type of its entries (§9.4)",
                        type_name.name
                    ),
                )
            }
            None => {}
        }
        if let Some(key) = key {
            if base != Some(Builtin::Map) {
                diagnostics.error(
                    &key.location,
                    format!(
                        "{what} has type \"{}\", which is not a map, so it cannot have a key_schema (§9.4)",
                        type_name.name
                    ),
                );
            } else {
                schema.key = self
                    .schema_def(file, key, &format!("the key_schema of {what}"), diagnostics)
                    .map(Box::new);
                if let Some(key_schema) = &schema.key {
                    if self.data_base(key_schema.data_type) != Some(Builtin::String) {
                        diagnostics.error(
                            &key.location,
                            format!(
                                "the key_schema of {what} has type \"{}\"; map keys are strings, so it must be string or derive from it (§9.3)",
                                key_schema.type_name
                            ),
                        );
                    }
                }
            }
        }
        Some(schema)
    }

    fn schema_def(
        &mut self,
        file: usize,
        def: &SchemaDef,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<Schema> {
        self.refine_schema(file, None, def, what, diagnostics)
    }

    /// A schema definition, or the refinement of `parent` by one (§9.3): a refinement may
    /// leave out the type, keeping the parent's, and adds its validation to the parent's.
    fn refine_schema(
        &mut self,
        file: usize,
        parent: Option<&Schema>,
        def: &SchemaDef,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<Schema> {
        match (&def.type_name, parent) {
            (Some(type_name), _) => {
                let schema = self.schema(
                    file,
                    type_name,
                    def.entry_schema.as_deref(),
                    def.key_schema.as_deref(),
                    def.validation.as_ref(),
                    what,
                    diagnostics,
                )?;
                if let Some(parent) = parent {
                    if !self.data_derives_from(schema.data_type, parent.data_type) {
                        diagnostics.error(
                            &type_name.location,
                            format!(
                                "{what} refines the type \"{}\" to \"{}\", which does not derive from it (§9.3)",
                                parent.type_name, schema.type_name
                            ),
                        );
                    }
                }
                Some(schema)
            }
            (None, Some(parent)) => {
                let mut schema = parent.clone();
                schema.validations.extend(def.validation.clone());
                if let Some(entry) = &def.entry_schema {
                    schema.entry = self
                        .refine_schema(
                            file,
                            parent.entry.as_deref(),
                            entry,
                            &format!("the entry_schema of {what}"),
                            diagnostics,
                        )
                        .map(Box::new);
                }
                if let Some(key) = &def.key_schema {
                    schema.key = self
                        .refine_schema(
                            file,
                            parent.key.as_deref(),
                            key,
                            &format!("the key_schema of {what}"),
                            diagnostics,
                        )
                        .map(Box::new);
                }
                Some(schema)
            }
            (None, None) => {
                diagnostics.error(&def.location, format!("{what} needs a type (§9.3)"));
                None
            }
        }
    }

    fn capabilities(
        &mut self,
        id: TypeId,
        def: &TypeDef,
        inherited: &[CapabilitySpec],
        diagnostics: &mut Diagnostics,
    ) -> Vec<CapabilitySpec> {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let mut out = inherited.to_vec();
        for cap in &def.capabilities {
            let what = format!("capability \"{}\" of {owner}", cap.name.name);
            let parent = out.iter().position(|c| c.name == cap.name.name);
            let type_id = match &cap.type_name {
                Some(type_name) => {
                    let Some(type_id) =
                        self.lookup(file, TypeKind::Capability, type_name, &what, diagnostics)
                    else {
                        continue;
                    };
                    if let Some(p) = parent {
                        let old = out[p].type_id;
                        if !self.derives_from(type_id, old) {
                            diagnostics.error(
                                &type_name.location,
                                format!(
                                    "{what} refines the capability type \"{}\" to \"{}\", which does not derive from it (§8.2.1)",
                                    self.name(old),
                                    type_name.name
                                ),
                            );
                        }
                    }
                    type_id
                }
                None => match parent {
                    Some(p) => out[p].type_id,
                    None => {
                        diagnostics
                            .error(&cap.name.location, format!("{what} needs a type (§8.2)"));
                        continue;
                    }
                },
            };
            self.flatten(type_id, diagnostics);
            let (base_properties, base_attributes, base_sources, base_relationships) = match parent
            {
                Some(p) if out[p].type_id == type_id => (
                    out[p].properties.clone(),
                    out[p].attributes.clone(),
                    out[p].valid_source_node_types.clone(),
                    out[p].valid_relationship_types.clone(),
                ),
                _ => {
                    let r = &self.resolved[type_id];
                    (
                        r.properties.clone(),
                        r.attributes.clone(),
                        r.valid_source_node_types.clone(),
                        r.valid_relationship_types.clone(),
                    )
                }
            };
            let properties = self.value_defs(
                file,
                &cap.properties,
                &base_properties,
                DefLabel::Property,
                &what,
                false,
                diagnostics,
            );
            let attributes = self.value_defs(
                file,
                &cap.attributes,
                &base_attributes,
                DefLabel::Attribute,
                &what,
                false,
                diagnostics,
            );
            let mut lookup_all = |names: &Option<Vec<Named>>, kind: TypeKind| {
                names.as_ref().map(|names| {
                    names
                        .iter()
                        .filter_map(|n| self.lookup(file, kind, n, &what, diagnostics))
                        .collect::<Vec<_>>()
                })
            };
            let sources = lookup_all(&cap.valid_source_node_types, TypeKind::Node).or(base_sources);
            let relationships = lookup_all(&cap.valid_relationship_types, TypeKind::Relationship)
                .or(base_relationships);
            let spec = CapabilitySpec {
                name: cap.name.name.clone(),
                type_id,
                properties,
                attributes,
                valid_source_node_types: sources,
                valid_relationship_types: relationships,
            };
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    fn requirements(
        &mut self,
        id: TypeId,
        def: &TypeDef,
        inherited: &[RequirementSpec],
        diagnostics: &mut Diagnostics,
    ) -> Vec<RequirementSpec> {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let mut out = inherited.to_vec();
        let mut seen: Vec<&str> = Vec::new();
        for req in &def.requirements {
            let what = format!("requirement \"{}\" of {owner}", req.name.name);
            if seen.contains(&req.name.name.as_str()) {
                diagnostics.error(
                    &req.name.location,
                    format!("{what} is defined twice; requirement names are unique in a node type (§8.4)"),
                );
                continue;
            }
            seen.push(&req.name.name);
            let parent = out.iter().position(|r| r.name == req.name.name);
            let spec = self.requirement(
                file,
                req,
                parent.map(|p| &out[p]).cloned(),
                &what,
                diagnostics,
            );
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    fn requirement(
        &mut self,
        file: usize,
        req: &RequirementDef,
        parent: Option<RequirementSpec>,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> RequirementSpec {
        let node = match &req.node {
            Some(node) => self.lookup(file, TypeKind::Node, node, what, diagnostics),
            None => parent.as_ref().and_then(|p| p.node),
        };
        if let (Some(node), Some(old)) = (node, parent.as_ref().and_then(|p| p.node)) {
            if !self.derives_from(node, old) {
                diagnostics.error(
                    &req.node.as_ref().map(|n| n.location.clone()).unwrap_or_default(),
                    format!(
                        "{what} refines its node to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                        self.name(node),
                        self.name(old)
                    ),
                );
            }
        }
        let capability = match &req.capability {
            Some(capability) => {
                let scope = &self.scopes[file];
                match scope.lookup(TypeKind::Capability, &capability.name) {
                    Lookup::Unknown if node.is_some() => {
                        Some(CapabilityRef::Name(capability.name.clone()))
                    }
                    _ => self
                        .lookup(
                            file,
                            TypeKind::Capability,
                            capability,
                            &format!("the capability of {what}"),
                            diagnostics,
                        )
                        .map(CapabilityRef::Type),
                }
            }
            None => {
                let inherited = parent.as_ref().and_then(|p| p.capability.clone());
                if inherited.is_none() && parent.is_none() {
                    diagnostics.error(
                        &req.name.location,
                        format!("{what} needs a capability (a capability type, §8.4)"),
                    );
                }
                inherited
            }
        };
        if let (Some(CapabilityRef::Type(new)), Some(Some(CapabilityRef::Type(old)))) =
            (&capability, parent.as_ref().map(|p| p.capability.clone()))
        {
            if !self.derives_from(*new, old) {
                diagnostics.error(
                    &req.capability.as_ref().map(|c| c.location.clone()).unwrap_or_default(),
                    format!(
                        "{what} refines its capability to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                        self.name(*new),
                        self.name(old)
                    ),
                );
            }
        }
        let relationship = match &req.relationship {
            Some(rel) => self.relationship_spec(
                file,
                rel,
                parent.as_ref().and_then(|p| p.relationship.clone()),
                what,
                diagnostics,
            ),
            None => {
                if parent.is_none() && !req.short_form {
                    diagnostics.error(
                        &req.name.location,
                        format!("{what} needs a relationship (a relationship type, §8.4)"),
                    );
                }
                parent.as_ref().and_then(|p| p.relationship.clone())
            }
        };
        let parent_range = parent.as_ref().map(|p| p.count_range);
        let count_range = match (req.count_range, parent_range) {
            (Some(range), Some(old)) => {
                let within = range.min >= old.min
                    && match (range.max, old.max) {
                        (_, None) => true,
                        (Some(max), Some(old_max)) => max <= old_max,
                        (None, Some(_)) => false,
                    };
                if !within {
                    diagnostics.error(
                        &req.name.location,
                        format!(
                            "{what} refines count_range to {range}, which is not within the inherited {old} (§8.4.1)"
                        ),
                    );
                }
                range
            }
            (Some(range), None) => range,
            (None, Some(old)) => old,
            (None, None) => CountRange::default(),
        };
        RequirementSpec {
            name: req.name.name.clone(),
            capability,
            node,
            relationship,
            count_range,
        }
    }

    fn relationship_spec(
        &mut self,
        file: usize,
        rel: &RelationshipDef,
        parent: Option<RelationshipSpec>,
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<RelationshipSpec> {
        let what = format!("the relationship of {owner}");
        let type_id = match &rel.type_name {
            Some(type_name) => {
                let id =
                    self.lookup(file, TypeKind::Relationship, type_name, &what, diagnostics)?;
                if let Some(old) = parent.as_ref().map(|p| p.type_id) {
                    if !self.derives_from(id, old) {
                        diagnostics.error(
                            &type_name.location,
                            format!(
                                "{what} refines the relationship type to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                                type_name.name,
                                self.name(old)
                            ),
                        );
                    }
                }
                id
            }
            None => match &parent {
                Some(p) => p.type_id,
                None => {
                    diagnostics.error(&rel.location, format!("{what} needs a type (§8.4)"));
                    return None;
                }
            },
        };
        self.flatten(type_id, diagnostics);
        let (base_properties, base_attributes) = match &parent {
            Some(p) if p.type_id == type_id => (p.properties.clone(), p.attributes.clone()),
            _ => (
                self.resolved[type_id].properties.clone(),
                self.resolved[type_id].attributes.clone(),
            ),
        };
        for interface in &rel.interfaces {
            if let Some(type_name) = &interface.type_name {
                self.lookup(file, TypeKind::Interface, type_name, &what, diagnostics);
            }
        }
        let properties = self.value_defs(
            file,
            &rel.properties,
            &base_properties,
            DefLabel::Property,
            &what,
            false,
            diagnostics,
        );
        let attributes = self.value_defs(
            file,
            &rel.attributes,
            &base_attributes,
            DefLabel::Attribute,
            &what,
            false,
            diagnostics,
        );
        Some(RelationshipSpec {
            type_id,
            properties,
            attributes,
        })
    }

    fn data_type(&mut self, id: TypeId, def: &TypeDef, diagnostics: &mut Diagnostics) {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let index = self.data_index[&id];
        let parent_info = self.entries[id]
            .parent
            .and_then(|p| self.data_index.get(&p))
            .map(|&i| self.data_types[i].clone());
        let builtin_parent = self.entries[id].builtin_parent;
        let base = builtin_parent.or(parent_info.as_ref().and_then(|p| p.base));
        if def.derived_from.is_none() && def.properties.is_empty() {
            diagnostics.error(
                &def.name.location,
                format!("{owner} needs derived_from or at least one property definition (§9.2)"),
            );
        }
        if base.is_some() && !def.properties.is_empty() {
            diagnostics.error(
                &def.name.location,
                format!(
                    "{owner} derives from the built-in type \"{}\", so it cannot define properties (§9.2)",
                    base.map(Builtin::name).unwrap_or_default()
                ),
            );
        }
        let inherited = parent_info
            .as_ref()
            .map(|p| p.properties.clone())
            .unwrap_or_default();
        let properties = self.value_defs(
            file,
            &def.properties,
            &inherited,
            DefLabel::Property,
            &owner,
            true,
            diagnostics,
        );
        let mut entry = parent_info.as_ref().and_then(|p| p.entry.clone());
        if let Some(entry_def) = &def.entry_schema {
            if base.is_some_and(Builtin::is_collection) {
                entry = self.schema_def(
                    file,
                    entry_def,
                    &format!("the entry_schema of {owner}"),
                    diagnostics,
                );
            } else {
                diagnostics.error(
                    &entry_def.location,
                    format!("{owner} does not derive from list or map, so it cannot have an entry_schema (§9.2)"),
                );
            }
        } else if base.is_some_and(Builtin::is_collection) && entry.is_none() {
            diagnostics.error(
                &def.name.location,
                format!(
                    "{owner} derives from {} and needs an entry_schema giving the type of its entries (§9.2)",
                    base.map(Builtin::name).unwrap_or_default()
                ),
            );
        }
        let mut key = parent_info.as_ref().and_then(|p| p.key.clone());
        if let Some(key_def) = &def.key_schema {
            if base == Some(Builtin::Map) {
                key = self.schema_def(
                    file,
                    key_def,
                    &format!("the key_schema of {owner}"),
                    diagnostics,
                );
            } else {
                diagnostics.error(
                    &key_def.location,
                    format!(
                        "{owner} does not derive from map, so it cannot have a key_schema (§9.2)"
                    ),
                );
            }
        }
        let mut scalar = parent_info.as_ref().and_then(|p| p.scalar.clone());
        if let Some(scalar_def) = &def.scalar {
            if base != Some(Builtin::Scalar) {
                diagnostics.error(
                    &scalar_def.location,
                    format!(
                        "{owner} does not derive from scalar, so it cannot have data_type, units, canonical_unit or prefixes (§9.1.2.2)"
                    ),
                );
            } else {
                let mut units = scalar.unwrap_or(ScalarUnits {
                    integer: false,
                    units: Vec::new(),
                    prefixes: Vec::new(),
                });
                if let Some(data_type) = &scalar_def.data_type {
                    if let Some(t) = self.lookup_data(
                        file,
                        data_type,
                        &format!("data_type of {owner}"),
                        diagnostics,
                    ) {
                        match self.data_base(t) {
                            Some(Builtin::Integer) => units.integer = true,
                            Some(Builtin::Float) => units.integer = false,
                            _ => diagnostics.error(
                                &data_type.location,
                                format!("the data_type of {owner} must be integer, float, or derive from them (§9.1.2.2)"),
                            ),
                        }
                    }
                }
                units.units.extend(scalar_def.units.iter().cloned());
                units.prefixes.extend(scalar_def.prefixes.iter().cloned());
                scalar = Some(units);
            }
        }
        if base == Some(Builtin::Scalar) && scalar.as_ref().is_none_or(|s| s.units.is_empty()) {
            diagnostics.error(
                &def.name.location,
                format!("{owner} derives from scalar and needs units (§9.1.2.2)"),
            );
        }
        let mut validations = parent_info
            .as_ref()
            .map(|p| p.validations.clone())
            .unwrap_or_default();
        validations.extend(def.validation.clone());
        let parent = match (builtin_parent, self.entries[id].parent) {
            (Some(b), _) => Some(DataTypeRef::Builtin(b)),
            (None, Some(p)) => self.data_index.get(&p).map(|&i| DataTypeRef::Defined(i)),
            (None, None) => None,
        };
        let info = &mut self.data_types[index];
        info.parent = parent;
        info.base = base;
        info.properties = properties;
        info.entry = entry;
        info.key = key;
        info.scalar = scalar;
        info.validations = validations;
    }

    /// Requirement definitions that name a capability of their target node type must name
    /// one that exists (checked once every node type is flattened).
    fn check_capability_names(&self, diagnostics: &mut Diagnostics) {
        for (id, entry) in self.entries.iter().enumerate() {
            for req in &entry.def.requirements {
                let Some(spec) = self.resolved[id]
                    .requirements
                    .iter()
                    .find(|r| r.name == req.name.name)
                else {
                    continue;
                };
                if let (Some(CapabilityRef::Name(name)), Some(node)) = (&spec.capability, spec.node)
                {
                    let capabilities = &self.resolved[node].capabilities;
                    if !capabilities.iter().any(|c| &c.name == name) {
                        diagnostics.error(
                            &req.capability.as_ref().map(|c| c.location.clone()).unwrap_or_default(),
                            format!(
                                "unknown capability \"{name}\" in requirement \"{}\" of {}: it is neither a capability type nor a capability of node type \"{}\" (which has: {})",
                                req.name.name,
                                self.describe(id),
                                self.name(node),
                                known_list(capabilities.iter().map(|c| c.name.as_str()))
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Checks the literal defaults and fixed values that each type writes itself.
    fn check_definition_values(&self, diagnostics: &mut Diagnostics) {
        let mut problems = Vec::new();
        for (id, entry) in self.entries.iter().enumerate() {
            let owner = self.describe(id);
            let resolved = &self.resolved[id];
            let mut defs: Vec<(&PropertyDefinition, String)> = Vec::new();
            let own =
                |defs: &[PropertyDefinition], own: &[PropertyDef]| -> Vec<PropertyDefinition> {
                    defs.iter()
                        .filter(|d| own.iter().any(|o| o.name.location == d.location))
                        .cloned()
                        .collect()
                };
            let properties = if entry.kind == TypeKind::Data {
                own(
                    &self.data_types[self.data_index[&id]].properties,
                    &entry.def.properties,
                )
            } else {
                own(&resolved.properties, &entry.def.properties)
            };
            let attributes = own(&resolved.attributes, &entry.def.attributes);
            for p in &properties {
                defs.push((p, format!("property \"{}\" of {owner}", p.name)));
            }
            for a in &attributes {
                defs.push((a, format!("attribute \"{}\" of {owner}", a.name)));
            }
            let mut nested = Vec::new();
            for cap in &entry.def.capabilities {
                if let Some(spec) = resolved
                    .capabilities
                    .iter()
                    .find(|c| c.name == cap.name.name)
                {
                    let what = format!("capability \"{}\" of {owner}", cap.name.name);
                    for p in own(&spec.properties, &cap.properties) {
                        nested.push((p.clone(), format!("property \"{}\" of {what}", p.name)));
                    }
                    for a in own(&spec.attributes, &cap.attributes) {
                        nested.push((a.clone(), format!("attribute \"{}\" of {what}", a.name)));
                    }
                }
            }
            for req in &entry.def.requirements {
                let (Some(spec), Some(rel)) = (
                    resolved
                        .requirements
                        .iter()
                        .find(|r| r.name == req.name.name),
                    &req.relationship,
                ) else {
                    continue;
                };
                if let Some(rel_spec) = &spec.relationship {
                    let what = format!(
                        "the relationship of requirement \"{}\" of {owner}",
                        req.name.name
                    );
                    for p in own(&rel_spec.properties, &rel.properties) {
                        nested.push((p.clone(), format!("property \"{}\" of {what}", p.name)));
                    }
                }
            }
            for (def, what) in defs
                .iter()
                .map(|(d, w)| ((*d).clone(), w.clone()))
                .chain(nested)
            {
                let Some(schema) = &def.schema else {
                    continue;
                };
                if let Some(default) = &def.default {
                    crate::values::check(
                        default,
                        schema,
                        &self.data_types,
                        &format!("the default of {what}"),
                        &mut problems,
                    );
                }
                if let Some(value) = &def.value {
                    crate::values::check(
                        value,
                        schema,
                        &self.data_types,
                        &format!("the value of {what}"),
                        &mut problems,
                    );
                }
            }
        }
        for problem in problems {
            diagnostics.error(&problem.location, problem.message);
        }
    }
}
