//! Checking values against data types (§9.1, §9.2): built-in types, lists and maps with their
//! entry schemas, and complex data types with their properties.
//!
//! Values that are function calls cannot be checked before they are evaluated and are
//! accepted here. Validation clauses are not evaluated yet.

use crate::diagnostic::Location;
use crate::model::{Builtin, DataTypeInfo, DataTypeRef, Expr, ExprKind, ScalarUnits, Schema};

/// One problem with a value: where, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
}

/// Checks `value` against `schema`. `what` names the value in messages, e.g.
/// `property "port" of node template "web"`.
pub fn check(
    value: &Expr,
    schema: &Schema,
    data_types: &[DataTypeInfo],
    what: &str,
    problems: &mut Vec<Problem>,
) {
    Checker {
        data_types,
        problems,
    }
    .schema(value, schema, what, 0);
}

struct Checker<'a> {
    data_types: &'a [DataTypeInfo],
    problems: &'a mut Vec<Problem>,
}

/// Guards against data types that contain themselves.
const MAX_DEPTH: usize = 64;

impl Checker<'_> {
    fn problem(&mut self, value: &Expr, message: String) {
        self.problems.push(Problem {
            location: value.location.clone(),
            message,
        });
    }

    fn mismatch(&mut self, value: &Expr, what: &str, expected: &str) {
        self.problem(
            value,
            format!("{what} must be {expected}, not {}", value.describe()),
        );
    }

    fn schema(&mut self, value: &Expr, schema: &Schema, what: &str, depth: usize) {
        if matches!(value.kind, ExprKind::Call(_)) || depth > MAX_DEPTH {
            return;
        }
        match schema.data_type {
            DataTypeRef::Builtin(builtin) => self.builtin(
                value,
                builtin,
                schema.entry.as_deref(),
                None,
                &schema.type_name,
                what,
                depth,
            ),
            DataTypeRef::Defined(index) => {
                let Some(info) = self.data_types.get(index) else {
                    return;
                };
                match info.base {
                    Some(base) => {
                        let entry = schema.entry.as_deref().or(info.entry.as_ref());
                        self.builtin(
                            value,
                            base,
                            entry,
                            info.scalar.as_ref(),
                            &info.name,
                            what,
                            depth,
                        )
                    }
                    None => self.complex(value, info, what, depth),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn builtin(
        &mut self,
        value: &Expr,
        builtin: Builtin,
        entry: Option<&Schema>,
        scalar: Option<&ScalarUnits>,
        type_name: &str,
        what: &str,
        depth: usize,
    ) {
        match (builtin, &value.kind) {
            (Builtin::String, ExprKind::String(_))
            | (Builtin::Integer, ExprKind::Integer(_))
            | (Builtin::Float, ExprKind::Float(_) | ExprKind::Integer(_))
            | (Builtin::Boolean, ExprKind::Bool(_))
            | (Builtin::Nil, ExprKind::Null) => {}
            (Builtin::String, _) => self.mismatch(value, what, "a string (quote values that YAML reads as other types)"),
            (Builtin::Integer, _) => self.mismatch(value, what, "an integer"),
            (Builtin::Float, _) => self.mismatch(value, what, "a float"),
            (Builtin::Boolean, _) => self.mismatch(value, what, "a boolean (true or false)"),
            (Builtin::Nil, _) => self.mismatch(value, what, "null (type nil)"),
            (Builtin::Bytes, ExprKind::String(s)) if is_base64(s) => {}
            (Builtin::Bytes, _) => self.mismatch(value, what, "bytes (a base64 string)"),
            (Builtin::Timestamp, ExprKind::String(s)) if is_timestamp(s) => {}
            (Builtin::Timestamp, _) => {
                self.mismatch(value, what, "a timestamp (an RFC 3339 string such as \"2025-07-22T10:00:00Z\")")
            }
            (Builtin::Version, ExprKind::String(s)) if is_version(s) => {}
            (Builtin::Version, _) => self.mismatch(
                value,
                what,
                "a version string (<major>.<minor>[.<fix>[.<qualifier>[-<build>]]], quoted)",
            ),
            (Builtin::Scalar, _) => match scalar {
                None => self.problem(
                    value,
                    format!(
                        "{what} has type \"{type_name}\", and scalar is abstract: use a data type derived from scalar that defines units (§9.1.2.2)"
                    ),
                ),
                Some(units) => {
                    if let Err(message) = check_scalar(value, units) {
                        self.problem(
                            value,
                            format!("{what} must be a scalar of type \"{type_name}\" (\"<number> <unit>\"): {message}"),
                        );
                    }
                }
            },
            (Builtin::List, ExprKind::List(items)) => {
                if let Some(entry) = entry {
                    for (i, item) in items.iter().enumerate() {
                        self.schema(item, entry, &format!("entry {i} of {what}"), depth + 1);
                    }
                }
            }
            (Builtin::List, _) => self.mismatch(value, what, "a list"),
            (Builtin::Map, ExprKind::Map(entries)) => {
                if let Some(entry) = entry {
                    for (key, item) in entries {
                        self.schema(item, entry, &format!("entry \"{key}\" of {what}"), depth + 1);
                    }
                }
            }
            (Builtin::Map, _) => self.mismatch(value, what, "a map"),
        }
    }

    fn complex(&mut self, value: &Expr, info: &DataTypeInfo, what: &str, depth: usize) {
        let ExprKind::Map(entries) = &value.kind else {
            self.mismatch(
                value,
                what,
                &format!("a map with the properties of data type \"{}\"", info.name),
            );
            return;
        };
        for (key, item) in entries {
            match info.properties.iter().find(|p| &p.name == key) {
                Some(def) => {
                    if let Some(schema) = &def.schema {
                        self.schema(
                            item,
                            schema,
                            &format!("property \"{key}\" of {what}"),
                            depth + 1,
                        );
                    }
                }
                None => {
                    let names: Vec<&str> =
                        info.properties.iter().map(|p| p.name.as_str()).collect();
                    self.problem(
                        item,
                        format!(
                            "unknown property \"{key}\" in {what}{}; data type \"{}\" defines: {}",
                            crate::diagnostic::did_you_mean(key, names.iter().copied()),
                            info.name,
                            crate::diagnostic::known_list(names.iter().copied())
                        ),
                    );
                }
            }
        }
        for def in &info.properties {
            let given = entries.iter().any(|(k, _)| k == &def.name);
            if !given && def.required && def.default.is_none() && def.value.is_none() {
                self.problem(
                    value,
                    format!(
                        "{what} lacks property \"{}\", which data type \"{}\" requires",
                        def.name, info.name
                    ),
                );
            }
        }
    }
}

fn check_scalar(value: &Expr, units: &ScalarUnits) -> Result<(), String> {
    let ExprKind::String(text) = &value.kind else {
        return Err(format!("got {}", value.describe()));
    };
    let mut parts = text.split_whitespace();
    let (Some(number), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "\"{text}\" is not a number and a unit separated by a space"
        ));
    };
    if parse_number(number).is_none() {
        return Err(format!("\"{number}\" is not a number"));
    }
    if units.integer
        && number.parse::<i64>().is_err()
        && parse_number(number).is_some_and(|n| n.fract() != 0.0)
    {
        return Err(format!("\"{number}\" is not an integer"));
    }
    let known = |u: &str| units.units.iter().any(|(name, _)| name == u);
    let with_prefix = units
        .prefixes
        .iter()
        .any(|(prefix, _)| unit.strip_prefix(prefix.as_str()).is_some_and(known));
    if known(unit) || with_prefix {
        Ok(())
    } else {
        let names: Vec<&str> = units.units.iter().map(|(n, _)| n.as_str()).collect();
        Err(format!(
            "unknown unit \"{unit}\"; units: {}",
            crate::diagnostic::known_list(names)
        ))
    }
}

/// A number in YAML notation: decimal, 0x hex, 0o octal, or a float.
fn parse_number(text: &str) -> Option<f64> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = digits.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|n| sign * n as f64);
    }
    if let Some(octal) = digits.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok().map(|n| sign * n as f64);
    }
    if digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return digits.parse::<f64>().ok().map(|n| sign * n);
    }
    None
}

/// `<major>.<minor>[.<fix>[.<qualifier>[-<build>]]]` (§9.1.2.3).
pub fn is_version(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mut parts = text.splitn(4, '.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !digits(major) || !digits(minor) {
        return false;
    }
    if let Some(fix) = parts.next() {
        if !digits(fix) {
            return false;
        }
    }
    match parts.next() {
        None => true,
        Some(rest) => {
            let (qualifier, build) = match rest.split_once('-') {
                Some((q, b)) => (q, Some(b)),
                None => (rest, None),
            };
            !qualifier.is_empty()
                && qualifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && build.is_none_or(digits)
        }
    }
}

fn is_base64(text: &str) -> bool {
    let data: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    // A multiple of 4 (written so as not to need a newer toolchain than the workspace's).
    if data.len() & 3 != 0 {
        return false;
    }
    let padding = data.iter().rev().take_while(|&&b| b == b'=').count();
    padding <= 2
        && data[..data.len() - padding]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// RFC 3339 date-time: `YYYY-MM-DD(T| )HH:MM:SS[.frac](Z|±HH:MM)`.
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let all = |range: std::ops::Range<usize>| range.clone().all(digit);
    if b.len() < 20
        || !all(0..4)
        || b[4] != b'-'
        || !all(5..7)
        || b[7] != b'-'
        || !all(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !all(11..13)
        || b[13] != b':'
        || !all(14..16)
        || b[16] != b':'
        || !all(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while digit(i) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["1.0", "2.0.1", "3.1.0.beta", "1.0.0.alpha-10", "6.1"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["1", "1..0.abc", "a.b", "1.0.x.", "1.0.0.beta-x"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps_and_bytes() {
        assert!(is_timestamp("2025-07-22T10:00:00Z"));
        assert!(is_timestamp("2025-07-22 10:00:00.5+02:00"));
        assert!(!is_timestamp("2025-07-22"));
        assert!(is_base64("R0lGODlh"));
        assert!(is_base64(""));
        assert!(!is_base64("not base64!"));
    }

    #[test]
    fn numbers_in_yaml_notation() {
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("1.5e3"), Some(1500.0));
        assert_eq!(parse_number("-2"), Some(-2.0));
        assert_eq!(parse_number("kg"), None);
    }
}
