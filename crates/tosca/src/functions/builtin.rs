//! The argument rules of the built-in functions (§10.2): how many arguments each takes, and
//! the kinds of the arguments that are written as literal values (arguments that are calls are
//! only known when evaluated).

use crate::diagnostic::Location;
use crate::eval::regex::Regex;
use crate::model::{Expr, ExprKind};

/// The kinds of literal values an argument accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg {
    Any,
    Bool,
    Str,
    Int,
    /// An integer or a float.
    Number,
    /// A number, or a string holding a scalar.
    Quantity,
    List,
    Map,
    ListOrMap,
    StrOrList,
    StrListOrMap,
}

impl Arg {
    fn accepts(self, value: &ExprKind) -> bool {
        use ExprKind as E;
        match self {
            Arg::Any => true,
            Arg::Bool => matches!(value, E::Bool(_)),
            Arg::Str => matches!(value, E::String(_)),
            Arg::Int => matches!(value, E::Integer(_)),
            Arg::Number => matches!(value, E::Integer(_) | E::Float(_)),
            Arg::Quantity => matches!(value, E::Integer(_) | E::Float(_) | E::String(_)),
            Arg::List => matches!(value, E::List(_)),
            Arg::Map => matches!(value, E::Map(_)),
            Arg::ListOrMap => matches!(value, E::List(_) | E::Map(_)),
            Arg::StrOrList => matches!(value, E::String(_) | E::List(_)),
            Arg::StrListOrMap => matches!(value, E::String(_) | E::List(_) | E::Map(_)),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Arg::Any => "any value",
            Arg::Bool => "a boolean",
            Arg::Str => "a string",
            Arg::Int => "an integer",
            Arg::Number => "a number",
            Arg::Quantity => "a number or a scalar",
            Arg::List => "a list",
            Arg::Map => "a map",
            Arg::ListOrMap => "a list or a map",
            Arg::StrOrList => "a string or a list",
            Arg::StrListOrMap => "a string, a list or a map",
        }
    }
}

/// How many arguments a built-in takes (min, max) and the kind of each (the last repeats).
fn rule(function: &str) -> Option<(usize, Option<usize>, &'static [Arg])> {
    use Arg::*;
    Some(match function {
        // The arguments of these are checked with their TOSCA paths (template::checks).
        "get_input" | "get_property" | "get_attribute" => (0, None, &[Any]),
        "get_artifact" | "available_allocation" => (2, None, &[Any]),
        "value" => (0, None, &[Any]),
        "node_index" | "relationship_index" => (0, Some(0), &[]),
        "and" | "or" => (2, None, &[Bool]),
        "not" => (1, Some(1), &[Bool]),
        "xor" => (2, Some(2), &[Bool]),
        "equal" | "greater_than" | "greater_or_equal" | "less_than" | "less_or_equal" => {
            (2, Some(2), &[Any])
        }
        "valid_values" => (2, Some(2), &[Any, List]),
        "matches" => (2, Some(2), &[Str]),
        "has_suffix" | "has_prefix" | "contains" => (2, Some(2), &[StrOrList]),
        "has_entry" => (2, Some(2), &[ListOrMap, Any]),
        "has_key" => (2, Some(2), &[Map, Any]),
        "has_all_entries" | "has_any_entry" => (2, Some(2), &[ListOrMap, List]),
        "has_all_keys" | "has_any_key" => (2, Some(2), &[Map, List]),
        "length" => (1, Some(1), &[StrListOrMap]),
        "concat" => (1, None, &[StrOrList]),
        "join" => (1, Some(2), &[List, Str]),
        "token" => (3, Some(3), &[Str, Str, Int]),
        "union" | "intersection" => (1, None, &[List]),
        "sum" | "product" => (1, None, &[Quantity]),
        "difference" => (2, Some(2), &[Quantity]),
        "quotient" => (2, Some(2), &[Quantity, Number]),
        "remainder" => (2, Some(2), &[Quantity, Int]),
        "round" | "floor" | "ceil" => (1, Some(1), &[Number]),
        _ => return None,
    })
}

/// The problems with one call of built-in `function`: where, and what.
pub(super) fn check(function: &str, at: &Location, args: &[Expr]) -> Vec<(Location, String)> {
    let mut problems = Vec::new();
    let Some((min, max, kinds)) = rule(function) else {
        return problems;
    };
    let count = args.len();
    if count < min || max.is_some_and(|max| count > max) {
        let wanted = match (min, max) {
            (0, Some(0)) => "no arguments".to_string(),
            (a, Some(b)) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, Some(b)) => format!("{a} to {b} arguments"),
            (a, None) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        };
        problems.push((
            at.clone(),
            format!("${function} takes {wanted}, not {count} (§10.2)"),
        ));
        return problems;
    }
    for (i, arg) in args.iter().enumerate() {
        let Some(&kind) = kinds.get(i).or(kinds.last()) else {
            continue;
        };
        if arg.as_call().is_none() && !kind.accepts(&arg.kind) {
            problems.push((
                arg.location.clone(),
                format!(
                    "argument {} of ${function} must be {}, not {} (§10.2)",
                    i + 1,
                    kind.describe(),
                    arg.describe()
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    match function {
        "matches" => {
            if let Some(ExprKind::String(pattern)) = args.get(1).map(|a| &a.kind) {
                let error = Regex::new(pattern).err();
                if let Some(error) =
                    error.filter(|e| !e.starts_with(crate::eval::regex::UNSUPPORTED))
                {
                    problems.push((
                        args[1].location.clone(),
                        format!(
                            "the pattern of $matches is not a valid regular expression: {error}"
                        ),
                    ));
                }
            }
        }
        "equal" => {
            if let [a, b] = args {
                if let (Some(x), Some(y)) = (literal_kind(a), literal_kind(b)) {
                    if x != y {
                        problems.push((
                            at.clone(),
                            format!(
                                "$equal compares {} with {}: its arguments must have the same type (§10.2.2.2.1)",
                                a.describe(),
                                b.describe()
                            ),
                        ));
                    }
                }
            }
        }
        "concat" => {
            let kinds: Vec<&str> = args.iter().filter_map(literal_kind).collect();
            if kinds.windows(2).any(|w| w[0] != w[1]) {
                problems.push((
                    at.clone(),
                    "the arguments of $concat must be all strings or all lists (§10.2.3.2)"
                        .to_string(),
                ));
            }
        }
        "join" => {
            if let Some(ExprKind::List(items)) = args.first().map(|a| &a.kind) {
                for item in items {
                    if item.as_call().is_none() && !matches!(item.kind, ExprKind::String(_)) {
                        problems.push((
                            item.location.clone(),
                            format!(
                                "the list joined by $join must hold strings, not {} (§10.2.3.3)",
                                item.describe()
                            ),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    problems
}

/// The kind of a literal value, for "same type" checks: numbers are one kind.
fn literal_kind(expr: &Expr) -> Option<&'static str> {
    Some(match expr.kind {
        ExprKind::Null => "null",
        ExprKind::Bool(_) => "boolean",
        ExprKind::Integer(_) | ExprKind::Float(_) => "number",
        ExprKind::String(_) => "string",
        ExprKind::List(_) => "list",
        ExprKind::Map(_) => "map",
        ExprKind::Call(_) => return None,
    })
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
