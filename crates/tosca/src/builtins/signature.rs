//! What each built-in accepts (§10.2): how many arguments, of which shapes, and the rules
//! that tie arguments together. [`check`] applies them to whatever arguments are known: all
//! of them when a call is computed, the literal ones when a template is compiled.

use super::regex::{self, Regex};
use super::{compare, describe, Typed};
use serde_json::Value;

/// Where a problem is: the call as a whole, one argument, or an entry of a list argument
/// (indexes from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Call,
    Argument(usize),
    Entry(usize, usize),
}

/// A problem with the arguments of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub place: Place,
    pub message: String,
}

/// The shapes of values an argument accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
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
    /// A string, number or boolean (written as its text), or a list: `$concat`, whose
    /// standard example joins a port number into a URL (§10.2.3.2).
    TextOrList,
}

impl Shape {
    fn accepts(self, value: &Value) -> bool {
        use Value as V;
        match self {
            Shape::Any => true,
            Shape::Bool => value.is_boolean(),
            Shape::Str => value.is_string(),
            Shape::Int => value.is_i64() || value.is_u64(),
            Shape::Number => value.is_number(),
            Shape::Quantity => value.is_number() || value.is_string(),
            Shape::List => value.is_array(),
            Shape::Map => value.is_object(),
            Shape::ListOrMap => matches!(value, V::Array(_) | V::Object(_)),
            Shape::StrOrList => matches!(value, V::String(_) | V::Array(_)),
            Shape::StrListOrMap => matches!(value, V::String(_) | V::Array(_) | V::Object(_)),
            Shape::TextOrList => {
                matches!(
                    value,
                    V::String(_) | V::Number(_) | V::Bool(_) | V::Array(_)
                )
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Any => "any value",
            Shape::Bool => "a boolean",
            Shape::Str => "a string",
            Shape::Int => "an integer",
            Shape::Number => "a number",
            Shape::Quantity => "a number or a scalar",
            Shape::List => "a list",
            Shape::Map => "a map",
            Shape::ListOrMap => "a list or a map",
            Shape::StrOrList => "a string or a list",
            Shape::StrListOrMap => "a string, a list or a map",
            Shape::TextOrList => "a string, a number, a boolean or a list",
        }
    }
}

/// How many arguments a built-in takes (min, max) and the shape of each (the last repeats).
fn signature(function: &str) -> Option<(usize, Option<usize>, &'static [Shape])> {
    use Shape::*;
    Some(match function {
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
        "concat" => (1, None, &[TextOrList]),
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

/// Whether `function` is a built-in this module computes (the graph queries are not).
pub fn computes(function: &str) -> bool {
    signature(function).is_some()
}

/// The problems with a call of `function` whose arguments are `args` (None: not known yet).
/// Empty for a function this module does not compute.
pub fn check(function: &str, args: &[Option<&Typed>]) -> Vec<Problem> {
    let Some((min, max, shapes)) = signature(function) else {
        return Vec::new();
    };
    let count = args.len();
    if count < min || max.is_some_and(|max| count > max) {
        let wanted = match (min, max) {
            (a, Some(b)) if a == b => format!("{a} argument{}", plural(a)),
            (a, Some(b)) => format!("{a} to {b} arguments"),
            (a, None) => format!("at least {a} argument{}", plural(a)),
        };
        return vec![Problem {
            place: Place::Call,
            message: format!("${function} takes {wanted}, not {count} (§10.2)"),
        }];
    }
    let mut problems = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let (Some(arg), Some(&shape)) = (arg, shapes.get(i).or(shapes.last())) else {
            continue;
        };
        if !shape.accepts(&arg.value) {
            problems.push(Problem {
                place: Place::Argument(i),
                message: format!(
                    "argument {} of ${function} must be {}, not {} (§10.2)",
                    i + 1,
                    shape.describe(),
                    describe(&arg.value)
                ),
            });
        }
    }
    if problems.is_empty() {
        problems.extend(rules(function, args));
    }
    problems
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The rules beyond shapes, on the arguments that are known.
fn rules(function: &str, args: &[Option<&Typed>]) -> Vec<Problem> {
    let mut problems = Vec::new();
    match (function, args) {
        ("matches", [_, Some(pattern)]) => {
            let pattern = pattern.value.as_str().unwrap_or_default();
            // A feature the matcher lacks does not make the pattern invalid.
            if let Err(error) = Regex::new(pattern) {
                if !error.starts_with(regex::UNSUPPORTED) {
                    problems.push(Problem {
                        place: Place::Argument(1),
                        message: format!(
                            "the pattern of $matches is not a valid regular expression: {error}"
                        ),
                    });
                }
            }
        }
        ("equal", [Some(a), Some(b)])
            if a.kind.is_none() && b.kind.is_none() && !compare::same_type(&a.value, &b.value) =>
        {
            problems.push(Problem {
                place: Place::Call,
                message: format!(
                    "$equal compares {} with {}: its arguments must have the same type (§10.2.2.2.1)",
                    describe(&a.value),
                    describe(&b.value)
                ),
            });
        }
        ("concat", _) => {
            let lists: Vec<bool> = args.iter().flatten().map(|a| a.value.is_array()).collect();
            if lists.windows(2).any(|w| w[0] != w[1]) {
                problems.push(Problem {
                    place: Place::Call,
                    message: "the arguments of $concat must be all lists or all strings (numbers and booleans count as their text) (§10.2.3.2)".to_string(),
                });
            }
        }
        ("join", [Some(list), ..]) => {
            let items = list.value.as_array().map(Vec::as_slice).unwrap_or_default();
            for (j, item) in items.iter().enumerate() {
                if !item.is_string() {
                    problems.push(Problem {
                        place: Place::Entry(0, j),
                        message: format!(
                            "the list joined by $join must hold strings, not {} (§10.2.3.3)",
                            describe(item)
                        ),
                    });
                }
            }
        }
        _ => {}
    }
    problems
}
