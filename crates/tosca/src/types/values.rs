//! Property, attribute and parameter definitions and their refinement (§9.4, §9.6, §9.8),
//! and schemas (§9.3).

use super::{DefLabel, Types};
use crate::ast::{Named, PropertyDef, SchemaDef};
use crate::diagnostic::{known_list, Diagnostics};
use crate::model::{Builtin, Expr, PropertyDefinition, Schema};

impl Types {
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
            let what = if owner.is_empty() {
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

    pub(super) fn new_value_def(
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

    pub(super) fn refine(
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
                if let Some(base) = self.data_base(schema.data_type) {
                    self.check_clause_types(validation, base, &schema.type_name, diagnostics);
                }
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
        if let (Some(clause), Some(base)) = (validation, base) {
            self.check_clause_types(clause, base, &type_name.name, diagnostics);
        }
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

    pub(crate) fn schema_def(
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
    pub(super) fn refine_schema(
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
                if let (Some(clause), Some(base)) =
                    (&def.validation, self.data_base(parent.data_type))
                {
                    self.check_clause_types(clause, base, &parent.type_name, diagnostics);
                }
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
}
