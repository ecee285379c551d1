//! Whether values are entries or keys of a collection (§10.2.2.2.6, §10.2.2.3.4 to
//! §10.2.2.3.9). An entry is found when it equals the value sought as `$equal` says; a
//! value of another type is simply not found.

use super::compare::same_entry;
use super::Typed;
use serde_json::Value;

/// The arguments' shapes and count are already checked.
pub(super) fn call(function: &str, args: &[Typed]) -> Result<bool, String> {
    let [first, second] = args else {
        return Err(format!("${function} takes 2 arguments"));
    };
    Ok(match function {
        // `$has_entry` with its arguments the other way round (§10.2.2.2.6).
        "valid_values" => has_entry(&second.value, first),
        "has_entry" => has_entry(&first.value, second),
        "has_key" => has_key(&first.value, &second.value),
        "has_all_entries" => wanted(second).iter().all(|w| has_entry(&first.value, w)),
        "has_any_entry" => wanted(second).iter().any(|w| has_entry(&first.value, w)),
        "has_all_keys" => list(&second.value).iter().all(|k| has_key(&first.value, k)),
        "has_any_key" => list(&second.value).iter().any(|k| has_key(&first.value, k)),
        _ => return Err(format!("${function} is not a membership test")),
    })
}

/// The values of a list or of a map.
fn entries(collection: &Value) -> Vec<&Value> {
    match collection {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

fn has_entry(collection: &Value, item: &Typed) -> bool {
    entries(collection).into_iter().any(|e| same_entry(item, e))
}

/// Map keys are strings: any other value is no key.
fn has_key(map: &Value, key: &Value) -> bool {
    match (map, key) {
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The entries sought, with no kind of their own.
fn wanted(list_arg: &Typed) -> Vec<Typed> {
    list(&list_arg.value)
        .iter()
        .cloned()
        .map(Typed::plain)
        .collect()
}
