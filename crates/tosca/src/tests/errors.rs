//! Diagnostics: their exact positions and what they say, and that all of them are reported.

use super::*;

fn with_types(template: &str) -> String {
    format!("{TYPES}{template}")
}

#[test]
fn unknown_node_type_points_at_the_type_and_lists_known_ones() {
    let text = with_types(
        "service_template:\n  node_templates:\n    web:\n      type: Servr\n      properties: { name: x }\n",
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "Servr", 0),
        "unknown node type \"Servr\" in node template \"web\" (did you mean \"Server\"?); known node types: Client, Server",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn unknown_property_points_at_its_key() {
    let text = with_types(
        "service_template:\n  node_templates:\n    web:\n      type: Server\n      properties:\n        name: x\n        nmae: y\n",
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "nmae", 0),
        "unknown property \"nmae\" in node template \"web\" (did you mean \"name\"?); node type \"Server\" defines properties: name, size, tags",
    );
}

#[test]
fn wrong_value_types_point_at_the_value() {
    let text = with_types(
        r#"service_template:
  node_templates:
    web:
      type: Server
      properties:
        name: 12
        size: "big"
        tags: [ a, 3, c ]
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "12", 0),
        "property \"name\" of node template \"web\" must be a string (quote values that YAML reads as other types), not integer 12",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "\"big\"", 0),
        "property \"size\" of node template \"web\" must be an integer, not string \"big\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "3, c", 0),
        "entry 1 of property \"tags\" of node template \"web\" must be a string",
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn missing_required_property_points_at_the_template() {
    let text = with_types("service_template:\n  node_templates:\n    web:\n      type: Server\n");
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "web:", 0),
        "node template \"web\" lacks required property \"name\": node type \"Server\" requires it and gives no default",
    );
}

#[test]
fn a_function_call_counts_as_an_assignment_of_a_required_property() {
    let text = with_types(
        "service_template:\n  inputs:\n    n: { type: string }\n  node_templates:\n    web:\n      type: Server\n      properties: { name: { $get_input: n } }\n",
    );
    let template = compile_ok(&[("s.yaml", &text)]);
    assert!(template.node_templates[0].properties["name"].has_call());
}

#[test]
fn unknown_requirement_target_points_at_the_name() {
    let text = with_types(
        r#"service_template:
  node_templates:
    db:
      type: Server
      properties: { name: db }
    app:
      type: Client
      requirements:
        - server: dbb
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "dbb", 0),
        "unknown node template \"dbb\" as the target of requirement \"server\" of node template \"app\" (did you mean \"db\"?); node templates: app, db",
    );
}

#[test]
fn unknown_keynames_are_reported_at_every_level() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_type:
  X: {}
node_types:
  A:
    propertys: {}
    properties:
      p:
        type: string
        requird: true
service_template:
  node_templates:
    a:
      type: A
      propertes: { p: x }
      properties: { p: x }
"#;
    let errors = compile_err(&[("k.yaml", text)]);
    assert_error(
        &errors,
        "k.yaml:2:1",
        "unknown keyname \"node_type\" in a TOSCA file (did you mean \"node_types\"?)",
    );
    assert_error(
        &errors,
        "k.yaml:6:5",
        "unknown keyname \"propertys\" in node type \"A\"",
    );
    assert_error(
        &errors,
        "k.yaml:10:9",
        "unknown keyname \"requird\" in property \"p\" of node type \"A\" (did you mean \"required\"?)",
    );
    assert_error(
        &errors,
        "k.yaml:15:7",
        "unknown keyname \"propertes\" in node template \"a\" (did you mean \"properties\"?); the keynames of node template \"a\" are: type, description",
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[test]
fn unknown_keyname_in_a_requirement_assignment() {
    let text = with_types(
        r#"service_template:
  node_templates:
    db:
      type: Server
      properties: { name: db }
    app:
      type: Client
      requirements:
        - server:
            nodes: db
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "nodes", 0),
        "unknown keyname \"nodes\" in requirement \"server\" of node template \"app\" (did you mean \"node\"?)",
    );
}

#[test]
fn definitions_version_is_required_first_and_2_0() {
    let errors = compile_err(&[("v.yaml", "node_types: {}\n")]);
    assert_error(&errors, "v.yaml:1:1", "missing tosca_definitions_version");
    let errors = compile_err(&[(
        "v.yaml",
        "tosca_definitions_version: tosca_simple_yaml_1_3\n",
    )]);
    assert_error(
        &errors,
        "v.yaml:1:28",
        "unsupported TOSCA version \"tosca_simple_yaml_1_3\"",
    );
    let errors = compile_err(&[(
        "v.yaml",
        "description: x\ntosca_definitions_version: tosca_2_0\n",
    )]);
    assert_error(&errors, "v.yaml:2:1", "must be the first keyname");
}

#[test]
fn every_error_is_collected() {
    let text = with_types(
        r#"service_template:
  node_templates:
    a:
      type: Nope
    b:
      type: Server
      properties: { name: 1, colour: red }
    c:
      type: Client
      requirements:
        - servr: b
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_error(
        &errors,
        &at("s.yaml", &text, "Nope", 0),
        "unknown node type",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "1, colour", 0),
        "must be a string",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "colour", 0),
        "unknown property \"colour\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "servr", 0),
        "unknown requirement \"servr\" in node template \"c\" (did you mean \"server\"?); node type \"Client\" defines requirements: disk, server",
    );
}

#[test]
fn yaml_errors_have_positions() {
    let errors = compile_err(&[(
        "y.yaml",
        "tosca_definitions_version: tosca_2_0\nnode_types: [\n",
    )]);
    assert!(errors[0].starts_with("y.yaml:"), "{errors:?}");
    assert!(errors[0].contains("error: invalid YAML"), "{errors:?}");
}

#[test]
fn a_profile_file_cannot_hold_a_service_template() {
    let text = "tosca_definitions_version: tosca_2_0\nprofile: a.b:1\nservice_template:\n  node_templates: {}\n";
    let errors = compile_err(&[("p.yaml", text)]);
    assert_error(
        &errors,
        "p.yaml:3:1",
        "must not define a service template (§6.7.1)",
    );
}

#[test]
fn diagnostics_display_and_serialize() {
    let errors = match compile_with(&[("v.yaml", "node_types: {}\n")], &ProfileRegistry::new()) {
        Err(errors) => errors,
        Ok(_) => unreachable!(),
    };
    let json = serde_json::to_value(&errors[0]).unwrap();
    assert_eq!(json["severity"], "error");
    assert_eq!(json["file"], "v.yaml");
    assert_eq!(json["line"], 1);
    assert_eq!(json["column"], 1);
    let back: Diagnostic = serde_json::from_value(json).unwrap();
    assert_eq!(back, errors[0]);
    assert!(errors[0]
        .to_string()
        .starts_with("v.yaml:1:1: error: missing"));
}

#[test]
fn warnings_ride_along_on_success() {
    let text = "tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    properties:\n      p:\n        type: string\n        required: false\n        default: x\n";
    let template = compile_ok(&[("w.yaml", text)]);
    assert_eq!(template.warnings.len(), 1);
    assert_eq!(template.warnings[0].severity, crate::Severity::Warning);
    assert!(template.warnings[0]
        .to_string()
        .starts_with("w.yaml:5:7: warning: property \"p\" of node type \"A\" is not required"));
}

#[test]
fn every_multi_line_element_takes_description_and_metadata() {
    let text = with_types(
        r#"service_template:
  node_templates:
    db:
      type: Server
      properties: { name: db }
      capabilities:
        endpoint:
          description: the endpoint
          metadata: { owner: me }
    app:
      type: Client
      requirements:
        - server:
            description: where it connects
            metadata: { note: 1 }
            node: db
            relationship:
              type: ConnectsTo
              description: the connection
"#,
    );
    compile_ok(&[("d.yaml", &text)]);
    let broken = text.replace(
        "description: where it connects",
        "description: [ not, text ]",
    );
    let errors = compile_err(&[("d.yaml", &broken)]);
    assert_error(
        &errors,
        &at("d.yaml", &broken, "[ not", 0),
        "description must be a string, not a list",
    );
}

#[test]
fn deprecated_occurrences_is_read_with_a_warning() {
    let text = "tosca_definitions_version: tosca_2_0\ncapability_types:\n  C: {}\nnode_types:\n  N:\n    capabilities:\n      c:\n        type: C\n        occurrences: [ 1, UNBOUNDED ]\n";
    let template = compile_ok(&[("o.yaml", text)]);
    assert!(
        template.warnings.iter().any(|w| w.to_string().starts_with(
            "o.yaml:9:9: warning: occurrences in capability \"c\" of node type \"N\" is deprecated"
        )),
        "{:#?}",
        template.warnings
    );
    let broken = text.replace("[ 1, UNBOUNDED ]", "[ 2, 1 ]");
    let errors = compile_err(&[("o.yaml", &broken)]);
    assert_error(
        &errors,
        "o.yaml:9:22",
        "the occurrences of capability \"c\" of node type \"N\" must be [ min, max ]",
    );
}
