//! A validation clause must be type-compatible with the type it validates (§9.2): where a
//! clause compares `$value` with a literal, or applies a function to `$value`, the literal
//! and the function must suit the type.

use super::Types;
use crate::diagnostic::Diagnostics;
use crate::model::{Builtin, Expr, ExprKind};

impl Types {
    /// Checks `clause`, which validates values whose built-in base is `base`.
    pub(super) fn check_clause_types(
        &self,
        clause: &Expr,
        base: Builtin,
        type_name: &str,
        diagnostics: &mut Diagnostics,
    ) {
        let mut problems = Vec::new();
        clause.visit_calls(&mut |at, call| {
            let is_value = |e: &Expr| {
                e.as_call()
                    .is_some_and(|c| c.function == "value" && c.args.is_empty())
            };
            match (call.function.as_str(), call.args.as_slice()) {
                (
                    "equal" | "greater_than" | "greater_or_equal" | "less_than" | "less_or_equal",
                    [a, b],
                ) => {
                    let ordering = call.function != "equal";
                    if ordering && (is_value(a) || is_value(b)) && !is_ordered(base) {
                        problems.push((
                            at.location.clone(),
                            format!(
                                "${} orders values, but values of type \"{type_name}\" ({}) are not ordered (§10.2.2.2)",
                                call.function,
                                base.name()
                            ),
                        ));
                    }
                    for (x, y) in [(a, b), (b, a)] {
                        if is_value(x) && y.as_call().is_none() && !literal_fits(base, y) {
                            problems.push((
                                y.location.clone(),
                                format!(
                                    "${} compares a value of type \"{type_name}\" with {}: the validation clause must be type-compatible with its type (§9.2, §10.2.2.2)",
                                    call.function,
                                    y.describe()
                                ),
                            ));
                        }
                    }
                }
                ("valid_values", [a, b]) if is_value(a) => {
                    if let ExprKind::List(items) = &b.kind {
                        for item in items.iter().filter(|i| i.as_call().is_none()) {
                            if !literal_fits(base, item) {
                                problems.push((
                                    item.location.clone(),
                                    format!(
                                        "$valid_values lists {} for values of type \"{type_name}\": the validation clause must be type-compatible with its type (§9.2)",
                                        item.describe()
                                    ),
                                ));
                            }
                        }
                    }
                }
                ("length", [a])
                    if is_value(a)
                        && !matches!(
                            base,
                            Builtin::String | Builtin::Bytes | Builtin::List | Builtin::Map
                        ) =>
                {
                    problems.push((
                        at.location.clone(),
                        format!(
                            "$length applies to strings, bytes, lists and maps, not to values of type \"{type_name}\" ({}) (§10.2.3.1)",
                            base.name()
                        ),
                    ));
                }
                ("matches", [a, _]) if is_value(a) && base != Builtin::String => {
                    problems.push((
                        at.location.clone(),
                        format!("$matches applies to strings, not to values of type \"{type_name}\" ({}) (§10.2.2.2.7)", base.name()),
                    ));
                }
                _ => {}
            }
        });
        for (at, message) in problems {
            diagnostics.error(&at, message);
        }
    }
}

fn is_ordered(base: Builtin) -> bool {
    matches!(
        base,
        Builtin::Integer
            | Builtin::Float
            | Builtin::String
            | Builtin::Timestamp
            | Builtin::Version
            | Builtin::Scalar
    )
}

/// Whether a literal can be a value of (a type based on) `base`.
fn literal_fits(base: Builtin, literal: &Expr) -> bool {
    match (base, &literal.kind) {
        (Builtin::Integer | Builtin::Float, ExprKind::Integer(_) | ExprKind::Float(_)) => true,
        // Versions written unquoted read as floats; still comparable as intended. Scalars
        // compare with numbers in their canonical unit (as #s70 of the standard does).
        (Builtin::Version | Builtin::Scalar, ExprKind::Float(_) | ExprKind::Integer(_)) => true,
        (
            Builtin::String
            | Builtin::Timestamp
            | Builtin::Version
            | Builtin::Scalar
            | Builtin::Bytes,
            ExprKind::String(_),
        ) => true,
        (Builtin::Boolean, ExprKind::Bool(_)) => true,
        (Builtin::Nil, ExprKind::Null) => true,
        (Builtin::List, ExprKind::List(_)) => true,
        (Builtin::Map, ExprKind::Map(_)) => true,
        _ => false,
    }
}
