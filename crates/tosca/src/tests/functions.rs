//! Function calls in values and their checks before deployment.

use super::*;
use crate::ExprKind;

fn template(body: &str) -> String {
    format!(
        "{TYPES}service_template:\n  inputs:\n    who: {{ type: string, default: me }}\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n{body}"
    )
}

#[test]
fn get_input_must_name_an_input() {
    let text =
        template("    app:\n      type: Client\n      properties: { name: { $get_input: woh } }\n");
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "woh", 0),
        "unknown input \"woh\" in $get_input (did you mean \"who\"?); the service template's inputs are: who",
    );
}

#[test]
fn unknown_functions_are_errors() {
    let text =
        template("    app:\n      type: Client\n      properties: { name: { $get_inptu: who } }\n");
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "$get_inptu", 0),
        "unknown function \"$get_inptu\" (did you mean \"$get_input\"?)",
    );
}

#[test]
fn declared_functions_are_known() {
    let text = format!(
        "{}functions:\n  reverse:\n    signatures:\n      - arguments: [ {{ type: string }} ]\n        result: {{ type: string }}\n",
        template("    app:\n      type: Client\n      properties: { name: { $reverse: [ abc ] } }\n")
    );
    compile_ok(&[("f.yaml", &text)]);
}

#[test]
fn get_property_paths_are_checked() {
    let body = r#"    app:
      type: Client
      requirements:
        - server: db
      properties:
        name: { $concat: [ { $get_property: [ dbb, name ] }, { $get_property: [ db, nam ] } ] }
  outputs:
    a: { value: { $get_property: [ db, CAPABILITY, endpointt, port ] } }
    b: { value: { $get_attribute: [ SELF, state ] } }
    c: { value: { $get_attribute: [ app, RELATIONSHIP, servr, TARGET, state ] } }
    d: { value: { $get_property: [ app ] } }
"#;
    let text = template(body);
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "dbb", 0),
        "unknown node template \"dbb\" in $get_property (did you mean \"db\"?); node templates: app, db",
    );
    assert_error(
        &errors,
        &at("f.yaml", &text, "nam ]", 0),
        "unknown property \"nam\" of node template \"db\" (node type \"Server\") in $get_property (did you mean \"name\"?); it has: name, size, tags",
    );
    assert_error(
        &errors,
        &at("f.yaml", &text, "$get_property: [ db, CAPABILITY", 0),
        "unknown capability \"endpointt\" of node template \"db\" in the TOSCA path of $get_property (did you mean \"endpoint\"?)",
    );
    assert_error(
        &errors,
        &at("f.yaml", &text, "$get_attribute: [ SELF", 0),
        "invalid TOSCA path in $get_attribute: SELF is used where there is no node or relationship",
    );
    assert_error(
        &errors,
        &at("f.yaml", &text, "$get_attribute: [ app", 0),
        "unknown requirement \"servr\" of node template \"app\" in the TOSCA path of $get_attribute",
    );
    assert_error(
        &errors,
        &at("f.yaml", &text, "$get_property: [ app ]", 0),
        "$get_property needs the name of a property after the TOSCA path",
    );
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn valid_paths_through_relationships_and_capabilities() {
    let body = r#"    app:
      type: Client
      requirements:
        - server:
            node: db
            relationship:
              type: ConnectsTo
              properties:
                prefix: { $get_property: [ SELF, TARGET, name ] }
      properties:
        name: { $concat: [ { $get_property: [ SELF, RELATIONSHIP, server, TARGET, CAPABILITY, endpoint, port ] }, { $get_attribute: [ SELF, RELATIONSHIP, server, 0, CAPABILITY, address ] } ] }
  outputs:
    state: { value: { $get_attribute: [ db, state ] } }
    reflected: { value: { $get_attribute: [ db, size ] } }
    all: { value: { $get_attribute: [ db, ALL, name ] } }
"#;
    let template = compile_ok(&[("f.yaml", &template(body))]);
    let output = &template.outputs[0];
    let call = output.value.as_ref().unwrap().as_call().unwrap();
    assert_eq!(call.function, "get_attribute");
    assert_eq!(call.args.len(), 2);
}

#[test]
fn attributes_of_a_path_are_checked() {
    let body =
        "  outputs:\n    x: { value: { $get_attribute: [ db, CAPABILITY, endpoint, adress ] } }\n";
    let text = template(body);
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "adress", 0),
        "unknown attribute \"adress\" of capability \"endpoint\" of node template \"db\" (capability type \"Endpoint\") in $get_attribute (did you mean \"address\"?); it has: address, port",
    );
}

#[test]
fn dollar_escapes_are_literal() {
    let body = "    app:\n      type: Client\n      properties: { name: $$HOME }\n";
    let template = compile_ok(&[("f.yaml", &template(body))]);
    assert_eq!(
        template.node_template("app").unwrap().properties["name"].kind,
        ExprKind::String("$HOME".into())
    );
}

#[test]
fn a_plain_dollar_string_is_a_call() {
    let body = "    app:\n      type: Client\n      properties: { name: $HOME }\n";
    let text = template(body);
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "$HOME", 0),
        "unknown function \"$HOME\"",
    );
}
