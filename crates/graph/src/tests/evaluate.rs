use super::*;
use crate::{evaluate, EvalContext, Expr, NoRuntime, RuntimeAttributes};
use serde_json::json;

/// Runtime state in a map: (node, index, capability or "", relationship "req/idx" or "", name).
#[derive(Default)]
struct Fake {
    values: BTreeMap<(String, u32, String, String), Value>,
}

impl Fake {
    fn node(mut self, node: &str, index: u32, name: &str, value: Value) -> Self {
        self.values
            .insert((node.into(), index, String::new(), name.into()), value);
        self
    }
    fn capability(
        mut self,
        node: &str,
        index: u32,
        capability: &str,
        name: &str,
        value: Value,
    ) -> Self {
        self.values
            .insert((node.into(), index, capability.into(), name.into()), value);
        self
    }
    fn relationship(
        mut self,
        source: &str,
        requirement: &str,
        rel_index: u32,
        name: &str,
        value: Value,
    ) -> Self {
        self.values.insert(
            (
                source.into(),
                0,
                format!("{requirement}/{rel_index}"),
                name.into(),
            ),
            value,
        );
        self
    }
}

impl RuntimeAttributes for Fake {
    fn node_attribute(&self, node: &str, index: u32, name: &str) -> Option<Value> {
        self.values
            .get(&(node.into(), index, String::new(), name.into()))
            .cloned()
    }
    fn capability_attribute(
        &self,
        node: &str,
        index: u32,
        capability: &str,
        name: &str,
    ) -> Option<Value> {
        self.values
            .get(&(node.into(), index, capability.into(), name.into()))
            .cloned()
    }
    fn relationship_attribute(
        &self,
        source: &str,
        index: u32,
        requirement: &str,
        rel_index: u32,
        name: &str,
    ) -> Option<Value> {
        self.values
            .get(&(
                source.into(),
                index,
                format!("{requirement}/{rel_index}"),
                name.into(),
            ))
            .cloned()
    }
}

#[test]
fn the_url_output_reads_runtime_attributes() {
    let graph = graph_of(HELLO, &[]);
    let runtime = Fake::default()
        .node("frontend", 0, "address", json!("10.0.0.7"))
        .capability("frontend", 0, "endpoint", "port", json!(8080));
    let url = evaluate(
        &graph,
        &graph.outputs["url"].value,
        &EvalContext::None,
        &runtime,
    )
    .unwrap();
    assert_eq!(url, json!("http://10.0.0.7:8080/"));
}

#[test]
fn a_missing_attribute_value_is_a_clear_error_in_concat() {
    let graph = graph_of(HELLO, &[]);
    let runtime = Fake::default().node("frontend", 0, "address", json!("10.0.0.7"));
    let error = evaluate(
        &graph,
        &graph.outputs["url"].value,
        &EvalContext::None,
        &runtime,
    )
    .unwrap_err();
    assert_eq!(error.function, "concat");
    assert_eq!(
        error.message,
        "argument 4 of $concat must be a string, a number, a boolean or a list, not null (§10.2) (an attribute without a value yet?)"
    );
}

const ATTRS: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    db:
      type: Process
      properties: { command: db }
      attributes:
        state: stopped
      capabilities:
        endpoint:
          properties: { port: 5432 }
    app:
      type: Process
      count: 2
      properties: { command: app }
      requirements:
        - connection:
            node: db
            relationship:
              type: ConnectsTo
              properties: { env_prefix: DB }
        - connection: db
  outputs:
    state: { value: { $get_attribute: [ db, state ] } }
    pid: { value: { $get_attribute: [ db, pid ] } }
    reflected: { value: { $get_attribute: [ db, command ] } }
    port: { value: { $get_attribute: [ app, RELATIONSHIP, connection, TARGET, CAPABILITY, endpoint, port ] } }
    second: { value: { $get_attribute: [ app, 1, pid ] } }
    all_pids: { value: { $get_attribute: [ app, ALL, pid ] } }
    incoming: { value: { $get_attribute: [ db, CAPABILITY, endpoint, RELATIONSHIP, 1, SOURCE, pid ] } }
    nested: { value: { $get_property: [ app, arguments ] } }
"#;

fn output(
    graph: &ServiceGraph,
    name: &str,
    runtime: &dyn RuntimeAttributes,
) -> Result<Value, crate::EvalError> {
    evaluate(
        graph,
        &graph.outputs[name].value,
        &EvalContext::None,
        runtime,
    )
}

#[test]
fn attributes_fall_back_to_defaults_reflected_properties_and_null() {
    let graph = graph_of(ATTRS, &[]);
    // Assigned value in the graph, until the runtime says otherwise.
    assert_eq!(
        graph.outputs["state"].value,
        Expr::Call {
            function: "get_attribute".into(),
            args: vec![Expr::Value(json!("db")), Expr::Value(json!("state"))],
        }
    );
    assert_eq!(
        output(&graph, "state", &NoRuntime).unwrap(),
        json!("stopped")
    );
    let running = Fake::default().node("db", 0, "state", json!("running"));
    assert_eq!(output(&graph, "state", &running).unwrap(), json!("running"));
    // No value anywhere: null.
    assert_eq!(output(&graph, "pid", &NoRuntime).unwrap(), Value::Null);
    // A property reflected as an attribute.
    assert_eq!(
        output(&graph, "reflected", &NoRuntime).unwrap(),
        json!("db")
    );
}

#[test]
fn paths_through_relationships_indexes_and_all() {
    let graph = graph_of(ATTRS, &[]);
    let runtime = Fake::default()
        .capability("db", 0, "endpoint", "port", json!(40000))
        .node("app", 0, "pid", json!(100))
        .node("app", 1, "pid", json!(101));
    assert_eq!(output(&graph, "port", &runtime).unwrap(), json!(40000));
    // The endpoint declares a port attribute: before run time it has no value (the port
    // property, 5432, is what was asked for, not what was reserved).
    assert_eq!(output(&graph, "port", &NoRuntime).unwrap(), Value::Null);
    let prefixes = Expr::Call {
        function: "get_property".into(),
        args: ["app", "RELATIONSHIP", "connection", "ALL", "env_prefix"]
            .iter()
            .map(|s| Expr::Value(json!(s)))
            .collect(),
    };
    assert_eq!(
        evaluate(&graph, &prefixes, &EvalContext::None, &NoRuntime).unwrap_err().message,
        "$get_property [ app, RELATIONSHIP, connection, ALL, env_prefix ]: the relationship of requirement \"connection\" of node \"app\" has no property \"env_prefix\" with a value"
    );
    assert_eq!(output(&graph, "second", &runtime).unwrap(), json!(101));
    assert_eq!(
        output(&graph, "all_pids", &runtime).unwrap(),
        json!([100, 101])
    );
    // The second incoming relationship of db's endpoint comes from app (representation 0).
    assert_eq!(output(&graph, "incoming", &runtime).unwrap(), json!(100));
    assert_eq!(output(&graph, "nested", &NoRuntime).unwrap(), json!([]));
}

#[test]
fn self_in_a_relationship_and_relationship_attributes() {
    let graph = graph_of(ATTRS, &[]);
    let runtime = Fake::default().relationship("app", "connection", 0, "note", json!("hi"));
    let context = EvalContext::relationship("app", 0, "connection", 0);
    let expr = Expr::Call {
        function: "get_property".into(),
        args: vec![Expr::Value(json!("SELF")), Expr::Value(json!("env_prefix"))],
    };
    assert_eq!(
        evaluate(&graph, &expr, &context, &runtime).unwrap(),
        json!("DB")
    );
    let target = Expr::Call {
        function: "get_property".into(),
        args: ["SELF", "TARGET", "command"]
            .iter()
            .map(|s| Expr::Value(json!(s)))
            .collect(),
    };
    assert_eq!(
        evaluate(&graph, &target, &context, &runtime).unwrap(),
        json!("db")
    );
    // An attribute not declared by the relationship type: an error naming it.
    let note = Expr::Call {
        function: "get_attribute".into(),
        args: vec![Expr::Value(json!("SELF")), Expr::Value(json!("note"))],
    };
    assert_eq!(
        evaluate(&graph, &note, &context, &runtime).unwrap(),
        json!("hi")
    );
    let missing = Expr::Call {
        function: "get_attribute".into(),
        args: vec![Expr::Value(json!("SELF")), Expr::Value(json!("nothing"))],
    };
    let error = evaluate(&graph, &missing, &context, &NoRuntime).unwrap_err();
    assert_eq!(error.function, "get_attribute");
    assert!(error.message.contains("the relationship of requirement \"connection\" of node \"app\" has no attribute or property \"nothing\""), "{error}");
}

#[test]
fn errors_name_the_function_the_path_and_what_is_missing() {
    let graph = graph_of(ATTRS, &[]);
    let call = |args: &[Value]| Expr::Call {
        function: "get_attribute".into(),
        args: args.iter().cloned().map(Expr::Value).collect(),
    };
    let cases = [
        (call(&[json!("nope"), json!("x")]), "$get_attribute [ nope, x ]: there is no node template \"nope\""),
        (call(&[json!("db"), json!("CAPABILITY"), json!("disk"), json!("x")]), "$get_attribute [ db, CAPABILITY, disk, x ]: node \"db\" has no capability \"disk\""),
        (call(&[json!("db"), json!(3), json!("pid")]), "$get_attribute [ db, 3, pid ]: node template \"db\" has 1 representation(s), so there is no index 3"),
        (call(&[json!("db"), json!("RELATIONSHIP"), json!("connection"), json!("pid")]), "$get_attribute [ db, RELATIONSHIP, connection, pid ]: node \"db\" has 0 relationship(s) for requirement \"connection\", so there is no index 0"),
        (call(&[json!("SELF"), json!("pid")]), "$get_attribute [ SELF, pid ]: SELF is used where there is no node or relationship to refer to (e.g. in outputs); name a node template instead"),
    ];
    for (expr, message) in cases {
        let error = evaluate(&graph, &expr, &EvalContext::None, &NoRuntime).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
    let nested = Expr::Call {
        function: "get_property".into(),
        args: vec![
            Expr::Value(json!("db")),
            Expr::Value(json!("environment")),
            Expr::Value(json!("HOME")),
        ],
    };
    let error = evaluate(&graph, &nested, &EvalContext::None, &NoRuntime).unwrap_err();
    assert_eq!(
        error.to_string(),
        "$get_property: $get_property [ db, environment, HOME ] has no entry \"HOME\" (in {})"
    );
}

#[test]
fn concat_join_length_and_node_index() {
    let graph = graph_of(ATTRS, &[]);
    let call = |function: &str, args: Vec<Value>| Expr::Call {
        function: function.into(),
        args: args.into_iter().map(Expr::Value).collect(),
    };
    let context = EvalContext::node("app", 1);
    let cases = [
        (
            call(
                "concat",
                vec![json!("a"), json!(1), json!(2.5), json!(true)],
            ),
            json!("a12.5true"),
        ),
        (
            call("concat", vec![json!([1]), json!([2, 3])]),
            json!([1, 2, 3]),
        ),
        (
            call("join", vec![json!(["a", "b"]), json!(",")]),
            json!("a,b"),
        ),
        (call("length", vec![json!("héllo")]), json!(5)),
        (call("node_index", vec![]), json!(1)),
    ];
    for (expr, expected) in cases {
        assert_eq!(
            evaluate(&graph, &expr, &context, &NoRuntime).unwrap(),
            expected
        );
    }
}

/// Deploy time computes every built-in of §10.2.2 to §10.2.5, not only `$concat`, `$join`
/// and `$length`.
#[test]
fn every_builtin_is_computed_at_deploy_time() {
    let graph = graph_of(ATTRS, &[]);
    let call = |function: &str, args: Vec<Value>| Expr::Call {
        function: function.into(),
        args: args.into_iter().map(Expr::Value).collect(),
    };
    let context = EvalContext::node("app", 0);
    let cases = [
        (call("xor", vec![json!(true), json!(false)]), json!(true)),
        (
            call("equal", vec![json!([1, "a"]), json!([1.0, "a"])]),
            json!(true),
        ),
        (call("less_than", vec![json!("a"), json!("b")]), json!(true)),
        (
            call("valid_values", vec![json!(2), json!([1, 2])]),
            json!(true),
        ),
        (
            call("has_key", vec![json!({ "a": 1 }), json!("b")]),
            json!(false),
        ),
        (
            call("token", vec![json!("a:b:c"), json!(":"), json!(1)]),
            json!("b"),
        ),
        (
            call("union", vec![json!([1, 2]), json!([2, 3])]),
            json!([1, 2, 3]),
        ),
        (call("sum", vec![json!(1), json!(2)]), json!(3)),
        (call("round", vec![json!(3.5)]), json!(3)),
    ];
    for (expr, expected) in cases {
        assert_eq!(
            evaluate(&graph, &expr, &context, &NoRuntime).unwrap(),
            expected,
            "{expr:?}"
        );
    }
}

/// A comparison whose arguments are known at instantiation is computed then, like `$concat`.
#[test]
fn comparisons_of_known_values_are_computed_at_instantiation() {
    let text = ATTRS.replace(
        "  outputs:\n",
        "  outputs:\n    same: { value: { $equal: [ { $get_property: [ db, command ] }, db ] } }\n",
    );
    let graph = graph_of(&text, &[]);
    assert_eq!(graph.outputs["same"].value, Expr::Value(json!(true)));
}

#[test]
fn get_input_reads_graph_inputs() {
    let graph = graph_of(HELLO, &[("greeting", json!("salut"))]);
    let expr = Expr::Call {
        function: "get_input".into(),
        args: vec![Expr::Value(json!("greeting"))],
    };
    assert_eq!(
        evaluate(&graph, &expr, &EvalContext::None, &NoRuntime).unwrap(),
        json!("salut")
    );
}

/// Expressions on which the evaluators used to disagree, with what TOSCA says they give.
const SHARED_CASES: &[(&str, bool)] = &[
    ("{ $xor: [ true, false ] }", true),
    ("{ $equal: [ [ 1, 2 ], [ 1.0, 2 ] ] }", true),
    ("{ $has_key: [ { a: 1 }, b ] }", false),
    ("{ $greater_than: [ { $length: [ abc ] }, 2 ] }", true),
    (
        "{ $valid_values: [ { $concat: [ a, b ] }, [ ab, cd ] ] }",
        true,
    ),
    (
        "{ $equal: [ { $sum: [ 1, 2 ] }, { $round: [ 3.5 ] } ] }",
        true,
    ),
    (
        "{ $and: [ true, { $contains: [ [ 1, 2, 3 ], [ 2, 3 ] ] }, { $not: [ true ] } ] }",
        false,
    ),
];

/// Compile time (a validation clause), deploy time (an output) and the shared semantics
/// give the same answer: the graph computes the built-ins with `khutulun_tosca::builtins`.
#[test]
fn compile_time_and_deploy_time_agree_through_the_shared_builtins() {
    for (expression, expected) in SHARED_CASES {
        let text = |validation: &str| {
            format!(
                "tosca_definitions_version: tosca_2_0\ndata_types:\n  Check:\n    derived_from: boolean\n{validation}service_template:\n  inputs:\n    check: {{ type: Check, default: true }}\n  node_templates: {{}}\n  outputs:\n    result: {{ value: {expression} }}\n"
            )
        };
        let validated = text(&format!("    validation: {expression}\n"));
        let compiled = khutulun_tosca::compile_text("case.yaml", &validated, &Default::default())
            .map(|_| ())
            .map_err(|errors| render(&errors));
        match compiled {
            Ok(()) => assert!(expected, "compile time: {expression}"),
            Err(errors) => assert!(
                !expected && errors.contains("does not satisfy the validation clause"),
                "compile time: {expression}: {errors}"
            ),
        }
        let graph = graph_of(&text(""), &[]);
        assert_eq!(
            graph.outputs["result"].value,
            Expr::Value(json!(expected)),
            "deploy time: {expression}"
        );
    }
    // The graph's answer for a call is the shared one, errors included.
    let graph = graph_of(ATTRS, &[]);
    for (function, args) in [
        ("equal", vec![json!(1), json!("1")]),
        ("token", vec![json!("a:b"), json!(":"), json!(5)]),
        ("less_than", vec![json!("1.10"), json!("1.9")]),
    ] {
        let typed: Vec<_> = args
            .iter()
            .cloned()
            .map(khutulun_tosca::builtins::Typed::plain)
            .collect();
        let shared = khutulun_tosca::builtins::call(function, &typed);
        let expr = Expr::Call {
            function: function.into(),
            args: args.into_iter().map(Expr::Value).collect(),
        };
        let deployed =
            evaluate(&graph, &expr, &EvalContext::None, &NoRuntime).map_err(|e| e.message);
        assert_eq!(deployed, shared, "${function}");
    }
}

const TYPED: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
node_types:
  Server:
    properties:
      memory: { type: Size }
    attributes:
      release: { type: version, default: "1.10" }
service_template:
  inputs:
    minimum: { type: version, default: "1.9" }
  node_templates:
    server:
      type: Server
      properties: { memory: 1 GiB }
  outputs:
    newer: { value: { $greater_than: [ { $get_attribute: [ server, release ] }, { $get_input: minimum } ] } }
    big: { value: { $greater_than: [ { $get_property: [ server, memory ] }, 512 MiB ] } }
"#;

/// Values of declared scalar and version types compare as their types say (§9.1.2), at
/// deploy time as at compile time, not as text ("1.10" < "1.9", "1 GiB" < "512 MiB").
#[test]
fn declared_scalars_and_versions_compare_by_their_type_at_deploy_time() {
    let graph = graph_of(TYPED, &[]);
    assert_eq!(graph.outputs["big"].value, Expr::Value(json!(true)));
    assert_eq!(output(&graph, "newer", &NoRuntime), Ok(json!(true)));
    let runtime = Fake::default().node("server", 0, "release", json!("1.8.3"));
    assert_eq!(output(&graph, "newer", &runtime), Ok(json!(false)));
}
