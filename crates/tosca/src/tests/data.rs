//! Values against data types: built-ins, collections, complex types; inputs and outputs.

use super::*;
use crate::{Builtin, DataTypeRef, ExprKind};

const DATA: &str = r#"tosca_definitions_version: tosca_2_0
data_types:
  Contact:
    properties:
      name: { type: string }
      phone: { type: integer, required: false }
      email: { type: string, default: none@example.com }
  Size:
    derived_from: scalar
    data_type: integer
    units: { B: 1 }
    prefixes: { "": 1, k: 1000, Ki: 1024 }
node_types:
  Holder:
    properties:
      contact: { type: Contact, required: false }
      contacts: { type: map, entry_schema: Contact, required: false }
      speed: { type: float, required: false }
      flag: { type: boolean, required: false }
      nothing: { type: nil, required: false }
      size: { type: Size, required: false }
      when: { type: timestamp, required: false }
      version: { type: version, required: false }
      data: { type: bytes, required: false }
      matrix:
        type: list
        entry_schema:
          type: list
          entry_schema: integer
        required: false
"#;

fn holder(properties: &str) -> String {
    format!("{DATA}service_template:\n  node_templates:\n    h:\n      type: Holder\n      properties:\n{properties}")
}

#[test]
fn valid_values_of_every_kind() {
    let text = holder(
        r#"        contact: { name: Ann, phone: 123 }
        contacts: { a: { name: A }, b: { name: B, email: b@example.com } }
        speed: 10
        flag: false
        nothing: null
        size: 4 KiB
        when: "2025-07-22T10:00:00Z"
        version: 2.0.1
        data: "R0lGODlh"
        matrix: [ [ 1, 2 ], [ 3 ] ]
"#,
    );
    let template = compile_ok(&[("d.yaml", &text)]);
    let h = &template.node_templates[0];
    assert_eq!(h.properties["speed"].kind, ExprKind::Integer(10));
    assert_eq!(h.properties.len(), 10);
}

#[test]
fn invalid_values_point_at_the_offending_part() {
    let text = holder(
        r#"        contact: { nme: Ann }
        contacts: { a: { name: 1 } }
        flag: "false"
        nothing: 0
        size: 4 MB
        when: yesterday
        version: 2.0
        data: "not base64!"
        matrix: [ [ 1, x ] ]
"#,
    );
    let errors = compile_err(&[("d.yaml", &text)]);
    let contact = at("d.yaml", &text, "{ nme", 0);
    assert_error(
        &errors,
        &at("d.yaml", &text, "Ann", 0),
        "unknown property \"nme\" in property \"contact\" of node template \"h\" (did you mean \"name\"?); data type \"Contact\" defines: email, name, phone",
    );
    assert_error(
        &errors,
        &contact,
        "property \"contact\" of node template \"h\" lacks property \"name\", which data type \"Contact\" requires",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "1 } }", 0),
        "property \"name\" of entry \"a\" of property \"contacts\" of node template \"h\" must be a string",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "\"false\"", 0),
        "must be a boolean",
    );
    assert_error(
        &errors,
        &at_after("d.yaml", &text, "nothing: 0", "0"),
        "must be null (type nil)",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "4 MB", 0),
        "unknown unit \"MB\"",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "yesterday", 0),
        "must be a timestamp",
    );
    assert_error(
        &errors,
        &at_after("d.yaml", &text, "version: 2.0", "2.0"),
        "must be a version string",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "\"not base64!\"", 0),
        "must be bytes",
    );
    assert_error(
        &errors,
        &at("d.yaml", &text, "x ] ]", 0),
        "entry 1 of entry 0 of property \"matrix\" of node template \"h\" must be an integer",
    );
    assert_eq!(errors.len(), 10, "{errors:#?}");
}

#[test]
fn collections_need_an_entry_schema_and_only_they_take_one() {
    let text = "tosca_definitions_version: tosca_2_0\nnode_types:\n  N:\n    properties:\n      l: { type: list }\n      s: { type: string, entry_schema: string }\n      m: { type: map, entry_schema: string, key_schema: integer }\n";
    let errors = compile_err(&[("c.yaml", text)]);
    assert_error(
        &errors,
        "c.yaml:5:18",
        "has type \"list\" and needs an entry_schema",
    );
    assert_error(
        &errors,
        &at_after("c.yaml", text, "entry_schema: string }", "string }"),
        "which is not a list or map, so it cannot have an entry_schema",
    );
    assert_error(
        &errors,
        &at("c.yaml", text, "integer }", 0),
        "map keys are strings",
    );
}

#[test]
fn defaults_in_types_are_checked() {
    let text = "tosca_definitions_version: tosca_2_0\nnode_types:\n  N:\n    properties:\n      p: { type: integer, default: many }\n    attributes:\n      a: { type: list, entry_schema: integer, default: [ 1, two ] }\n";
    let errors = compile_err(&[("t.yaml", text)]);
    assert_error(
        &errors,
        &at("t.yaml", text, "many", 0),
        "the default of property \"p\" of node type \"N\" must be an integer, not string \"many\"",
    );
    assert_error(
        &errors,
        &at("t.yaml", text, "two", 0),
        "entry 1 of the default of attribute \"a\" of node type \"N\" must be an integer",
    );
}

#[test]
fn inputs_and_outputs() {
    let text = format!(
        "{DATA}service_template:\n  inputs:\n    contact: {{ type: Contact, required: false }}\n    port: {{ type: integer, default: 80, description: The port }}\n    free: {{ description: untyped }}\n  node_templates: {{}}\n  outputs:\n    url: {{ description: Where, value: {{ $concat: [ a, {{ $get_input: port }} ] }} }}\n"
    );
    let template = compile_ok(&[("io.yaml", &text)]);
    assert_eq!(template.inputs.len(), 3);
    let contact = &template.inputs[0];
    assert!(!contact.required);
    assert!(matches!(
        contact.schema.as_ref().unwrap().data_type,
        DataTypeRef::Defined(_)
    ));
    let port = template.input("port").unwrap();
    assert_eq!(
        port.schema.as_ref().unwrap().data_type,
        DataTypeRef::Builtin(Builtin::Integer)
    );
    assert_eq!(port.default.as_ref().unwrap().kind, ExprKind::Integer(80));
    assert_eq!(
        port.location,
        crate::Location::new(
            "io.yaml",
            at("io.yaml", &text, "port:", 0)[8..]
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap(),
            5
        )
    );
    assert!(template.input("free").unwrap().schema.is_none());
    assert_eq!(template.outputs[0].description.as_deref(), Some("Where"));

    // Values given at deployment are checked against the type.
    assert!(template
        .check_input_value("port", &serde_json::json!(8080))
        .is_empty());
    let problems = template.check_input_value("port", &serde_json::json!("8080"));
    assert_eq!(problems.len(), 1);
    assert!(problems[0]
        .message
        .contains("input \"port\" must be an integer, not string \"8080\""));
    let problems = template.check_input_value("contact", &serde_json::json!({ "phone": 1 }));
    assert!(
        problems[0].message.contains("lacks property \"name\""),
        "{problems:?}"
    );
}

#[test]
fn input_defaults_are_checked() {
    let text = "tosca_definitions_version: tosca_2_0\nservice_template:\n  inputs:\n    n: { type: integer, default: lots }\n  node_templates: {}\n";
    let errors = compile_err(&[("i.yaml", text)]);
    assert_error(
        &errors,
        &at("i.yaml", text, "lots", 0),
        "the default of input \"n\" must be an integer, not string \"lots\"",
    );
}

#[test]
fn scalar_types_follow_the_unit_rules() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  NoOne:
    derived_from: scalar
    units: { kB: 1000, MB: 1000000 }
  Fractional:
    derived_from: scalar
    data_type: integer
    units: { B: 1, half: 0.5 }
  TwoOnes:
    derived_from: scalar
    units: { bps: 1, bits/s: 1 }
  BadCanonical:
    derived_from: scalar
    units: { s: 1 }
    canonical_unit: ms
  Base:
    derived_from: scalar
    data_type: float
    units: { m: 1 }
    canonical_unit: m
  Changed:
    derived_from: Base
    data_type: integer
    canonical_unit: km
"#;
    let errors = compile_err(&[("s.yaml", text)]);
    assert_error(
        &errors,
        &at("s.yaml", text, "NoOne:", 0),
        "data type \"NoOne\" has no unit with the multiplier 1",
    );
    assert_error(&errors, &at("s.yaml", text, "Fractional:", 0), "unit \"half\" of data type \"Fractional\" has the multiplier 0.5, but the data_type is integer");
    assert_error(
        &errors,
        &at("s.yaml", text, "TwoOnes:", 0),
        "has 2 units with the multiplier 1, so it needs a canonical_unit",
    );
    assert_error(
        &errors,
        &at("s.yaml", text, "ms\n", 0),
        "the canonical_unit \"ms\" of data type \"BadCanonical\" is not one of its units",
    );
    assert_error(
        &errors,
        &at_after("s.yaml", text, "Changed:", "integer"),
        "a derived scalar type must not modify data_type",
    );
    assert_error(
        &errors,
        &at("s.yaml", text, "km\n", 0),
        "changes the canonical_unit \"m\" it inherits",
    );
}

#[test]
fn map_keys_are_strings_and_data_types_hold_properties() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  Empty:
    properties: {}
node_types:
  N:
    properties:
      ids: { type: map, entry_schema: integer }
service_template:
  node_templates:
    n:
      type: N
      properties:
        ids: { 1: 100, two: 200 }
"#;
    let errors = compile_err(&[("k.yaml", text)]);
    assert_error(
        &errors,
        &at("k.yaml", text, "{}", 0),
        "the properties of data type \"Empty\" must hold one or more property definitions",
    );
    assert_error(
        &errors,
        &at("k.yaml", text, "1: 100", 0),
        "map keys in values must be strings (§9.1.3.2), not integer 1; quote it: \"1\"",
    );
}

#[test]
fn inputs_given_to_properties_must_have_fitting_types() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_types:
  N:
    properties:
      name: { type: string }
      speed: { type: float }
      tags: { type: list, entry_schema: string }
service_template:
  inputs:
    port: { type: integer }
    numbers: { type: list, entry_schema: integer }
  node_templates:
    ok:
      type: N
      properties: { name: x, speed: { $get_input: port }, tags: [] }
    bad:
      type: N
      properties: { name: { $get_input: port }, speed: 1.5, tags: { $get_input: numbers } }
"#;
    let errors = compile_err(&[("i.yaml", text)]);
    assert_error(&errors, &at_after("i.yaml", text, "bad:", "$get_input: port"), "property \"name\" of node template \"bad\" has type \"string\", but input \"port\" given to it has type \"integer\"");
    assert_error(&errors, &at("i.yaml", text, "$get_input: numbers", 0), "property \"tags\" of node template \"bad\" has type \"list\", but input \"numbers\" given to it has type \"list\"");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}
