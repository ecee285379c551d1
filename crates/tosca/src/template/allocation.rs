//! Capability allocation (§8.5.5): an allocation names integer, float or scalar properties of
//! the target capability and gives values of their types.

use super::Compiler;
use crate::ast::{Named, RequirementAssignment, TypeKind};
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{Builtin, PropertyDefinition};
use crate::names::Lookup;
use crate::types::{CapabilityRef, RequirementSpec};

impl Compiler<'_> {
    /// The properties of the capability a dangling requirement needs: of its capability type
    /// (the assignment's, or the definition's).
    pub(super) fn required_capability_properties(
        &self,
        spec: &RequirementSpec,
        wanted: Option<&Named>,
    ) -> Option<Vec<PropertyDefinition>> {
        if let Some(wanted) = wanted {
            if let Lookup::Found(t) =
                self.types.scopes[self.file].lookup(TypeKind::Capability, &wanted.name)
            {
                return Some(self.types.resolved(t).properties.clone());
            }
        }
        match &spec.capability {
            Some(CapabilityRef::Type(t)) => Some(self.types.resolved(*t).properties.clone()),
            Some(CapabilityRef::Name(name)) => spec.node.and_then(|node| {
                self.types
                    .resolved(node)
                    .capabilities
                    .iter()
                    .find(|c| &c.name == name)
                    .map(|c| c.properties.clone())
            }),
            None => None,
        }
    }

    /// An allocation (§8.5.5) names properties of the target capability that hold integers,
    /// floats or scalars, and gives values of their types.
    pub(super) fn check_allocation(
        &mut self,
        assignment: &RequirementAssignment,
        properties: &[PropertyDefinition],
        what: &str,
    ) {
        for allocation in &assignment.allocation {
            let name = &allocation.name.name;
            let Some(property) = properties.iter().find(|p| &p.name == name) else {
                // §8.5.5 calls such an allocation statement invalid: it can never be
                // satisfied, so the capability is no target; the file itself stays valid.
                let names: Vec<&str> = properties.iter().map(|p| p.name.as_str()).collect();
                self.diagnostics.warning(
                    &allocation.name.location,
                    format!(
                        "the allocation of {what} names \"{name}\", which is not a property of the target capability, so no capability can satisfy it{}; it has: {} (§8.5.5)",
                        did_you_mean(name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            let Some(schema) = &property.schema else {
                continue;
            };
            let base = self.types.data_base(schema.data_type);
            if !matches!(
                base,
                Some(Builtin::Integer | Builtin::Float | Builtin::Scalar)
            ) {
                self.diagnostics.error(
                    &allocation.name.location,
                    format!(
                        "the allocation of {what} names property \"{name}\" of type \"{}\"; only integer, float and scalar properties can be allocated (§8.5.5)",
                        schema.type_name
                    ),
                );
                continue;
            }
            self.check_value(
                &allocation.value,
                schema,
                &format!("the allocation of \"{name}\" in {what}"),
            );
        }
    }
}
