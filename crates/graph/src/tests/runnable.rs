//! Interfaces, artifacts, triggers and functions in the graph, and custom functions at
//! instantiation and at run time.

use super::*;
use crate::{
    evaluate_with, instantiate_with, Action, CustomFunctions, EvalContext, Expr, Function,
    NoRuntime, RuntimeAttributes,
};
use serde_json::json;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
artifact_types:
  Script: {}
interface_types:
  Lifecycle:
    inputs:
      verbose: { type: boolean, default: false }
    operations:
      configure:
        inputs:
          port: { type: integer }
      check: {}
    notifications:
      ready: {}
relationship_types:
  Link:
    interfaces:
      conf:
        type: Lifecycle
        operations:
          configure:
            implementation: scripts/link.sh
            inputs:
              port: { $get_property: [ SELF, SOURCE, port ] }
capability_types:
  Feature: {}
node_types:
  Web:
    properties:
      port: { type: integer, default: 80 }
    attributes:
      url: { type: string }
    capabilities:
      feature: Feature
    requirements:
      - peer:
          capability: Feature
          relationship: Link
          count_range: [ 0, 1 ]
    artifacts:
      setup: { type: Script, file: scripts/setup.sh }
    interfaces:
      life:
        type: Lifecycle
        operations:
          configure:
            implementation:
              primary: setup
              dependencies: [ lib/common.sh ]
              timeout: 20
            inputs:
              port: { $get_property: [ SELF, port ] }
              url: { $get_attribute: [ SELF, url ] }
            outputs:
              url: [ SELF, url ]
          check: https://example.com/check.sh
policy_types:
  Heal:
    triggers:
      restart:
        event: failed
        condition: { $equal: [ { $get_input: mode }, auto ] }
        action:
          - call_operation: { operation: life.configure, inputs: { port: { $get_input: port } } }
functions:
  upper:
    signatures:
      - arguments: [ string ]
        result: string
        implementation: fns/upper.wasm
  fail:
    signatures:
      - arguments: [ string ]
  plain:
    signatures:
      - arguments: [ string ]
service_template:
  inputs:
    mode: { type: string, default: auto }
    port: { type: integer, default: 9000 }
  node_templates:
    a:
      type: Web
      properties: { port: { $get_input: port } }
      interfaces:
        life:
          inputs: { verbose: true }
          notifications:
            ready: scripts/ready.sh
    b:
      type: Web
      requirements:
        - peer: a
  policies:
    - heal:
        type: Heal
        targets: [ a ]
"#;

#[test]
fn interfaces_and_artifacts_reach_the_graph() {
    let graph = graph_of(TEMPLATE, &[]);
    let a = graph.node("a").unwrap();
    assert_eq!(a.interfaces["life"].types[0].name, "Lifecycle");
    let configure = a.operation("life", "configure").unwrap();
    // Found by the interface's type name too.
    assert_eq!(a.operation("Lifecycle", "configure"), Some(configure));
    let implementation = configure.implementation.as_ref().unwrap();
    assert_eq!(implementation.primary.file, "scripts/setup.sh");
    assert_eq!(implementation.primary.types[0].name, "Script");
    assert_eq!(implementation.dependencies[0].file, "lib/common.sh");
    assert_eq!(configure.timeout, Some(20));
    assert_eq!(configure.outputs["url"], "url");
    // Inputs are evaluated in the node's context: properties and inputs now, attributes
    // later.
    assert_eq!(configure.inputs["port"], Expr::Value(json!(9000)));
    assert_eq!(configure.inputs["verbose"], Expr::Value(json!(true)));
    assert_eq!(
        configure.inputs["url"],
        Expr::Call {
            function: "get_attribute".into(),
            args: vec![Expr::Value(json!("SELF")), Expr::Value(json!("url"))],
        }
    );
    assert_eq!(
        a.operation("life", "check")
            .and_then(|o| o.implementation.as_ref())
            .map(|i| i.primary.file.as_str()),
        Some("https://example.com/check.sh")
    );
    assert_eq!(
        a.interfaces["life"].notifications["ready"]
            .implementation
            .as_ref()
            .unwrap()
            .primary
            .file,
        "scripts/ready.sh"
    );
    assert_eq!(a.artifacts["setup"].file, "scripts/setup.sh");
    // `b` has only the type's: no notification.
    let b = graph.node("b").unwrap();
    assert!(b.interfaces["life"].notifications.is_empty());
    assert_eq!(
        b.operation("life", "configure").unwrap().inputs["port"],
        Expr::Value(json!(80))
    );
}

#[test]
fn relationship_interfaces_are_evaluated_in_the_relationship() {
    let graph = graph_of(TEMPLATE, &[]);
    let relationship = graph.requirements_of("b").next().unwrap();
    let configure = relationship.operation("conf", "configure").unwrap();
    assert_eq!(
        configure.implementation.as_ref().unwrap().primary.file,
        "scripts/link.sh"
    );
    // SOURCE is b.
    assert_eq!(configure.inputs["port"], Expr::Value(json!(80)));
    assert_eq!(configure.inputs["verbose"], Expr::Value(json!(false)));
}

#[test]
fn triggers_stay_as_written() {
    let graph = graph_of(TEMPLATE, &[("mode", json!("manual"))]);
    let trigger = &graph.policies[0].triggers[0];
    assert_eq!(trigger.name, "restart");
    assert_eq!(trigger.event, "failed");
    let Some(Expr::Call { function, args }) = &trigger.condition else {
        panic!("the condition is not a call: {:?}", trigger.condition);
    };
    assert_eq!(function, "equal");
    assert_eq!(
        args[0],
        Expr::Call {
            function: "get_input".into(),
            args: vec![Expr::Value(json!("mode"))],
        }
    );
    let Action::CallOperation { operation, inputs } = &trigger.actions[0];
    assert_eq!(operation, "life.configure");
    assert!(matches!(&inputs["port"], Expr::Call { function, .. } if function == "get_input"));
}

#[test]
fn functions_are_declared_in_the_graph() {
    let graph = graph_of(TEMPLATE, &[]);
    let names: Vec<&str> = graph.functions.keys().map(String::as_str).collect();
    assert_eq!(names, ["fail", "plain", "upper"]);
    assert_eq!(
        graph.functions["upper"]
            .implementation
            .as_ref()
            .unwrap()
            .primary
            .file,
        "fns/upper.wasm"
    );
    assert_eq!(graph.functions["plain"].implementation, None);
}

#[test]
fn artifacts_are_made_relative_to_a_root() {
    // Compiled where the package was unpacked: files are under that directory.
    let text = TEMPLATE.replace("lib/common.sh", "/opt/lib/common.sh");
    let reader = khutulun_tosca::MemoryReader::new().with("/tmp/unpack/service.yaml", text);
    let template = khutulun_tosca::compile(
        std::path::Path::new("/tmp/unpack/service.yaml"),
        &reader,
        &khutulun_profile::registry(),
    )
    .unwrap_or_else(|errors| panic!("{}", render(&errors)));
    let mut graph = crate::instantiate(&template, &BTreeMap::new())
        .unwrap_or_else(|errors| panic!("{}", render(&errors)));
    let primary = |graph: &crate::ServiceGraph| {
        graph
            .node("a")
            .unwrap()
            .operation("life", "configure")
            .unwrap()
            .implementation
            .clone()
            .unwrap()
    };
    assert_eq!(primary(&graph).primary.file, "/tmp/unpack/scripts/setup.sh");

    graph.relativize_artifacts(std::path::Path::new("/tmp/unpack"));
    let a = graph.node("a").unwrap();
    let implementation = primary(&graph);
    assert_eq!(implementation.primary.file, "scripts/setup.sh");
    // An absolute path elsewhere and a URL are kept.
    assert_eq!(implementation.dependencies[0].file, "/opt/lib/common.sh");
    assert_eq!(
        a.operation("life", "check")
            .and_then(|o| o.implementation.as_ref())
            .map(|i| i.primary.file.as_str()),
        Some("https://example.com/check.sh")
    );
    assert_eq!(a.artifacts["setup"].file, "scripts/setup.sh");
    assert_eq!(
        a.interfaces["life"].notifications["ready"]
            .implementation
            .as_ref()
            .unwrap()
            .primary
            .file,
        "scripts/ready.sh"
    );
    let relationship = &graph.relationships[0];
    assert_eq!(
        relationship
            .operation("conf", "configure")
            .and_then(|o| o.implementation.as_ref())
            .map(|i| i.primary.file.as_str()),
        Some("scripts/link.sh")
    );
    assert_eq!(
        graph.functions["upper"]
            .implementation
            .as_ref()
            .map(|i| i.primary.file.as_str()),
        Some("fns/upper.wasm")
    );

    // Nothing is under another root.
    let mut other = graph.clone();
    other.relativize_artifacts(std::path::Path::new("/elsewhere"));
    assert_eq!(other, graph);
}

/// A test double: `upper` upper-cases its string, `fail` fails, anything else is unknown.
/// `upper` appends the file of its declared implementation, to show it got the declaration.
struct Fake;

impl CustomFunctions for Fake {
    fn call(
        &self,
        name: &str,
        declared: Option<&Function>,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        match (name, args) {
            ("upper", [Value::String(s)]) => {
                let declared = declared
                    .and_then(|d| d.implementation.as_ref())
                    .map(|i| i.primary.file.clone())
                    .unwrap_or_default();
                Some(Ok(json!(format!("{}@{declared}", s.to_uppercase()))))
            }
            ("upper", _) => Some(Err("upper takes one string".into())),
            ("fail", _) => Some(Err("boom".into())),
            _ => None,
        }
    }
}

const CUSTOM: &str = r#"tosca_definitions_version: tosca_2_0
functions:
  upper:
    signatures:
      - arguments: [ string ]
        implementation: fns/upper.wasm
  fail:
    signatures:
      - arguments: [ string ]
  other:
    signatures:
      - arguments: [ string ]
node_types:
  Thing:
    properties:
      fixed: { type: string, required: false }
      from_input: { type: string, required: false }
      later: { type: string, required: false }
      unknown: { type: string, required: false }
    attributes:
      name: { type: string, default: initial }
service_template:
  inputs:
    who: { type: string, default: world }
  node_templates:
    t:
      type: Thing
      properties:
        fixed: { $upper: [ abc ] }
        from_input: { $concat: [ "hello ", { $upper: [ { $get_input: who } ] } ] }
        later: { $upper: [ { $get_attribute: [ SELF, name ] } ] }
        unknown: { $other: [ x ] }
"#;

fn custom_graph(text: &str) -> crate::ServiceGraph {
    match instantiate_with(&compile(text), &BTreeMap::new(), &Fake) {
        Ok(graph) => graph,
        Err(errors) => panic!("{}", render(&errors)),
    }
}

/// Runtime state with one node attribute.
struct Name(&'static str);

impl RuntimeAttributes for Name {
    fn node_attribute(&self, _: &str, _: u32, name: &str) -> Option<Value> {
        (name == "name").then(|| json!(self.0))
    }
    fn capability_attribute(&self, _: &str, _: u32, _: &str, _: &str) -> Option<Value> {
        None
    }
    fn relationship_attribute(&self, _: &str, _: u32, _: &str, _: u32, _: &str) -> Option<Value> {
        None
    }
}

#[test]
fn custom_functions_are_computed_at_instantiation() {
    let graph = custom_graph(CUSTOM);
    let t = graph.node("t").unwrap();
    assert_eq!(
        t.properties["fixed"],
        Expr::Value(json!("ABC@fns/upper.wasm"))
    );
    // Arguments from $get_input.
    assert_eq!(
        t.properties["from_input"],
        Expr::Value(json!("hello WORLD@fns/upper.wasm"))
    );
    // A function the orchestrator does not know stays deferred.
    assert_eq!(
        t.properties["unknown"],
        Expr::Call {
            function: "other".into(),
            args: vec![Expr::Value(json!("x"))],
        }
    );
    // Without functions, every custom call stays deferred.
    let plain = graph_of(CUSTOM, &[]);
    assert!(matches!(
        &plain.node("t").unwrap().properties["fixed"],
        Expr::Call { function, .. } if function == "upper"
    ));
}

#[test]
fn custom_functions_of_attributes_wait_for_run_time() {
    let graph = custom_graph(CUSTOM);
    let later = &graph.node("t").unwrap().properties["later"];
    assert!(matches!(later, Expr::Call { function, .. } if function == "upper"));
    let context = EvalContext::node("t", 0);
    assert_eq!(
        evaluate_with(&graph, later, &context, &Name("bob"), &Fake),
        Ok(json!("BOB@fns/upper.wasm"))
    );
    // The graph's value of the attribute when the runtime has none.
    assert_eq!(
        evaluate_with(&graph, later, &context, &NoRuntime, &Fake),
        Ok(json!("INITIAL@fns/upper.wasm"))
    );
    // Failures and unknown functions are errors at run time.
    let fail = Expr::Call {
        function: "fail".into(),
        args: vec![Expr::Value(json!("x"))],
    };
    let error = evaluate_with(&graph, &fail, &context, &NoRuntime, &Fake).unwrap_err();
    assert_eq!(error.function, "fail");
    assert_eq!(error.message, "$fail failed: boom");
    let unknown = &graph.node("t").unwrap().properties["unknown"];
    let error = evaluate_with(&graph, unknown, &context, &NoRuntime, &Fake).unwrap_err();
    assert_eq!(error.function, "other");
    // `evaluate` knows no custom function.
    assert!(crate::evaluate(&graph, later, &context, &Name("bob")).is_err());
}

#[test]
fn a_failing_custom_function_is_a_diagnostic_at_its_call() {
    let text = CUSTOM.replace(
        "unknown: { $other: [ x ] }",
        "unknown: { $concat: [ a, { $fail: [ x ] } ] }",
    );
    let errors = match instantiate_with(&compile(&text), &BTreeMap::new(), &Fake) {
        Ok(_) => panic!("expected instantiation to fail"),
        Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    let offset = text.find("$fail").unwrap();
    let line = text[..offset].matches('\n').count() + 1;
    let column = offset - text[..offset].rfind('\n').unwrap();
    assert_eq!(
        errors,
        [format!(
            "service.yaml:{line}:{column}: error: property \"unknown\" of node template \"t\": $fail failed: boom"
        )]
    );
}

#[test]
fn custom_functions_in_operation_inputs() {
    let text = CUSTOM
        .replace(
            "node_types:",
            "interface_types:\n  Life:\n    operations:\n      run: {}\nnode_types:",
        )
        .replace(
            "    attributes:\n      name",
            r#"    interfaces:
      life:
        type: Life
        operations:
          run:
            implementation: run.sh
            inputs:
              shout: { $upper: [ { $get_input: who } ] }
    attributes:
      name"#,
        );
    let graph = custom_graph(&text);
    assert_eq!(
        graph
            .node("t")
            .unwrap()
            .operation("life", "run")
            .unwrap()
            .inputs["shout"],
        Expr::Value(json!("WORLD@fns/upper.wasm"))
    );
}
