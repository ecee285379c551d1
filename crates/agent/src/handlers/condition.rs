//! Trigger conditions (§16.5): a boolean expression built from the TOSCA boolean and
//! comparison functions (§10.2.2). The graph evaluator computes it, with the meaning every
//! built-in has everywhere (`khutulun_tosca::builtins`), over the values it finds
//! (attributes, properties, inputs).

use khutulun_graph::{EvalContext, Expr, RuntimeAttributes, ServiceGraph};
use serde_json::Value;

/// Evaluates `condition`; anything but a boolean is an error, and so is a condition that
/// cannot be evaluated, with the reason.
pub fn holds(
    graph: &ServiceGraph,
    condition: &Expr,
    context: &EvalContext,
    runtime: &dyn RuntimeAttributes,
) -> Result<bool, String> {
    match khutulun_graph::evaluate(graph, condition, context, runtime) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the condition gave {other}, not a boolean")),
        Err(e) => Err(e.to_string()),
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
            input_kinds: BTreeMap::new(),
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

    /// A handler condition means what the same expression means at compile time and at deploy
    /// time: the condition of a trigger and an output of the same text agree with the shared
    /// semantics, including where this module once had its own (lists, `$xor`, mixed types).
    #[test]
    fn a_condition_means_what_the_expression_means_everywhere() {
        use khutulun_tosca::builtins::{self, Typed};
        use serde_json::json;
        let cases = [
            ("{ $xor: [ true, false ] }", true),
            ("{ $equal: [ [ 1, 2 ], [ 1.0, 2 ] ] }", true),
            ("{ $has_any_key: [ { a: 1 }, [ b, c ] ] }", false),
            (
                "{ $or: [ false, { $matches: [ web-1, \"^web-[0-9]+$\" ] } ] }",
                true,
            ),
        ];
        for (expression, expected) in cases {
            let text = format!(
                "tosca_definitions_version: tosca_2_0\nnode_types:\n  N: {{}}\npolicy_types:\n  P:\n    triggers:\n      t:\n        event: e\n        condition: {expression}\n        action: []\nservice_template:\n  node_templates:\n    n: {{ type: N }}\n  policies:\n    - p: {{ type: P, targets: [ n ] }}\n  outputs:\n    result: {{ value: {expression} }}\n"
            );
            let template = khutulun_tosca::compile_text("case.yaml", &text, &Default::default())
                .unwrap_or_else(|e| panic!("{expression}: {e:?}"));
            let g = khutulun_graph::instantiate(&template, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{expression}: {e:?}"));
            let condition = g.policies[0].triggers[0].condition.clone().unwrap();
            let context = EvalContext::node("n", 0);
            assert_eq!(
                holds(&g, &condition, &context, &NoRuntime),
                Ok(expected),
                "handler: {expression}"
            );
            assert_eq!(
                g.outputs["result"].value,
                Expr::Value(json!(expected)),
                "deploy time: {expression}"
            );
        }
        // Errors too are the shared ones.
        let args = vec![json!(true), json!(1)];
        let shared = builtins::call(
            "equal",
            &args.iter().cloned().map(Typed::plain).collect::<Vec<_>>(),
        )
        .unwrap_err();
        let condition = call("equal", args.into_iter().map(v).collect());
        assert_eq!(
            holds(&graph(), &condition, &EvalContext::None, &NoRuntime),
            Err(shared)
        );
    }

    /// A condition compares attributes of declared scalar and version types as their types
    /// say (§9.1.2), not as text.
    #[test]
    fn conditions_compare_declared_scalars_and_versions_by_their_type() {
        let text = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
node_types:
  Server:
    properties:
      memory: { type: Size }
    attributes:
      release: { type: version, default: "1.10" }
policy_types:
  P:
    triggers:
      newer:
        event: e
        condition: { $greater_than: [ { $get_attribute: [ SELF, release ] }, "1.9" ] }
        action: []
      big:
        event: e
        condition: { $greater_than: [ { $get_property: [ SELF, memory ] }, 512 MiB ] }
        action: []
service_template:
  node_templates:
    server:
      type: Server
      properties: { memory: 1 GiB }
  policies:
    - p: { type: P, targets: [ server ] }
"#;
        let template =
            khutulun_tosca::compile_text("case.yaml", text, &khutulun_profile::registry())
                .unwrap_or_else(|e| panic!("{e:?}"));
        let g = khutulun_graph::instantiate(&template, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let context = EvalContext::node("server", 0);
        for trigger in &g.policies[0].triggers {
            let condition = trigger.condition.as_ref().unwrap();
            assert_eq!(
                holds(&g, condition, &context, &NoRuntime),
                Ok(true),
                "{}",
                trigger.name
            );
        }
    }
}
