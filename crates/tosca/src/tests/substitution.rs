//! Substitution mappings (§15).

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
capability_types:
  Foo: {}
  Bar:
    properties:
      port: { type: integer, required: false }
relationship_types:
  DependsOn: {}
interface_types:
  Control:
    operations:
      restart: {}
node_types:
  MyService:
    properties:
      num-cpus: { type: integer }
    attributes:
      url: { type: string }
    capabilities:
      bar: Bar
    requirements:
      - foo: { capability: Foo, relationship: DependsOn, count_range: [ 0, 1 ] }
    interfaces:
      control: { type: Control }
  Worker:
    properties:
      cpus: { type: integer }
    capabilities:
      worker-bar: Bar
      worker-foo: Foo
    requirements:
      - worker-foo: { capability: Foo, relationship: DependsOn }
"#;

fn with(template: &str) -> String {
    format!("{TYPES}{template}")
}

#[test]
fn a_complete_substitution_compiles() {
    let text = with(
        r#"service_template:
  inputs:
    cpus: { type: integer }
  outputs:
    address: { type: string, value: { $get_attribute: [ worker, cpus ] } }
  substitution_mappings:
    node_type: MyService
    properties:
      num-cpus: cpus
    attributes:
      url: address
    capabilities:
      bar: [ worker, worker-bar ]
    requirements:
      - foo: [ worker, worker-foo ]
    interfaces:
      control:
        restart: restart-all
  node_templates:
    worker:
      type: Worker
      properties:
        cpus: { $get_input: cpus }
      requirements:
        - worker-foo: {}
  workflows:
    restart-all:
      steps: {}
"#,
    );
    compile_ok(&[("s.yaml", &text)]);
}

#[test]
fn mappings_name_what_exists() {
    let text = with(
        r#"service_template:
  inputs:
    cpus: { type: string }
    other: { type: integer }
    unmapped: { type: integer }
  substitution_mappings:
    node_type: MyService
    properties:
      num-cpus: cpus
      memory: other
      [ CAPABILITY, bar, port ]: nothing
    capabilities:
      bar: [ worker, worker-foo ]
      baz: [ worker, worker-bar ]
    requirements:
      - foo: [ worker, worker-fo ]
      - foo: [ wrker, worker-foo ]
    interfaces:
      control:
        stop: nowhere
  node_templates:
    worker:
      type: Worker
      properties: { cpus: 1 }
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at("s.yaml", &text, "cpus\n      memory", 0),
        "property \"num-cpus\" has type \"integer\", but input \"cpus\" has type \"string\"",
    );
    assert_error(&errors, &at("s.yaml", &text, "memory", 0), "unknown property \"memory\" in the property mapping of memory; node type \"MyService\" has: num-cpus");
    assert_error(
        &errors,
        &at("s.yaml", &text, "nothing", 0),
        "unknown input \"nothing\"",
    );
    assert_error(&errors, &at("s.yaml", &text, "unmapped: { type", 0), "input \"unmapped\" is required and has no default, so the substitution mappings must map a property to it");
    assert_error(
        &errors,
        &at_after("s.yaml", &text, "bar: [ worker, ", "worker-foo"),
        "whose type \"Foo\" does not derive from it",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "baz", 0),
        "unknown capability \"baz\" in capability mapping \"baz\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "worker-fo ]", 0),
        "unknown requirement \"worker-fo\" in requirement mapping \"foo\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "wrker", 0),
        "unknown node template \"wrker\" in requirement mapping \"foo\"",
    );
    assert_error(&errors, &at("s.yaml", &text, "foo: [ worker, worker-fo ]", 0), "requirement mapping \"foo\": 2 mappings of requirement \"foo\", but its count_range [ 0, 1 ] allows at most 1");
    assert_error(
        &errors,
        &at("s.yaml", &text, "stop", 0),
        "unknown operation \"stop\" in interface mapping \"control\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", &text, "nowhere", 0),
        "unknown workflow \"nowhere\"",
    );
}

#[test]
fn requirements_are_mapped_onto_dangling_ones_only() {
    let text = with(
        r#"service_template:
  substitution_mappings:
    node_type: MyService
    requirements:
      - foo: [ worker, worker-foo ]
  node_templates:
    other: { type: Worker, properties: { cpus: 1 } }
    worker:
      type: Worker
      properties: { cpus: 1 }
      requirements:
        - worker-foo: other
"#,
    );
    let errors = compile_err(&[("s.yaml", &text)]);
    assert_error(
        &errors,
        &at_after("s.yaml", &text, "foo: [ worker, ", "worker-foo"),
        "can only be mapped onto dangling requirements (§15.5.4)",
    );
}
