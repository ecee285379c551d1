//! The compile-time check of a built-in call's arguments (§10.2): the computed built-ins
//! by the rules of [`crate::builtins`], applied to the arguments written as literal values
//! (arguments that are calls are only known when evaluated); the graph queries by their
//! argument counts here (their paths are checked in `template::checks`).

use crate::builtins::{self, Place, Typed};
use crate::diagnostic::Location;
use crate::model::Expr;

/// How many arguments a graph query takes (min, max).
fn query_arity(function: &str) -> Option<(usize, Option<usize>)> {
    Some(match function {
        "get_artifact" | "available_allocation" => (2, None),
        "node_index" | "relationship_index" => (0, Some(0)),
        _ => return None,
    })
}

/// The problems with one call of built-in `function`: where, and what.
pub(super) fn check(function: &str, at: &Location, args: &[Expr]) -> Vec<(Location, String)> {
    if let Some((min, max)) = query_arity(function) {
        let count = args.len();
        if count < min || max.is_some_and(|max| count > max) {
            let wanted = match (min, max) {
                (0, Some(0)) => "no arguments".to_string(),
                (a, _) => format!("at least {a} arguments"),
            };
            return vec![(
                at.clone(),
                format!("${function} takes {wanted}, not {count} (§10.2)"),
            )];
        }
        return Vec::new();
    }
    let literals: Vec<Option<Typed>> = args.iter().map(|a| a.to_json().map(Typed::plain)).collect();
    let known: Vec<Option<&Typed>> = literals.iter().map(Option::as_ref).collect();
    builtins::check(function, &known)
        .into_iter()
        .map(|problem| {
            let location = match problem.place {
                Place::Call => at,
                Place::Argument(i) => &args[i].location,
                Place::Entry(i, j) => match &args[i].kind {
                    crate::model::ExprKind::List(items) => &items[j].location,
                    _ => &args[i].location,
                },
            };
            (location.clone(), problem.message)
        })
        .collect()
}

/// Built-ins whose result is never a boolean (a validation clause or condition cannot be one
/// of these).
pub(crate) fn is_non_boolean(function: &str) -> bool {
    matches!(
        function,
        "length"
            | "concat"
            | "join"
            | "token"
            | "union"
            | "intersection"
            | "sum"
            | "difference"
            | "product"
            | "quotient"
            | "remainder"
            | "round"
            | "floor"
            | "ceil"
            | "node_index"
            | "relationship_index"
            | "available_allocation"
            | "get_artifact"
    )
}
