use super::*;
use crate::{Expr, TypeRef};
use serde_json::json;

fn khutulun(name: &str) -> TypeRef {
    TypeRef {
        name: name.to_string(),
        profile: Some("io.khutulun:0.1".to_string()),
    }
}

#[test]
fn the_first_example_instantiates() {
    let graph = graph_of(HELLO, &[]);
    assert_eq!(graph.inputs["greeting"], json!("hello"));
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["backend", "frontend"]);

    assert_eq!(graph.relationships.len(), 1);
    let relationship = &graph.relationships[0];
    assert_eq!(relationship.source, "frontend");
    assert_eq!(relationship.requirement, "connection");
    assert_eq!(relationship.target, "backend");
    assert_eq!(relationship.capability, "endpoint");
    assert_eq!(
        relationship.types,
        vec![khutulun("ConnectsTo"), khutulun("Root")]
    );
    assert!(relationship.is_a("io.khutulun", "ConnectsTo"));
    // Only the profile's defaults (ConnectsTo's `expose`).
    assert_eq!(
        relationship.properties,
        BTreeMap::from([("expose".to_string(), Expr::Value(json!(false)))])
    );

    let frontend = graph.node("frontend").unwrap();
    assert_eq!(frontend.types, vec![khutulun("Process"), khutulun("Root")]);
    assert!(frontend.is_a("io.khutulun", "Process"));
    assert_eq!(frontend.count, 1);
    assert_eq!(
        frontend.capabilities["endpoint"].properties["port"],
        Expr::Value(json!(0))
    );
    assert!(frontend.capabilities["endpoint"].is_a("io.khutulun", "TcpEndpoint"));
    assert_eq!(
        frontend.properties["command"],
        Expr::Value(json!("python3"))
    );
    assert_eq!(
        frontend.properties["arguments"],
        Expr::Value(json!(["frontend.py"]))
    );
    assert_eq!(
        frontend.properties["restart"],
        Expr::Value(json!("on-failure"))
    );
    // Attributes without a value are listed as null.
    assert_eq!(frontend.attributes["pid"], Expr::Value(Value::Null));
    assert_eq!(frontend.attributes["address"], Expr::Value(Value::Null));

    let backend = graph.node("backend").unwrap();
    assert!(!backend.capabilities["endpoint"]
        .properties
        .contains_key("port"));
    assert_eq!(
        backend.properties["environment"],
        Expr::Value(json!({ "GREETING": "hello" }))
    );

    let url = &graph.outputs["url"].value;
    let Expr::Call { function, args } = url else {
        panic!("the url output should stay a call: {url:?}");
    };
    assert_eq!(function, "concat");
    assert_eq!(args.len(), 5);
    assert_eq!(args[0], Expr::Value(json!("http://")));
    assert!(matches!(&args[1], Expr::Call { function, .. } if function == "get_attribute"));
}

#[test]
fn given_inputs_replace_defaults() {
    let graph = graph_of(HELLO, &[("greeting", json!("bonjour"))]);
    assert_eq!(
        graph.node("backend").unwrap().properties["environment"],
        Expr::Value(json!({ "GREETING": "bonjour" }))
    );
}

#[test]
fn inputs_are_checked() {
    let errors = errors_of(HELLO, &[("greting", json!("x")), ("greeting", json!(12))]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("service.yaml:5:1: error: unknown input \"greting\": the service template does not define it; its inputs are: greeting")), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("service.yaml:7:5: error: input \"greeting\" must be a string")),
        "{errors:?}"
    );

    let required = HELLO.replace(
        "greeting: { type: string, default: hello }",
        "greeting: { type: string }",
    );
    let errors = errors_of(&required, &[]);
    assert_eq!(
        errors,
        ["service.yaml:7:5: error: missing required input \"greeting\" (type string): it has no default, so it must be given"]
    );
    graph_of(&required, &[("greeting", json!("hi"))]);
}

#[test]
fn optional_inputs_without_value_are_left_out() {
    let text = HELLO.replace(
        "greeting: { type: string, default: hello }",
        "greeting: { type: string, default: hello }\n    extra: { type: integer, required: false }",
    );
    let graph = graph_of(&text, &[]);
    assert!(!graph.inputs.contains_key("extra"));
}

const CHAIN: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    replicas: { type: integer, default: 3 }
    dir: { type: string, default: /srv/data }
  node_templates:
    data:
      type: Directory
      properties:
        path: { $get_input: dir }
    worker:
      type: Process
      count: { $get_input: replicas }
      properties:
        command: { $concat: [ run-, { $get_property: [ SELF, RELATIONSHIP, directory, TARGET, path ] } ] }
        working_directory: { $get_property: [ data, path ] }
        user: { $get_attribute: [ data, path ] }
        environment:
          PORT: { $concat: [ { $get_attribute: [ SELF, CAPABILITY, endpoint, port ] } ] }
          MODE: { $get_property: [ data, mode ] }
      requirements:
        - directory: data
"#;

#[test]
fn properties_are_evaluated_statically_and_attributes_deferred() {
    let graph = graph_of(CHAIN, &[]);
    let worker = graph.node("worker").unwrap();
    assert_eq!(worker.count, 3);
    assert_eq!(
        worker.properties["command"],
        Expr::Value(json!("run-/srv/data"))
    );
    assert_eq!(
        worker.properties["working_directory"],
        Expr::Value(json!("/srv/data"))
    );
    assert!(
        matches!(&worker.properties["user"], Expr::Call { function, .. } if function == "get_attribute")
    );
    let Expr::Map(environment) = &worker.properties["environment"] else {
        panic!("environment holds a call, so it stays a map of expressions");
    };
    assert_eq!(environment["MODE"], Expr::Value(json!("0755")));
    assert!(matches!(&environment["PORT"], Expr::Call { function, .. } if function == "concat"));
    assert_eq!(graph.relationships[0].types[0].name, "UsesDirectory");
}

#[test]
fn evaluation_errors_are_reported_at_the_value() {
    let text = CHAIN.replace(
        "{ $get_property: [ data, path ] }",
        "{ $get_property: [ data, owner ] }",
    );
    let errors = errors_of(&text, &[]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("service.yaml:18:30: error: property \"working_directory\" of node template \"worker\": $get_property [ data, owner ]: node \"data\" has no property \"owner\" with a value"),
        "{errors:?}"
    );
}

#[test]
fn counts_from_inputs_are_checked() {
    let errors = errors_of(CHAIN, &[("replicas", json!(-2))]);
    assert!(
        errors.iter().any(|e| e.contains(
            "the count of node template \"worker\" must be a non-negative integer, not -2"
        )),
        "{errors:?}"
    );
}

#[test]
fn unfulfilled_requirements_and_unsupported_directives_cannot_be_deployed() {
    let text = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    app:
      type: Process
      properties: { command: app }
      requirements:
        - connection: { node: Directory }
        - directory: { optional: true }
    other:
      type: Process
      directives: [ select ]
"#;
    let compiled = compile(text);
    assert_eq!(compiled.warnings.len(), 2, "{:?}", compiled.warnings);
    let errors = errors_of(text, &[]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("service.yaml:10:11: error: requirement \"connection\" of node template \"app\" has no target: no other node template of node type \"Directory\" with a capability of type \"TcpEndpoint\"; name a target node template with node:"), "{errors:?}");
    assert!(
        errors[1].contains("directive \"select\", which is not supported yet"),
        "{errors:?}"
    );
}

#[test]
fn the_graph_round_trips_through_json() {
    let graph = graph_of(CHAIN, &[]);
    let text = serde_json::to_string_pretty(&graph).unwrap();
    let back: ServiceGraph = serde_json::from_str(&text).unwrap();
    assert_eq!(back, graph);
}

#[test]
fn policies_target_nodes_with_groups_expanded_and_inputs_evaluated() {
    let graph = graph_of(
        r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    copies: { type: integer, default: 2 }
  node_templates:
    web: { type: Process, properties: { command: web } }
    cache: { type: Process, properties: { command: cache } }
    db: { type: Process, properties: { command: db } }
  groups:
    front: { type: Root, members: [ web, cache ] }
  policies:
    - copies:
        type: Redundancy
        properties: { instances: { $get_input: copies } }
        targets: [ front, web, db ]
"#,
        &[("copies", serde_json::json!(3))],
    );
    assert_eq!(graph.policies.len(), 1);
    let policy = &graph.policies[0];
    assert_eq!(policy.targets, ["web", "cache", "db"]);
    assert!(policy.is_a(
        khutulun_profile::PROFILE_PREFIX,
        khutulun_profile::REDUNDANCY
    ));
    assert_eq!(
        policy.properties["instances"],
        crate::Expr::Value(serde_json::json!(3))
    );
}
