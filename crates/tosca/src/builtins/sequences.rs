//! Strings and lists (§10.2.2.2.7, §10.2.2.3.1 to §10.2.2.3.3, §10.2.3): `$matches`,
//! `$has_suffix`, `$has_prefix`, `$contains`, `$length`, `$concat`, `$join`, `$token`.
//! Argument shapes and counts are already checked when these run.

use super::compare::values_equal;
use super::regex::Regex;
use super::{describe, Kind, Typed};
use serde_json::Value;

fn text(arg: &Typed) -> &str {
    arg.value.as_str().unwrap_or_default()
}

/// A match anywhere in the text, unless the pattern is anchored (§10.2.2.2.7).
pub(super) fn matches(args: &[Typed]) -> Result<bool, String> {
    let [subject, pattern] = args else {
        return Err("$matches takes 2 arguments".to_string());
    };
    let regex = Regex::new(text(pattern))
        .map_err(|e| format!("$matches cannot use the pattern \"{}\": {e}", text(pattern)))?;
    regex.is_match(text(subject)).ok_or_else(|| {
        format!(
            "$matches gave up matching \"{}\": the pattern backtracks too much",
            text(pattern)
        )
    })
}

/// `$has_suffix`, `$has_prefix`, `$contains`: of two strings, or of two lists (an
/// uninterrupted run of equal entries, in order).
pub(super) fn affix(function: &str, args: &[Typed]) -> Result<bool, String> {
    match (&args[0].value, &args[1].value) {
        (Value::String(a), Value::String(b)) => Ok(match function {
            "has_suffix" => a.ends_with(b.as_str()),
            "has_prefix" => a.starts_with(b.as_str()),
            _ => a.contains(b.as_str()),
        }),
        (Value::Array(a), Value::Array(b)) => {
            let same = |x: &[Value]| x.iter().zip(b).all(|(p, q)| values_equal(p, q));
            Ok(match function {
                "has_suffix" => b.len() <= a.len() && same(&a[a.len() - b.len()..]),
                "has_prefix" => b.len() <= a.len() && same(&a[..b.len()]),
                _ => b.is_empty() || a.windows(b.len()).any(same),
            })
        }
        (a, b) => Err(format!(
            "${function} takes two strings or two lists, not {} and {}",
            describe(a),
            describe(b)
        )),
    }
}

/// Unicode characters of a string, bytes of bytes, entries of a list or map (§10.2.3.1).
pub(super) fn length(arg: &Typed) -> Result<Value, String> {
    let n = match (&arg.value, &arg.kind) {
        (Value::String(s), Some(Kind::Bytes)) => {
            decoded_len(s).ok_or_else(|| format!("$length: \"{s}\" is not base64 bytes"))?
        }
        (Value::String(s), _) => s.chars().count(),
        (Value::Array(items), _) => items.len(),
        (Value::Object(map), _) => map.len(),
        (other, _) => return Err(format!("$length cannot measure {}", describe(other))),
    };
    Ok(Value::from(n))
}

/// The number of bytes a base64 text decodes to.
fn decoded_len(text: &str) -> Option<usize> {
    let data: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if data.len() & 3 != 0 {
        return None;
    }
    let padding = data.iter().rev().take_while(|&&b| b == b'=').count();
    Some(data.len() / 4 * 3 - padding)
}

/// Lists into one list, or strings into one string (numbers and booleans as their text).
pub(super) fn concat(args: &[Typed]) -> Result<Value, String> {
    if args.iter().all(|a| a.value.is_array()) {
        let items = args
            .iter()
            .flat_map(|a| a.value.as_array().cloned().unwrap_or_default())
            .collect();
        return Ok(Value::Array(items));
    }
    let mut out = String::new();
    for arg in args {
        match &arg.value {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(&b.to_string()),
            other => {
                return Err(format!(
                    "$concat cannot join {} into a string",
                    describe(other)
                ))
            }
        }
    }
    Ok(Value::String(out))
}

/// The strings of a list, with the delimiter (none by default) between them.
pub(super) fn join(args: &[Typed]) -> Result<Value, String> {
    let items = args[0]
        .value
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let delimiter = args.get(1).map(text).unwrap_or_default();
    let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    Ok(Value::String(parts.join(delimiter)))
}

/// Substring `index` (from 0) of a text split at any of the token characters; empty
/// substrings (between adjacent token characters) do not count (§10.2.3.4).
pub(super) fn token(args: &[Typed]) -> Result<Value, String> {
    let (whole, separators) = (text(&args[0]), text(&args[1]));
    let index = args[2].value.as_i64().unwrap_or(-1);
    let tokens: Vec<&str> = whole
        .split(|c| separators.contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    usize::try_from(index)
        .ok()
        .and_then(|i| tokens.get(i))
        .map(|t| Value::String(t.to_string()))
        .ok_or_else(|| {
            format!(
                "$token: \"{whole}\" has {} token(s) separated by \"{separators}\", so there is no index {index}",
                tokens.len()
            )
        })
}
