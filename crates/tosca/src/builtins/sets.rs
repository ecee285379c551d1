//! `$union` and `$intersection` (§10.2.4): lists as sets, each entry once (equal as `$equal`
//! says), in the order first seen.

use super::compare::values_equal;
use super::Typed;
use serde_json::Value;

/// The arguments' shapes (lists) and count are already checked.
pub(super) fn call(function: &str, args: &[Typed]) -> Result<Value, String> {
    let lists: Vec<&[Value]> = args
        .iter()
        .map(|a| a.value.as_array().map(Vec::as_slice).unwrap_or_default())
        .collect();
    let Some((first, rest)) = lists.split_first() else {
        return Err(format!("${function} takes at least 1 argument"));
    };
    let candidates: Vec<&Value> = if function == "union" {
        lists.iter().flat_map(|l| l.iter()).collect()
    } else {
        first
            .iter()
            .filter(|v| rest.iter().all(|l| l.iter().any(|w| values_equal(v, w))))
            .collect()
    };
    let mut out: Vec<Value> = Vec::new();
    for candidate in candidates {
        if !out.iter().any(|o| values_equal(o, candidate)) {
            out.push(candidate.clone());
        }
    }
    Ok(Value::Array(out))
}
