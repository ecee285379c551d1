//! Data types (§9.2, §9.1.2.2) and the check of the literal values that types write.

use super::{DefLabel, Types};
use crate::ast::{PropertyDef, TypeDef, TypeKind};
use crate::diagnostic::Diagnostics;
use crate::model::{Builtin, DataTypeRef, PropertyDefinition, ScalarUnits};
use crate::names::TypeId;

impl Types {
    pub(super) fn data_type(&mut self, id: TypeId, def: &TypeDef, diagnostics: &mut Diagnostics) {
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
                let parent_units = parent_info.as_ref().and_then(|p| p.scalar.as_ref());
                self.check_scalar(id, scalar_def, parent_units, &units, diagnostics);
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
        if let (Some(clause), Some(base)) = (&def.validation, base) {
            self.check_clause_types(clause, base, &def.name.name, diagnostics);
        }
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

    /// Checks the literal defaults and fixed values that each type writes itself.
    pub(super) fn check_definition_values(&self, diagnostics: &mut Diagnostics) {
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
