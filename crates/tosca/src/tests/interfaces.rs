//! Interfaces, operations and notifications (§11): definitions and refinements in types, and
//! assignments in templates.

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
interface_types:
  Lifecycle:
    inputs:
      verbose: { type: boolean, default: false }
    operations:
      create: {}
      configure:
        inputs:
          script: { type: string }
          mode: { type: string, value: fast }
        outputs:
          result: { type: string }
    notifications:
      ready: {}
  MoreLifecycle:
    derived_from: Lifecycle
    operations:
      delete: {}
  Other: {}
relationship_types:
  Uses:
    interfaces:
      rel: { type: Lifecycle }
node_types:
  Server:
    attributes:
      state: { type: string }
    interfaces:
      life:
        type: MoreLifecycle
        inputs:
          extra: { type: integer, default: 1 }
        operations:
          create: scripts/create.sh
          configure:
            implementation:
              primary: scripts/configure.sh
              dependencies: [ scripts/lib.sh ]
"#;

fn with(template: &str) -> String {
    format!("{TYPES}{template}")
}

#[test]
fn assignments_of_defined_interfaces_compile() {
    let text = with(
        r#"service_template:
  node_templates:
    web:
      type: Server
      interfaces:
        life:
          inputs: { verbose: true, anything: 1 }
          operations:
            delete: scripts/delete.sh
            configure:
              inputs: { script: x.sh, other: 2 }
              outputs: { result: [ SELF, state ] }
          notifications:
            ready: scripts/ready.sh
"#,
    );
    compile_ok(&[("i.yaml", &text)]);
}

#[test]
fn unknown_operations_and_bad_inputs_are_errors() {
    let text = with(
        r#"service_template:
  node_templates:
    web:
      type: Server
      interfaces:
        life:
          inputs: { verbose: 7 }
          operations:
            stop: scripts/stop.sh
            configure:
              inputs: { script: 12, mode: slow }
              outputs: { result: [ SELF, stat ], other: nothing }
        lifee: {}
"#,
    );
    let errors = compile_err(&[("i.yaml", &text)]);
    assert_error(
        &errors,
        &at("i.yaml", &text, "7 }", 0),
        "input \"verbose\" of interface \"life\" of node template \"web\" must be a boolean",
    );
    assert_error(&errors, &at("i.yaml", &text, "stop:", 0), "unknown operation \"stop\" in interface \"life\" of node template \"web\"; its interface defines operations: configure, create, delete");
    assert_error(
        &errors,
        &at("i.yaml", &text, "12,", 0),
        "input \"script\" of operation \"configure\"",
    );
    assert_error(&errors, &at("i.yaml", &text, "mode: slow", 0), "input \"mode\" of operation \"configure\" of interface \"life\" of node template \"web\" cannot be assigned: its definition fixes its value");
    assert_error(&errors, &at("i.yaml", &text, "stat ]", 0), "maps to attribute \"stat\", which node template \"web\" does not have (did you mean \"state\"?)");
    assert_error(&errors, &at("i.yaml", &text, "nothing", 0), "output \"other\" of operation \"configure\" of interface \"life\" of node template \"web\" must map to an attribute as [ <tosca_path>, <attribute_name>, ... ]");
    assert_error(
        &errors,
        &at("i.yaml", &text, "lifee", 0),
        "unknown interface \"lifee\" in node template \"web\" (did you mean \"life\"?)",
    );
}

#[test]
fn interface_definitions_refine_only_what_their_type_defines() {
    let text = r#"tosca_definitions_version: tosca_2_0
interface_types:
  A:
    operations:
      start: {}
  B: {}
node_types:
  N:
    interfaces:
      one:
        type: A
        operations:
          stop: run.sh
      two: {}
  M:
    derived_from: N
    interfaces:
      one:
        type: B
"#;
    let errors = compile_err(&[("d.yaml", text)]);
    assert_error(&errors, &at("d.yaml", text, "stop:", 0), "operation \"stop\" of interface \"one\" of node type \"N\" is not defined by the interface type");
    assert_error(
        &errors,
        &at("d.yaml", text, "two:", 0),
        "interface \"two\" of node type \"N\" needs a type (§11.2)",
    );
    assert_error(
        &errors,
        &at_after("d.yaml", text, "M:", "B\n"),
        "refines the interface type \"A\" to \"B\", which does not derive from it",
    );
}

#[test]
fn interface_types_declare_and_do_not_map() {
    let text = r#"tosca_definitions_version: tosca_2_0
interface_types:
  A:
    operations:
      start:
        outputs:
          id: [ SELF, id ]
"#;
    let errors = compile_err(&[("t.yaml", text)]);
    assert_error(
        &errors,
        &at("t.yaml", text, "id:", 0),
        "cannot map to an attribute: interface types have no node or relationship",
    );
}

#[test]
fn relationship_interfaces_are_checked_where_they_are_assigned() {
    let text = r#"tosca_definitions_version: tosca_2_0
imports:
  - types.yaml
capability_types:
  C: {}
node_types:
  Db:
    capabilities:
      c: C
  App:
    requirements:
      - db: { capability: C, relationship: Uses }
service_template:
  relationship_templates:
    r:
      type: Uses
      interfaces:
        nope: {}
  node_templates:
    db: { type: Db }
    app:
      type: App
      requirements:
        - db:
            node: db
            relationship:
              interfaces:
                rel:
                  operations:
                    create: x.sh
                    start: y.sh
"#;
    let errors = compile_err(&[("r.yaml", text), ("types.yaml", TYPES)]);
    assert_error(
        &errors,
        &at("r.yaml", text, "nope", 0),
        "unknown interface \"nope\" in relationship template \"r\"",
    );
    assert_error(&errors, &at("r.yaml", text, "start: y.sh", 0), "unknown operation \"start\" in interface \"rel\" of the relationship of requirement \"db\" of node template \"app\"");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn parameters_take_the_single_line_grammar() {
    let text = r#"tosca_definitions_version: tosca_2_0
interface_types:
  A:
    inputs:
      fixed: { type: integer }
    operations:
      start: {}
node_types:
  N:
    attributes:
      id: { type: string }
    interfaces:
      one:
        type: A
        inputs:
          fixed: 5
          call: { $get_input: x }
          literal_map: { a: 1, b: 2 }
        operations:
          start:
            outputs:
              id: [ SELF, id ]
"#;
    compile_ok(&[("p.yaml", text)]);
}

#[test]
fn parameters_in_types_refer_to_self_only() {
    let text = r#"tosca_definitions_version: tosca_2_0
interface_types:
  A:
    inputs:
      x: { value: { $get_property: [ SELF, name ] } }
    operations:
      start: {}
node_types:
  N:
    properties:
      name: { type: string }
    attributes:
      id: { type: string }
    interfaces:
      one:
        type: A
        inputs:
          y: { $get_property: [ other, name ] }
          z: { $get_attribute: [ SELF, id ] }
        operations:
          start:
            outputs:
              id: [ SELF, id ]
              nid: [ SELF, nid ]
"#;
    let errors = compile_err(&[("s.yaml", text)]);
    assert_error(
        &errors,
        &at("s.yaml", text, "$get_property: [ SELF", 0),
        "uses $get_property, but an interface type has no node or relationship to read from",
    );
    assert_error(
        &errors,
        &at("s.yaml", text, "$get_property: [ other", 0),
        "uses $get_property from \"other\"; in a type, paths start from SELF",
    );
    assert_error(
        &errors,
        &at("s.yaml", text, "nid ]", 0),
        "maps to attribute \"nid\", which node type \"N\" does not define (did you mean \"id\"?)",
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn a_new_interface_type_input_needs_the_full_grammar() {
    // `description: text` under inputs is an input named "description" in the short form,
    // which only refines an inherited input (§9.4, §9.8).
    let text = "tosca_definitions_version: tosca_2_0\ninterface_types:\n  Base:\n    inputs:\n      level: { type: integer }\n    operations:\n      run:\n        inputs:\n          mode: { type: string }\n  Mine:\n    derived_from: Base\n    inputs:\n      level: 3\n      description: An operation under inputs\n    operations:\n      run:\n        inputs:\n          mode: fast\n          extra: 1\n";
    let errors = compile_err(&[("t.yaml", text)]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_error(
        &errors,
        "t.yaml:14:7",
        "input \"description\" of interface type \"Mine\" is new, so it needs a full parameter definition",
    );
    assert_error(
        &errors,
        "t.yaml:19:11",
        "input \"extra\" of operation \"run\" of interface type \"Mine\" is new",
    );
}
