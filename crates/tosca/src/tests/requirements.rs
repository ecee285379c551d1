//! Requirement fulfilment: targets, capabilities, relationships, counts.

use super::*;
use crate::ExprKind;

fn with_types(template: &str) -> String {
    format!("{TYPES}service_template:\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n{template}")
}

#[test]
fn short_form_targets_the_first_matching_capability() {
    let text =
        with_types("    app:\n      type: Client\n      requirements:\n        - server: db\n");
    let template = compile_ok(&[("r.yaml", &text)]);
    let app = template.node_template("app").unwrap();
    // The disk requirement has no assignment and a [0, UNBOUNDED] range: nothing implicit.
    assert_eq!(app.requirements.len(), 1);
    let requirement = &app.requirements[0];
    assert_eq!(requirement.name, "server");
    assert_eq!(requirement.target, "db");
    assert_eq!(requirement.capability, "endpoint");
    assert_eq!(requirement.relationship.types[0].name, "ConnectsTo");
    assert_eq!(requirement.count.kind, ExprKind::Integer(1));
    assert!(app.unfulfilled.is_empty());
}

#[test]
fn long_form_with_capability_and_relationship_properties() {
    let text = with_types(
        r#"    app:
      type: Client
      requirements:
        - server:
            node: db
            capability: endpoint
            relationship:
              type: ConnectsTo
              properties: { prefix: DB }
        - disk:
            node: db
            capability: Storage
            relationship: Uses
"#,
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    let app = template.node_template("app").unwrap();
    assert_eq!(
        app.requirements[0].relationship.properties["prefix"].kind,
        ExprKind::String("DB".into())
    );
    assert_eq!(app.requirements[1].capability, "disk");
    assert_eq!(app.requirements[1].relationship.types[0].name, "Uses");
}

#[test]
fn a_target_without_a_matching_capability_is_an_error() {
    let text = with_types(
        "    app:\n      type: Client\n      requirements:\n        - disk: other\n    other:\n      type: Client\n",
    );
    let errors = compile_err(&[("r.yaml", &text)]);
    assert_error(
        &errors,
        &at("r.yaml", &text, "other\n", 0),
        "node template \"other\" cannot fulfil requirement \"disk\" of node template \"app\": it has no capability of type \"Storage\" or derived; it has no capabilities",
    );
}

#[test]
fn a_capability_of_the_wrong_type_is_an_error() {
    let text = with_types(
        "    app:\n      type: Client\n      requirements:\n        - server: { node: db, capability: disk }\n",
    );
    let errors = compile_err(&[("r.yaml", &text)]);
    assert_error(
        &errors,
        &at("r.yaml", &text, "disk }", 0),
        "its capability \"disk\" has type \"Storage\", which does not derive from \"Endpoint\" as the requirement needs",
    );
}

#[test]
fn relationship_type_restrictions_apply() {
    let text = with_types(
        "    app:\n      type: Client\n      requirements:\n        - disk: { node: db, relationship: ConnectsTo }\n",
    );
    let errors = compile_err(&[("r.yaml", &text)]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("has type \"ConnectsTo\", which does not derive from \"Uses\"")),
        "{errors:?}"
    );
}

#[test]
fn count_range_minimum_must_be_met() {
    let types = TYPES.replace("count_range: [ 0, 2 ]", "count_range: [ 2, 3 ]");
    let text = format!(
        "{types}service_template:\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n    app:\n      type: Client\n      requirements:\n        - server: db\n"
    );
    let errors = compile_err(&[("r.yaml", &text)]);
    assert_error(
        &errors,
        &at("r.yaml", &text, "app:", 0),
        "node template \"app\" assigns 1 non-optional relationship(s) for requirement \"server\", but its count_range [ 2, 3 ] needs at least 2",
    );
    let over = text.replace(
        "        - server: db\n",
        "        - server: db\n        - server: db\n        - server: { node: db, count: 2 }\n",
    );
    let errors = compile_err(&[("r.yaml", &over)]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("assigns 4 relationship(s)") && e.contains("allows at most 3")),
        "{errors:?}"
    );
}

#[test]
fn implicit_assignments_fulfil_a_required_minimum() {
    let types = TYPES.replace("count_range: [ 0, 2 ]", "count_range: [ 1, 2 ]");
    let text = format!(
        "{types}service_template:\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n    app:\n      type: Client\n"
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    let app = template.node_template("app").unwrap();
    assert_eq!(app.requirements.len(), 1);
    assert_eq!(app.requirements[0].target, "db");
}

#[test]
fn dangling_requirements_are_left_unfulfilled_with_a_warning() {
    let text = format!(
        "{TYPES}service_template:\n  node_templates:\n    app:\n      type: Client\n      requirements:\n        - server: {{ node: Server }}\n        - disk: {{ optional: true }}\n"
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    let app = template.node_template("app").unwrap();
    assert!(app.requirements.is_empty());
    assert_eq!(app.unfulfilled.len(), 2);
    assert_eq!(app.unfulfilled[0].name, "server");
    assert_eq!(
        app.unfulfilled[0].reason,
        "no other node template of node type \"Server\" with a capability of type \"Endpoint\""
    );
    assert!(app.unfulfilled[1].optional);
    assert_eq!(template.warnings.len(), 2);
}

#[test]
fn selection_by_node_type_picks_the_first_fitting_template() {
    let text = with_types(
        "    db2:\n      type: Server\n      properties: { name: db2 }\n    app:\n      type: Client\n      requirements:\n        - server: { node: Server }\n",
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    assert_eq!(
        template.node_template("app").unwrap().requirements[0].target,
        "db"
    );
}

#[test]
fn requirement_definitions_must_be_a_list_and_need_capability_and_relationship() {
    let text = "tosca_definitions_version: tosca_2_0\ncapability_types:\n  C: {}\nnode_types:\n  A:\n    requirements:\n      r: { capability: C }\n  B:\n    requirements:\n      - r: { capability: C }\n      - s: C\n";
    let errors = compile_err(&[("d.yaml", text)]);
    assert_error(
        &errors,
        "d.yaml:7:7",
        "the requirements of node type \"A\" must be a list",
    );
    assert_error(
        &errors,
        "d.yaml:10:9",
        "requirement \"r\" of node type \"B\" needs a relationship",
    );
    // The TOSCA 1.x short form is read (with a warning), not rejected.
    assert!(
        errors
            .iter()
            .any(|d| d.starts_with("d.yaml:11:12: warning: ")
                && d.contains("uses the TOSCA 1.x short form \"name: CapabilityType\"")),
        "{errors:?}"
    );
}

#[test]
fn relationship_templates_can_be_named_in_assignments() {
    let text = format!(
        "{TYPES}service_template:\n  relationship_templates:\n    fast:\n      type: ConnectsTo\n      properties: {{ prefix: FAST }}\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n    app:\n      type: Client\n      requirements:\n        - server: {{ node: db, relationship: fast }}\n"
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    let relationship = &template.node_template("app").unwrap().requirements[0].relationship;
    assert_eq!(
        relationship.properties["prefix"].kind,
        ExprKind::String("FAST".into())
    );
}

#[test]
fn counts_may_be_functions() {
    let text = format!(
        "{TYPES}service_template:\n  inputs:\n    n: {{ type: integer, default: 2 }}\n  node_templates:\n    db:\n      type: Server\n      count: {{ $get_input: n }}\n      properties: {{ name: db }}\n"
    );
    let template = compile_ok(&[("r.yaml", &text)]);
    assert!(template.node_templates[0].count.has_call());
    let bad = text.replace("{ $get_input: n }", "-1");
    let errors = compile_err(&[("r.yaml", &bad)]);
    assert_error(
        &errors,
        &at("r.yaml", &bad, "-1", 0),
        "the count of node template \"db\" must be a non-negative integer",
    );
}

#[test]
fn allocations_name_numeric_capability_properties() {
    let text = r#"tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      num-cpus: { type: integer }
      os: { type: string }
relationship_types:
  HostedOn: {}
node_types:
  Compute:
    capabilities:
      host: { type: Host, properties: { num-cpus: { default: 4 }, os: { default: linux } } }
  App:
    requirements:
      - host: { capability: Host, relationship: HostedOn }
service_template:
  node_templates:
    compute: { type: Compute }
    app:
      type: App
      requirements:
        - host:
            node: compute
            allocation:
              num-cpus: two
              os: 1
              memory: 5
"#;
    let errors = compile_err(&[("a.yaml", text)]);
    assert_error(&errors, &at("a.yaml", text, "two", 0), "the allocation of \"num-cpus\" in requirement \"host\" of node template \"app\" must be an integer");
    assert_error(&errors, &at("a.yaml", text, "os: 1", 0), "names property \"os\" of type \"string\"; only integer, float and scalar properties can be allocated");
    assert!(
        errors.iter().any(|e| e
            .starts_with(&format!("{}: warning: ", at("a.yaml", text, "memory", 0)))
            && e.contains("names \"memory\", which is not a property of the target capability")),
        "{errors:#?}"
    );
}

#[test]
fn node_filters_are_conditions_checked_against_their_candidates() {
    let text = format!(
        "{TYPES}service_template:\n  node_templates:\n    db:\n      type: Server\n      properties: {{ name: db }}\n    picked:\n      type: Server\n      directives: [ select ]\n      node_filter: {{ $greater_than: [ {{ $get_property: [ SELF, sise ] }}, 1 ] }}\n    app:\n      type: Client\n      node_filter: {{ $equal: [ 1, 1 ] }}\n      requirements:\n        - server:\n            node: db\n            node_filter: [ not, a, condition ]\n"
    );
    let errors = compile_err(&[("f.yaml", &text)]);
    assert_error(
        &errors,
        &at("f.yaml", &text, "[ not", 0),
        "a node filter must be a Boolean expression",
    );
    let warnings: Vec<&String> = errors
        .iter()
        .filter(|e| e.contains(": warning: "))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("unknown property \"sise\"") && w.contains("in a node filter")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w
            .contains("node template \"app\" has a node_filter but not the \"select\" directive")),
        "{warnings:#?}"
    );
}

#[test]
fn a_node_type_named_in_an_assignment_must_fit_the_definition() {
    let text = format!(
        "{TYPES}  Other: {{}}\nservice_template:\n  node_templates:\n    app:\n      type: Client\n      requirements:\n        - server:\n            node: Other\n"
    )
    .replace("      - server:\n          capability: Endpoint", "      - server:\n          node: Server\n          capability: Endpoint");
    let errors = compile_err(&[("n.yaml", &text)]);
    assert_error(&errors, &at_after("n.yaml", &text, "app:", "Other"), "names node type \"Other\", which does not derive from \"Server\" as the requirement definition needs");
}
