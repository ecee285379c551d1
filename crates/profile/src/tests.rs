use super::*;
use khutulun_tosca::{compile_text, ExprKind, ServiceTemplate, TypeName};

fn compile(text: &str) -> ServiceTemplate {
    match compile_text("service.yaml", text, &registry()) {
        Ok(template) => template,
        Err(errors) => panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn khutulun(name: &str) -> TypeName {
    TypeName {
        name: name.to_string(),
        profile: Some(PROFILE_NAME.to_string()),
    }
}

#[test]
fn the_profile_compiles_on_its_own_without_warnings() {
    let template = compile(PROFILE_YAML);
    assert!(template.node_templates.is_empty());
    assert!(template.warnings.is_empty(), "{:?}", template.warnings);
}

#[test]
fn the_profile_declares_the_name_it_is_registered_under() {
    assert!(PROFILE_YAML.contains(&format!("profile: {PROFILE_NAME}")));
    assert!(PROFILE_NAME.starts_with(PROFILE_PREFIX));
}

const EVERY_TYPE: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
    namespace: k
service_template:
  node_templates:
    data:
      type: k:Directory
      properties:
        mode: "0700"
    db:
      type: k:Process
      properties:
        command: postgres
        arguments: [ -D, /var/lib/db ]
      capabilities:
        endpoint:
          properties: { port: 5432 }
      requirements:
        - directory: data
    app:
      type: k:Process
      properties:
        command: ./app
        environment: { MODE: production }
        restart: always
      requirements:
        - connection:
            node: db
            relationship:
              type: k:ConnectsTo
              properties: { env_prefix: DB }
        - directory:
            node: data
            capability: storage
            relationship: k:UsesDirectory
"#;

#[test]
fn a_template_using_every_type_compiles() {
    let template = compile(EVERY_TYPE);
    let data = template.node_template("data").unwrap();
    assert_eq!(data.types, vec![khutulun(DIRECTORY), khutulun(ROOT)]);
    assert_eq!(
        data.capabilities["storage"].types[0],
        khutulun(DIRECTORY_STORAGE)
    );
    assert_eq!(data.properties["keep"].kind, ExprKind::Bool(true));
    assert_eq!(
        data.properties["mode"].kind,
        ExprKind::String("0700".into())
    );
    assert!(!data.properties.contains_key("path"));

    let db = template.node_template("db").unwrap();
    assert_eq!(db.types[0], khutulun(PROCESS));
    assert_eq!(db.capabilities["endpoint"].types[0], khutulun(TCP_ENDPOINT));
    assert_eq!(
        db.capabilities["endpoint"].properties["port"].kind,
        ExprKind::Integer(5432)
    );
    assert_eq!(db.requirements.len(), 1);
    assert_eq!(
        db.requirements[0].relationship.types[0],
        khutulun(USES_DIRECTORY)
    );
    assert_eq!(db.requirements[0].capability, "storage");

    let app = template.node_template("app").unwrap();
    let connection = &app.requirements[0];
    assert_eq!(
        (connection.target.as_str(), connection.capability.as_str()),
        ("db", "endpoint")
    );
    assert_eq!(
        connection.relationship.types,
        vec![khutulun(CONNECTS_TO), khutulun(ROOT)]
    );
    assert_eq!(
        connection.relationship.properties["env_prefix"].kind,
        ExprKind::String("DB".into())
    );
    assert_eq!(app.properties["stop_timeout"].kind, ExprKind::Integer(10));
    assert_eq!(app.properties["arguments"].kind, ExprKind::List(vec![]));
    assert!(app.attributes.contains_key("pid"));
    assert!(app.attributes.contains_key("state"));
}

const HELLO: &str = r#"
tosca_definitions_version: tosca_2_0
description: Hello world
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    greeting: { type: string, default: hello }
  node_templates:
    backend:
      type: Process
      properties:
        command: python3
        arguments: [ backend.py ]
        environment: { GREETING: { $get_input: greeting } }
    frontend:
      type: Process
      properties:
        command: python3
        arguments: [ frontend.py ]
      capabilities:
        endpoint:
          properties: { port: 0 }
      requirements:
        - connection: backend
  outputs:
    url:
      value: { $concat: [ "http://", { $get_attribute: [ frontend, address ] }, ":", { $get_attribute: [ frontend, CAPABILITY, endpoint, port ] }, "/" ] }
"#;

#[test]
fn the_first_example_compiles() {
    let template = compile(HELLO);
    let frontend = template.node_template("frontend").unwrap();
    assert_eq!(frontend.requirements[0].target, "backend");
    assert_eq!(frontend.requirements[0].capability, "endpoint");
    let backend = template.node_template("backend").unwrap();
    assert!(!backend.capabilities["endpoint"]
        .properties
        .contains_key("port"));
    assert_eq!(
        frontend.capabilities["endpoint"].properties["port"].kind,
        ExprKind::Integer(0)
    );
}

#[test]
fn a_misspelt_profile_type_is_reported_with_the_known_ones() {
    let text = HELLO.replace("type: Process\n      properties:\n        command: python3\n        arguments: [ frontend.py ]", "type: Procss\n      properties:\n        command: python3\n        arguments: [ frontend.py ]");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    let first = errors[0].to_string();
    assert!(
        first.contains("unknown node type \"Procss\" in node template \"frontend\" (did you mean \"Process\"?); known node types: Directory, Process, Root"),
        "{first}"
    );
}

#[test]
fn the_hello_world_example_of_the_repository_compiles() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello-world/service.yaml"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hello-world example should be at {path}: {e}"));
    let template = compile(&text);
    let frontend = template.node_template("frontend").unwrap();
    assert_eq!(frontend.requirements[0].target, "backend");
    assert_eq!(
        frontend.requirements[0].relationship.types[0],
        khutulun(CONNECTS_TO)
    );
}

const POLICIES: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Process
      properties: { command: web }
    cache:
      type: Process
      properties: { command: cache }
  groups:
    front:
      type: Root
      members: [ web, cache ]
  policies:
    - three:
        type: Redundancy
        properties: { instances: 3 }
        targets: [ web ]
    - apart:
        type: Separation
        targets: [ web ]
    - pair:
        type: Colocation
        targets: [ front ]
    - ssd:
        type: Placement
        properties: { labels: { disk: ssd } }
        targets: [ web ]
    - sizes:
        type: Resources
        properties: { cpu: 0.5, memory: 256 MiB }
        targets: [ cache ]
"#;

#[test]
fn policies_compile_with_their_defaults_and_targets() {
    let template = compile(POLICIES);
    let names: Vec<&str> = template.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["three", "apart", "pair", "ssd", "sizes"]);
    let apart = &template.policies[1];
    assert_eq!(apart.types[0], khutulun(SEPARATION));
    assert_eq!(apart.properties["strict"].to_json(), Some(true.into()));
    assert_eq!(template.policies[2].targets, ["front"]);
    assert_eq!(template.groups[0].targets, ["web", "cache"]);
    let sizes = &template.policies[4];
    assert_eq!(sizes.properties["memory"].to_json(), Some("256 MiB".into()));
}

#[test]
fn a_bad_policy_property_is_reported() {
    let text = POLICIES.replace("instances: 3", "instances: three");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains("instances")),
        "{errors:?}"
    );
    let text = POLICIES.replace("256 MiB", "256 parsecs");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains("memory")),
        "{errors:?}"
    );
}
