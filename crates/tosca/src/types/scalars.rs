//! The rules of scalar type definitions (§9.1.2.2): multipliers, prefixes, the canonical unit,
//! and what a derived scalar type may not change.

use super::Types;
use crate::ast::ScalarDef;
use crate::diagnostic::Diagnostics;
use crate::model::ScalarUnits;
use crate::names::TypeId;

impl Types {
    /// Checks the scalar keynames of data type `id` (`def`), whose units with inheritance are
    /// `units`; `parent` holds the inherited units, if any.
    pub(super) fn check_scalar(
        &self,
        id: TypeId,
        def: &ScalarDef,
        parent: Option<&ScalarUnits>,
        units: &ScalarUnits,
        diagnostics: &mut Diagnostics,
    ) {
        let owner = self.describe(id);
        let at = &def.location;
        let inherited_canonical = self
            .ancestry(id)
            .skip(1)
            .find_map(|t| self.entries[t].def.scalar.as_ref()?.canonical_unit.clone());
        if let (Some(parent), Some(data_type)) = (parent, &def.data_type) {
            let integer = data_type.name == "integer";
            if parent.integer != integer && matches!(data_type.name.as_str(), "integer" | "float") {
                diagnostics.error(
                    &data_type.location,
                    format!("{owner} changes the data_type it inherits; a derived scalar type must not modify data_type (§9.1.2.2)"),
                );
            }
        }
        if let (Some(canonical), Some(inherited)) = (&def.canonical_unit, &inherited_canonical) {
            if canonical.name != inherited.name {
                diagnostics.error(
                    &canonical.location,
                    format!(
                        "{owner} changes the canonical_unit \"{}\" it inherits; a derived scalar type must not add or modify canonical_unit (§9.1.2.2)",
                        inherited.name
                    ),
                );
            }
        } else if let (Some(canonical), Some(_)) = (&def.canonical_unit, parent) {
            diagnostics.error(
                &canonical.location,
                format!("{owner} adds a canonical_unit to the scalar type it derives from; a derived scalar type must not add canonical_unit (§9.1.2.2)"),
            );
        }
        if units.units.is_empty() {
            return;
        }
        let ones = units.units.iter().filter(|(_, m)| *m == 1.0).count();
        if ones == 0 {
            diagnostics.error(at, format!("{owner} has no unit with the multiplier 1; at least one unit must have it (§9.1.2.2)"));
        }
        if units.integer {
            for (name, multiplier) in &units.units {
                if multiplier.fract() != 0.0 {
                    diagnostics.error(
                        at,
                        format!("unit \"{name}\" of {owner} has the multiplier {multiplier}, but the data_type is integer, so multipliers must be integers (§9.1.2.2)"),
                    );
                }
            }
        }
        // §9.1.2.2 asks for a single unit when prefixes are used, but its own example
        // (Bitrate in #s70) has two; prefixed multiples of each unit are well defined.
        if !units.prefixes.is_empty() && (units.units.len() != 1 || ones != 1) {
            diagnostics.warning(
                at,
                format!("{owner} has prefixes and more than one unit; §9.1.2.2 asks for exactly one unit, with the multiplier 1, when prefixes are used"),
            );
        }
        let canonical = def.canonical_unit.as_ref().or(inherited_canonical.as_ref());
        if ones > 1 && canonical.is_none() {
            diagnostics.error(
                at,
                format!("{owner} has {ones} units with the multiplier 1, so it needs a canonical_unit naming one of them (§9.1.2.2)"),
            );
        }
        if let Some(canonical) = &def.canonical_unit {
            let known = units.units.iter().any(|(u, _)| u == &canonical.name)
                || units.prefixes.iter().any(|(p, _)| {
                    canonical
                        .name
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| units.units.iter().any(|(u, _)| u == rest))
                });
            if !known {
                let names: Vec<&str> = units.units.iter().map(|(u, _)| u.as_str()).collect();
                diagnostics.error(
                    &canonical.location,
                    format!(
                        "the canonical_unit \"{}\" of {owner} is not one of its units: {} (§9.1.2.2)",
                        canonical.name,
                        names.join(", ")
                    ),
                );
            }
        }
    }
}
