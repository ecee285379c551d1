//! The meaning of the TOSCA built-in functions that compute a value from their arguments
//! alone: boolean logic and comparison (§10.2.2), strings, lists and maps (§10.2.3), sets
//! (§10.2.4) and arithmetic (§10.2.5).
//!
//! This is the one home of their semantics. Compile-time evaluation (validation clauses),
//! deploy-time evaluation (`khutulun-graph`) and event-handler conditions (`khutulun-agent`,
//! through the graph) all call [`call`]; the compile-time check of literal arguments calls
//! [`check`]. Getting the argument values (literals, inputs, properties, attributes) is the
//! caller's job; the graph query functions (`$get_input`, `$get_property`, ...) are not here.
//!
//! Values are JSON values. A value of a special type (scalar, version, timestamp, bytes) is a
//! string, and compares by its type only when the caller knows that type ([`Typed::kind`]).
//!
//! Pure: no IO.

mod arithmetic;
mod compare;
mod kind;
mod logic;
mod membership;
pub(crate) mod regex;
mod sequences;
mod sets;
mod signature;
pub(crate) mod special;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use kind::{Kind, Typed};
pub use logic::decides;
pub use signature::{check, computes, Place, Problem};

/// Computes built-in `function` (without `$`) from its evaluated arguments: the result, or a
/// message saying why there is none (arguments that do not fit, or what Khutulun cannot
/// compute, such as a regular expression feature it lacks).
///
/// For `$and` and `$or`, a caller that evaluates arguments one by one may stop early with
/// [`decides`].
pub fn call(function: &str, args: &[Typed]) -> Result<Value, String> {
    let known: Vec<Option<&Typed>> = args.iter().map(Some).collect();
    if let Some(problem) = check(function, &known).into_iter().next() {
        return Err(problem.message);
    }
    match function {
        "and" | "or" | "not" | "xor" => logic::call(function, args),
        "equal" => compare::equal(args).map(Value::Bool),
        "greater_than" | "greater_or_equal" | "less_than" | "less_or_equal" => {
            compare::ordered(function, args).map(Value::Bool)
        }
        "matches" => sequences::matches(args).map(Value::Bool),
        "has_suffix" | "has_prefix" | "contains" => {
            sequences::affix(function, args).map(Value::Bool)
        }
        "valid_values" | "has_entry" | "has_key" | "has_all_entries" | "has_any_entry"
        | "has_all_keys" | "has_any_key" => membership::call(function, args).map(Value::Bool),
        "length" => sequences::length(&args[0]),
        "concat" => sequences::concat(args),
        "join" => sequences::join(args),
        "token" => sequences::token(args),
        "union" | "intersection" => sets::call(function, args),
        "sum" | "difference" | "product" | "quotient" | "remainder" | "round" | "floor"
        | "ceil" => arithmetic::call(function, args),
        _ => Err(format!(
            "${function} is not a built-in function computed from its arguments"
        )),
    }
}

/// A value for messages: `integer 5`, `string "a"`, `a list`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if n.is_f64() => format!("float {n}"),
        Value::Number(n) => format!("integer {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("string \"{s}\""),
        Value::String(_) => "a string".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a map".to_string(),
    }
}
