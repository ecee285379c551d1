//! Imperative workflows (§13.2): steps, targets, links, and activities.

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
interface_types:
  Backup:
    inputs:
      location: { type: string }
    operations:
      backup:
        inputs:
          name: { type: string }
          level: { type: integer, default: 1 }
capability_types:
  C: {}
relationship_types:
  R: {}
node_types:
  Entity:
    interfaces:
      backup: { type: Backup }
    capabilities:
      c: C
    requirements:
      - peer: { capability: C, relationship: R, count_range: [ 0, 1 ] }
"#;

fn workflow(inputs: &str, activity: &str) -> String {
    format!(
        "{TYPES}service_template:\n  node_templates:\n    client:\n      type: Entity\n  workflows:\n    backup:\n      inputs:\n{inputs}      steps:\n        one:\n          target: client\n          activities:\n            - call_operation:\n                operation: backup.backup\n                inputs:\n{activity}"
    )
}

const INPUTS: &str = "        location: { type: string }\n        name: { type: string }\n        id: { type: integer }\n        maybe: { type: string, required: false }\n";

#[test]
fn a_call_that_gives_every_required_input_compiles() {
    let text = workflow(
        INPUTS,
        "                  location: { $get_input: location }\n                  name: { $get_input: name }\n",
    );
    compile_ok(&[("w.yaml", &text)]);
}

#[test]
fn call_operation_inputs_are_checked() {
    let missing = workflow(
        INPUTS,
        "                  location: { $get_input: location }\n",
    );
    let errors = compile_err(&[("w.yaml", &missing)]);
    assert_error(
        &errors,
        &at("w.yaml", &missing, "backup.backup", 0),
        "gives no value to input \"name\", which the operation requires",
    );

    let unknown = workflow(
        INPUTS,
        "                  location: x\n                  name: y\n                  guid: z\n",
    );
    let errors = compile_err(&[("w.yaml", &unknown)]);
    assert_error(
        &errors,
        &at("w.yaml", &unknown, "guid", 0),
        "unknown input \"guid\" in the call of operation \"backup.backup\"",
    );

    let mismatch = workflow(
        INPUTS,
        "                  location: x\n                  name: { $get_input: id }\n",
    );
    let errors = compile_err(&[("w.yaml", &mismatch)]);
    assert_error(
        &errors,
        &at("w.yaml", &mismatch, "$get_input: id", 0),
        "has type \"string\", but workflow input \"id\" given to it has type \"integer\"",
    );

    let optional = workflow(
        INPUTS,
        "                  location: x\n                  name: { $get_input: maybe }\n",
    );
    let errors = compile_err(&[("w.yaml", &optional)]);
    assert_error(
        &errors,
        &at("w.yaml", &optional, "$get_input: maybe", 0),
        "workflow input \"maybe\" given to it is optional and has no default",
    );

    let literal = workflow(
        INPUTS,
        "                  location: x\n                  name: y\n                  level: high\n",
    );
    let errors = compile_err(&[("w.yaml", &literal)]);
    assert_error(
        &errors,
        &at("w.yaml", &literal, "high", 0),
        "input \"level\" of the call of operation \"backup.backup\"",
    );
}

#[test]
fn inputs_assigned_in_the_template_count() {
    let text = format!(
        "{TYPES}service_template:\n  node_templates:\n    client:\n      type: Entity\n      interfaces:\n        backup:\n          inputs: {{ location: here }}\n          operations:\n            backup:\n              inputs: {{ name: me }}\n  workflows:\n    w:\n      steps:\n        one:\n          target: client\n          activities:\n            - call_operation: backup.backup\n"
    );
    compile_ok(&[("w.yaml", &text)]);
}

#[test]
fn steps_name_targets_steps_and_workflows_that_exist() {
    let text = format!(
        r#"{TYPES}service_template:
  node_templates:
    client:
      type: Entity
  groups:
    g: {{ type: G, members: [ client ] }}
  workflows:
    w:
      precondition: {{ $equal: [ {{ $get_attribute: [ client, state ] }}, started ] }}
      steps:
        one:
          target: clent
          activities:
            - set_state: started
          on_success: [ two, three ]
        two:
          target: client
          target_relationship: per
          activities:
            - inline: other
            - delegate: deploy
            - call_operation: backup.restore
        four:
          target: g
          activities: [ {{ set_state: done }} ]
    both:
      steps: {{}}
      implementation: flow.bpmn
"#
    )
    .replace("node_types:", "group_types:\n  G: {}\nnode_types:");
    let errors = compile_err(&[("w.yaml", &text)]);
    assert_error(
        &errors,
        &at("w.yaml", &text, "clent", 0),
        "unknown target \"clent\" of step \"one\" of workflow \"w\" (did you mean \"client\"?)",
    );
    assert_error(
        &errors,
        &at("w.yaml", &text, "three", 0),
        "unknown step \"three\" in step \"one\" of workflow \"w\"",
    );
    assert_error(
        &errors,
        &at("w.yaml", &text, "per\n", 0),
        "unknown requirement \"per\" in the target_relationship of step \"two\"",
    );
    assert_error(
        &errors,
        &at("w.yaml", &text, "other", 0),
        "unknown workflow \"other\" in the inline activity",
    );
    assert_error(
        &errors,
        &at("w.yaml", &text, "both:", 0),
        "workflow \"both\" has both steps and implementation",
    );
    assert_error(
        &errors,
        &at("w.yaml", &text, "state ]", 0),
        "unknown attribute \"state\" of node template \"client\"",
    );
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn activities_have_one_of_four_forms() {
    let text = format!(
        "{TYPES}service_template:\n  node_templates:\n    client:\n      type: Entity\n  workflows:\n    w:\n      steps:\n        one:\n          target: client\n          activities:\n            - run: this\n            - call_operation: {{ inputs: {{}} }}\n        two:\n          activities: []\n"
    );
    let errors = compile_err(&[("w.yaml", &text)]);
    assert_error(
        &errors,
        &at("w.yaml", &text, "run:", 0),
        "unknown keyname \"run\" in an activity",
    );
    assert_error(&errors, &at("w.yaml", &text, "{ inputs", 0), "the call_operation activity of the activities of step \"one\" of workflow \"w\" needs operation");
    assert_error(
        &errors,
        &at("w.yaml", &text, "two:", 0),
        "step \"two\" of workflow \"w\" needs target",
    );
}
