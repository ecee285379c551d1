//! The TOSCA 2.0 built-in functions (§10.2) and the check of function names.

use crate::catalog::Catalog;
use crate::diagnostic::{did_you_mean, Diagnostics};
use std::collections::BTreeSet;

/// The built-in functions of TOSCA 2.0, by name (without `$`).
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    // Representation graph queries (§10.2.1).
    "get_input",
    "get_property",
    "get_attribute",
    "get_artifact",
    "value",
    "node_index",
    "relationship_index",
    "available_allocation",
    // Boolean logic and comparison (§10.2.2).
    "and",
    "or",
    "not",
    "xor",
    "equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "valid_values",
    "matches",
    "has_suffix",
    "has_prefix",
    "contains",
    "has_entry",
    "has_key",
    "has_all_entries",
    "has_all_keys",
    "has_any_entry",
    "has_any_key",
    // Strings, lists and maps (§10.2.3).
    "length",
    "concat",
    "join",
    "token",
    // Sets (§10.2.4).
    "union",
    "intersection",
    // Arithmetic (§10.2.5).
    "sum",
    "difference",
    "product",
    "quotient",
    "remainder",
    "round",
    "floor",
    "ceil",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTIN_FUNCTIONS.contains(&name)
}

/// Reports every call of a function that is neither built in nor declared under `functions`
/// in one of the catalog's files.
pub(crate) fn check_names(catalog: &Catalog, diagnostics: &mut Diagnostics) {
    let declared: BTreeSet<&str> = catalog
        .files
        .iter()
        .flat_map(|f| f.ast.functions.iter().map(|n| n.name.as_str()))
        .collect();
    for file in &catalog.files {
        for call in &file.ast.calls {
            if call.name.is_empty()
                || is_builtin(&call.name)
                || declared.contains(call.name.as_str())
            {
                continue;
            }
            let known: Vec<String> = BUILTIN_FUNCTIONS
                .iter()
                .chain(declared.iter())
                .map(|name| format!("${name}"))
                .collect();
            let hint = did_you_mean(&format!("${}", call.name), known.iter().map(String::as_str));
            diagnostics.error(
                &call.location,
                format!(
                    "unknown function \"${}\"{hint}: it is not a TOSCA 2.0 built-in function (§10.2) nor declared under functions (write \"$$\" for a literal \"$\")",
                    call.name
                ),
            );
        }
    }
}
