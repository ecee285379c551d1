//! `$equal` and the ordering comparisons (§10.2.2.2): values compare the way their TOSCA
//! types order them — scalars by their value in the canonical unit (§9.1.2.2), versions
//! component by component (§9.1.2.3), timestamps as instants (§9.1.2.1) — and otherwise as
//! numbers (integers and floats alike), strings, or entry by entry for lists and maps.

use super::special::{compare_versions, parse_timestamp, parse_version, scalar_value};
use super::{describe, Kind, Typed};
use crate::model::ScalarUnits;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// `$equal`. Arguments of different types are an error (§10.2.2.2.1), but null, the value of
/// what has none, may be compared with anything.
pub(super) fn equal(args: &[Typed]) -> Result<bool, String> {
    let [a, b] = args else {
        return Err("$equal takes 2 arguments".to_string());
    };
    if a.value.is_null() || b.value.is_null() {
        return Ok(a.value == b.value);
    }
    if typed_kind(a, b).is_some() {
        return order("equal", a, b).map(|o| o == Ordering::Equal);
    }
    Ok(values_equal(&a.value, &b.value))
}

/// `$greater_than`, `$greater_or_equal`, `$less_than`, `$less_or_equal`. Values of types that
/// do not order (booleans, lists, maps, null) or of different types are an error, as the
/// standard allows (§10.2.2.2).
pub(super) fn ordered(function: &str, args: &[Typed]) -> Result<bool, String> {
    let [a, b] = args else {
        return Err(format!("${function} takes 2 arguments"));
    };
    let wanted: &[Ordering] = match function {
        "greater_than" => &[Ordering::Greater],
        "greater_or_equal" => &[Ordering::Greater, Ordering::Equal],
        "less_than" => &[Ordering::Less],
        _ => &[Ordering::Less, Ordering::Equal],
    };
    Ok(wanted.contains(&order(function, a, b)?))
}

/// Whether `entry` equals `item`, compared as `item`'s kind says; values that cannot be
/// compared are not equal. For membership tests (`$valid_values`, `$has_entry`, ...).
pub(super) fn same_entry(item: &Typed, entry: &Value) -> bool {
    let entry = Typed {
        value: entry.clone(),
        kind: None,
    };
    match typed_kind(item, &entry) {
        Some(_) => order("equal", item, &entry) == Ok(Ordering::Equal),
        None => values_equal(&item.value, &entry.value),
    }
}

/// The kind both values are compared as, when one of them has a kind that compares
/// specially (bytes compare as their text).
fn typed_kind<'a>(a: &'a Typed, b: &'a Typed) -> Option<&'a Kind> {
    a.kind
        .as_ref()
        .or(b.kind.as_ref())
        .filter(|k| !matches!(k, Kind::Bytes))
}

/// Whether two untyped values have the same TOSCA type for `$equal`: numbers are one type,
/// and null goes with anything.
pub(super) fn same_type(a: &Value, b: &Value) -> bool {
    use Value as V;
    matches!(
        (a, b),
        (V::Null, _)
            | (_, V::Null)
            | (V::Bool(_), V::Bool(_))
            | (V::Number(_), V::Number(_))
            | (V::String(_), V::String(_))
            | (V::Array(_), V::Array(_))
            | (V::Object(_), V::Object(_))
    )
}

/// Deep equality; numbers by value, so 1 equals 1.0; maps whatever their order.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_order(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// The order of `a` and `b` as their kind says, or why they have none.
fn order(function: &str, a: &Typed, b: &Typed) -> Result<Ordering, String> {
    let incomparable = |why: &str| {
        format!(
            "${function} cannot compare {} with {}: {why}",
            describe(&a.value),
            describe(&b.value)
        )
    };
    let order = match typed_kind(a, b) {
        Some(Kind::Scalar(units)) => {
            let (x, y) = (scalar_of(&a.value, units), scalar_of(&b.value, units));
            match (x, y) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y),
                (Err(e), _) | (_, Err(e)) => return Err(incomparable(&e)),
            }
        }
        Some(Kind::Version) => {
            let version = |v: &Value| v.as_str().and_then(parse_version);
            let (Some(x), Some(y)) = (version(&a.value), version(&b.value)) else {
                return Err(incomparable("a version is <major>.<minor>[.<fix>[.<qualifier>[-<build>]]] (§9.1.2.3)"));
            };
            return compare_versions(&x, &y).ok_or_else(|| {
                incomparable("versions with different qualifiers do not order (§9.1.2.3)")
            });
        }
        Some(Kind::Timestamp) => {
            let instant = |v: &Value| v.as_str().and_then(parse_timestamp);
            let (Some(x), Some(y)) = (instant(&a.value), instant(&b.value)) else {
                return Err(incomparable("a timestamp is an RFC 3339 date and time (§9.1.2.1)"));
            };
            x.partial_cmp(&y)
        }
        _ => match (&a.value, &b.value) {
            (Value::Number(x), Value::Number(y)) => number_order(x, y),
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => {
                return Err(incomparable(
                    "only two numbers, two strings, or two values of the same scalar, version or timestamp type compare (§10.2.2.2)",
                ))
            }
        },
    };
    order.ok_or_else(|| incomparable("they have no order"))
}

/// Integers exactly, anything with a float as floats.
pub(super) fn number_order(x: &Number, y: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
        return Some(x.cmp(&y));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

/// A scalar's value in its canonical unit; a plain number is taken as already in it (the
/// standard compares scalars with numbers, e.g. `$greater_or_equal: [ $value, 0.0 ]`).
fn scalar_of(value: &Value, units: &ScalarUnits) -> Result<f64, String> {
    match value {
        Value::String(text) => scalar_value(text, units),
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        other => Err(format!("{} is not a scalar", describe(other))),
    }
}
