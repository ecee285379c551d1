//! Boolean logic (§10.2.2.1): `$and`, `$or`, `$not`, `$xor`.

use super::Typed;
use serde_json::Value;

/// The result of `$and` or `$or` when one of its arguments is `arg`, whatever the others are:
/// false decides `$and` and true decides `$or`. The standard lets evaluation stop there
/// (§10.2.2.1.1, §10.2.2.1.2), so a caller need not evaluate (or know) the rest.
pub fn decides(function: &str, arg: &Value) -> Option<Value> {
    match (function, arg) {
        ("and", Value::Bool(false)) | ("or", Value::Bool(true)) => Some(arg.clone()),
        _ => None,
    }
}

/// The arguments' shapes (booleans) and count are already checked.
pub(super) fn call(function: &str, args: &[Typed]) -> Result<Value, String> {
    let booleans: Vec<bool> = args.iter().filter_map(|a| a.value.as_bool()).collect();
    Ok(Value::Bool(match (function, booleans.as_slice()) {
        ("and", all) => all.iter().all(|b| *b),
        ("or", all) => all.iter().any(|b| *b),
        ("not", [a]) => !a,
        ("xor", [a, b]) => a != b,
        _ => return Err(format!("${function} needs booleans")),
    }))
}
