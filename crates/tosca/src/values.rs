//! Checking values against data types (§9.1, §9.2): built-in types, lists and maps with their
//! entry schemas, and complex data types with their properties.
//!
//! Values that are function calls cannot be checked before they are evaluated and are
//! accepted here. Validation clauses (§9.11) of the schema and of the data type are evaluated
//! against literal values; a clause that cannot be evaluated before deployment is skipped.

use crate::builtins::special::{parse_timestamp, parse_version, scalar_value};
use crate::diagnostic::Location;
use crate::eval::render::render;
use crate::eval::{Context, SelfLookup};
use crate::model::{Builtin, DataTypeInfo, DataTypeRef, Expr, ExprKind, ScalarUnits, Schema};
use serde_json::Value;

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
    check_in(value, schema, data_types, what, problems, None);
}

/// Like [`check`], with the properties of SELF for `$get_property: [ SELF, ... ]` in
/// validation clauses.
pub(crate) fn check_in(
    value: &Expr,
    schema: &Schema,
    data_types: &[DataTypeInfo],
    what: &str,
    problems: &mut Vec<Problem>,
    self_properties: Option<SelfLookup>,
) {
    Checker {
        data_types,
        problems,
        self_properties,
    }
    .schema(value, schema, what, 0);
}

struct Checker<'a> {
    data_types: &'a [DataTypeInfo],
    problems: &'a mut Vec<Problem>,
    self_properties: Option<SelfLookup<'a>>,
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
        let before = self.problems.len();
        self.type_check(value, schema, what, depth);
        if self.problems.len() == before && !value.has_call() {
            self.validate(value, schema, what);
        }
    }

    /// Evaluates the validation clauses of `schema` and of its data type (with their
    /// ancestors') on `value`; a clause that evaluates to false is a problem.
    fn validate(&mut self, value: &Expr, schema: &Schema, what: &str) {
        let mut clauses: Vec<&Expr> = schema.validations.iter().collect();
        if let DataTypeRef::Defined(index) = schema.data_type {
            if let Some(info) = self.data_types.get(index) {
                clauses.extend(info.validations.iter());
            }
        }
        let context = Context {
            data_types: self.data_types,
            value: Some((value, schema)),
            self_properties: self.self_properties,
        };
        for clause in clauses {
            if let Some(result) = context.eval(clause) {
                if result.value == Value::Bool(false) {
                    let shown = render(value);
                    self.problem(
                        value,
                        format!(
                            "{what}: {shown} does not satisfy the validation clause at {} ({}) (§9.11)",
                            clause.location,
                            render(clause)
                        ),
                    );
                }
            }
        }
    }

    fn type_check(&mut self, value: &Expr, schema: &Schema, what: &str, depth: usize) {
        match schema.data_type {
            DataTypeRef::Builtin(builtin) => self.builtin(
                value,
                builtin,
                (schema.entry.as_deref(), schema.key.as_deref()),
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
                        let key = schema.key.as_deref().or(info.key.as_ref());
                        self.builtin(
                            value,
                            base,
                            (entry, key),
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
        (entry, key): (Option<&Schema>, Option<&Schema>),
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
            (Builtin::Timestamp, ExprKind::String(s)) if parse_timestamp(s).is_some() => {}
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
                    let checked = match &value.kind {
                        ExprKind::String(text) => scalar_value(text, units).map(|_| ()),
                        _ => Err(format!("got {}", value.describe())),
                    };
                    if let Err(message) = checked {
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
                for (name, item) in entries {
                    if let Some(key) = key {
                        let key_value = Expr::new(item.location.clone(), ExprKind::String(name.clone()));
                        self.schema(&key_value, key, &format!("key \"{name}\" of {what}"), depth + 1);
                    }
                    if let Some(entry) = entry {
                        self.schema(item, entry, &format!("entry \"{name}\" of {what}"), depth + 1);
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

/// `<major>.<minor>[.<fix>[.<qualifier>[-<build>]]]` (§9.1.2.3).
pub fn is_version(text: &str) -> bool {
    parse_version(text).is_some()
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
    fn bytes() {
        assert!(is_base64("R0lGODlh"));
        assert!(is_base64(""));
        assert!(!is_base64("not base64!"));
    }
}
