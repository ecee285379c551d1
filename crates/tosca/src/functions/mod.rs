//! The TOSCA 2.0 built-in functions (§10.2), and the check of every call: its function is
//! built in or declared (§10.4), and its arguments fit.

mod builtin;
mod custom;

pub(crate) use builtin::is_non_boolean;
pub(crate) use custom::scopes;

use crate::catalog::Catalog;
use crate::diagnostic::{did_you_mean, Diagnostics};
use crate::types::Types;

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

/// Checks every function call of the catalog: the function is built in or declared under
/// `functions` in a file the caller sees (namespaces apply, §10.4), and its arguments fit
/// (the built-ins' rules of §10.2, the signatures of declared functions).
pub(crate) fn check(catalog: &Catalog, types: &mut Types, diagnostics: &mut Diagnostics) {
    custom::check_signatures(catalog, types, diagnostics);
    let scopes = custom::scopes(catalog);
    for (file_index, file) in catalog.files.iter().enumerate() {
        let scope = &scopes[file_index];
        for call in &file.ast.calls {
            let name = &call.name.name;
            if name.is_empty() {
                continue;
            }
            if let Some(declared) = scope.get(name.as_str()) {
                custom::check_call(catalog, types, declared, call, diagnostics);
                continue;
            }
            if is_builtin(name) {
                for (at, message) in builtin::check(name, &call.name.location, &call.args) {
                    diagnostics.error(&at, message);
                }
                continue;
            }
            let known: Vec<String> = BUILTIN_FUNCTIONS
                .iter()
                .map(|n| n.to_string())
                .chain(scope.keys().cloned())
                .map(|n| format!("${n}"))
                .collect();
            let hint = did_you_mean(&format!("${name}"), known.iter().map(String::as_str));
            diagnostics.error(
                &call.name.location,
                format!(
                    "unknown function \"${name}\"{hint}: it is not a TOSCA 2.0 built-in function (§10.2) nor declared under functions (write \"$$\" for a literal \"$\")"
                ),
            );
        }
    }
}
