//! Trigger conditions (§16.5): a boolean expression built from the TOSCA boolean and
//! comparison functions (§10.2.2) over values the graph evaluator computes (attributes,
//! properties, inputs).

use khutulun_graph::{EvalContext, Expr, RuntimeAttributes, ServiceGraph};
use serde_json::Value;
use std::cmp::Ordering;

/// Evaluates `condition`; anything but boolean true is false, and a condition that cannot
/// be evaluated is an error that names why.
pub fn holds(
    graph: &ServiceGraph,
    condition: &Expr,
    context: &EvalContext,
    runtime: &dyn RuntimeAttributes,
) -> Result<bool, String> {
    match value(graph, condition, context, runtime)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("the condition gave {other}, not a boolean")),
    }
}

fn value(
    graph: &ServiceGraph,
    expr: &Expr,
    context: &EvalContext,
    runtime: &dyn RuntimeAttributes,
) -> Result<Value, String> {
    let Expr::Call { function, args } = expr else {
        return khutulun_graph::evaluate(graph, expr, context, runtime).map_err(|e| e.to_string());
    };
    let arg = |i: usize| -> Result<Value, String> {
        let expr = args
            .get(i)
            .ok_or_else(|| format!("${function} needs at least {} arguments", i + 1))?;
        value(graph, expr, context, runtime)
    };
    let boolean = |i: usize| -> Result<bool, String> {
        match arg(i)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("${function} needs booleans, got {other}")),
        }
    };
    let compare = |wanted: &[Ordering]| -> Result<Value, String> {
        let (a, b) = (arg(0)?, arg(1)?);
        let order =
            order(&a, &b).ok_or_else(|| format!("${function} cannot compare {a} with {b}"))?;
        Ok(Value::Bool(wanted.contains(&order)))
    };
    match function.as_str() {
        "and" => {
            for i in 0..args.len() {
                if !boolean(i)? {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(true))
        }
        "or" => {
            for i in 0..args.len() {
                if boolean(i)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "not" => Ok(Value::Bool(!boolean(0)?)),
        "equal" => Ok(Value::Bool(equal(&arg(0)?, &arg(1)?))),
        "greater_than" => compare(&[Ordering::Greater]),
        "greater_or_equal" => compare(&[Ordering::Greater, Ordering::Equal]),
        "less_than" => compare(&[Ordering::Less]),
        "less_or_equal" => compare(&[Ordering::Less, Ordering::Equal]),
        _ => khutulun_graph::evaluate(graph, expr, context, runtime).map_err(|e| e.to_string()),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_graph::NoRuntime;
    use std::collections::BTreeMap;

    fn call(function: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            function: function.into(),
            args,
        }
    }

    fn v(value: Value) -> Expr {
        Expr::Value(value)
    }

    fn graph() -> ServiceGraph {
        ServiceGraph {
            inputs: BTreeMap::from([("limit".to_owned(), Value::from(3))]),
            nodes: Vec::new(),
            relationships: Vec::new(),
            outputs: BTreeMap::new(),
            policies: Vec::new(),
            functions: BTreeMap::new(),
        }
    }

    #[test]
    fn comparisons_and_logic_evaluate_their_arguments() {
        let g = graph();
        let limit = call("get_input", vec![v(Value::from("limit"))]);
        let check = |expr: Expr| holds(&g, &expr, &EvalContext::None, &NoRuntime);
        assert!(check(call(
            "greater_or_equal",
            vec![v(Value::from(3)), limit.clone()]
        ))
        .unwrap());
        assert!(!check(call("greater_than", vec![v(Value::from(3)), limit.clone()])).unwrap());
        assert!(check(call(
            "and",
            vec![
                call("equal", vec![v(Value::from(3.0)), limit.clone()]),
                call(
                    "not",
                    vec![call(
                        "less_than",
                        vec![v(Value::from("b")), v(Value::from("a"))]
                    )]
                ),
            ]
        ))
        .unwrap());
        assert!(check(call(
            "or",
            vec![v(Value::Bool(false)), v(Value::Bool(true))]
        ))
        .unwrap());
    }

    /// Conditions know every boolean function of §10.2.2, with the standard's meaning.
    #[test]
    fn conditions_have_every_boolean_function_of_the_standard() {
        let g = graph();
        let check = |function: &str, args: Vec<Value>| {
            let expr = call(function, args.into_iter().map(v).collect());
            holds(&g, &expr, &EvalContext::None, &NoRuntime)
        };
        use serde_json::json;
        assert_eq!(check("xor", vec![json!(true), json!(false)]), Ok(true));
        assert_eq!(check("xor", vec![json!(true), json!(true)]), Ok(false));
        // Lists are equal entry by entry, numbers by value (1 is 1.0).
        assert_eq!(
            check("equal", vec![json!([1, 2]), json!([1.0, 2])]),
            Ok(true)
        );
        assert_eq!(
            check("equal", vec![json!({ "a": [1] }), json!({ "a": [1.0] })]),
            Ok(true)
        );
        assert_eq!(
            check("valid_values", vec![json!("b"), json!(["a", "b"])]),
            Ok(true)
        );
        assert_eq!(
            check("contains", vec![json!("hello"), json!("ell")]),
            Ok(true)
        );
        assert_eq!(
            check("has_prefix", vec![json!([1, 2, 3]), json!([1, 2])]),
            Ok(true)
        );
        assert_eq!(
            check("matches", vec![json!("abc"), json!("^a.c$")]),
            Ok(true)
        );
        assert_eq!(
            check("has_key", vec![json!({ "a": 1 }), json!("b")]),
            Ok(false)
        );
        assert_eq!(
            check("has_any_entry", vec![json!({ "a": 1 }), json!([2, 1])]),
            Ok(true)
        );
        // Arguments of different types are an error (§10.2.2.2.1), not false.
        assert!(check("equal", vec![json!(1), json!("1")])
            .unwrap_err()
            .contains("same type"));
        assert!(check("equal", vec![json!(true), json!(1)])
            .unwrap_err()
            .contains("same type"));
    }

    #[test]
    fn a_condition_that_is_not_boolean_or_cannot_compare_is_an_error() {
        let g = graph();
        let check = |expr: Expr| holds(&g, &expr, &EvalContext::None, &NoRuntime);
        assert!(check(v(Value::from(1)))
            .unwrap_err()
            .contains("not a boolean"));
        assert!(check(call(
            "less_than",
            vec![v(Value::from(1)), v(Value::from("a"))]
        ))
        .unwrap_err()
        .contains("cannot compare"));
    }
}
