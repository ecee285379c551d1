//! Type derivation: inherited and refined definitions, unknown parents, cycles.

use super::*;
use crate::ExprKind;

const HIERARCHY: &str = r#"tosca_definitions_version: tosca_2_0
capability_types:
  Feature:
    properties:
      level: { type: integer, default: 1 }
  Better:
    derived_from: Feature
relationship_types:
  Link: {}
  FastLink:
    derived_from: Link
node_types:
  Root:
    properties:
      colour: { type: string, default: red }
      size: { type: integer, required: false }
    attributes:
      health: { type: string, default: unknown }
    capabilities:
      feature: Feature
    requirements:
      - link:
          capability: Feature
          relationship: Link
  Middle:
    derived_from: Root
    properties:
      colour:
        default: blue
      size:
        required: true
        default: 3
    capabilities:
      feature:
        type: Better
        properties:
          level: { default: 5 }
  Leaf:
    derived_from: Middle
    attributes:
      extra: { type: integer }
"#;

#[test]
fn definitions_are_inherited_and_refined() {
    let text = format!(
        "{HIERARCHY}service_template:\n  node_templates:\n    other:\n      type: Root\n    leaf:\n      type: Leaf\n      requirements:\n        - link: other\n"
    );
    let template = compile_ok(&[("h.yaml", &text)]);
    let leaf = template.node_template("leaf").unwrap();
    let names: Vec<&str> = leaf.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Leaf", "Middle", "Root"]);
    assert_eq!(
        leaf.properties["colour"].kind,
        ExprKind::String("blue".into())
    );
    assert_eq!(leaf.properties["size"].kind, ExprKind::Integer(3));
    assert_eq!(
        leaf.attributes["health"].as_ref().map(|e| &e.kind),
        Some(&ExprKind::String("unknown".into()))
    );
    assert_eq!(leaf.attributes["extra"], None);
    let feature = &leaf.capabilities["feature"];
    assert_eq!(feature.types[0].name, "Better");
    assert_eq!(feature.properties["level"].kind, ExprKind::Integer(5));
    assert_eq!(leaf.requirements[0].target, "other");
    assert_eq!(leaf.requirements[0].relationship.types[0].name, "Link");

    let other = template.node_template("other").unwrap();
    assert_eq!(
        other.properties["colour"].kind,
        ExprKind::String("red".into())
    );
    // Not required, so neither assigned nor defaulted.
    assert!(!other.properties.contains_key("size"));
    assert_eq!(
        other.capabilities["feature"].properties["level"].kind,
        ExprKind::Integer(1)
    );
}

#[test]
fn unknown_parent_types_are_reported_at_derived_from() {
    let text = "tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    derived_from: Missing\ncapability_types:\n  C:\n    derived_from: A\n";
    let errors = compile_err(&[("p.yaml", text)]);
    assert_error(
        &errors,
        "p.yaml:4:19",
        "unknown node type \"Missing\" in derived_from of node type \"A\"; known node types: A",
    );
    // A node type is not a capability type: kinds have their own names.
    assert_error(
        &errors,
        "p.yaml:7:19",
        "unknown capability type \"A\" in derived_from of capability type \"C\" (\"A\" is a node type)",
    );
}

#[test]
fn derivation_cycles_are_reported_once() {
    let text = "tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    derived_from: C\n  B:\n    derived_from: A\n  C:\n    derived_from: B\n  D:\n    derived_from: D\n";
    let errors = compile_err(&[("c.yaml", text)]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_error(
        &errors,
        "c.yaml:4:19",
        "derivation cycle among node types: \"A\" derives from \"C\" derives from \"B\" derives from \"A\"",
    );
    assert_error(&errors, "c.yaml:10:19", "\"D\" derives from \"D\"");
}

#[test]
fn refinements_must_respect_the_parent() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_types:
  A:
    properties:
      p: { type: integer }
      fixed: { type: string, value: x }
  B:
    derived_from: A
    properties:
      p:
        type: string
        required: false
      fixed: y
      q: 3
"#;
    let errors = compile_err(&[("r.yaml", text)]);
    assert_error(
        &errors,
        "r.yaml:11:15",
        "property \"p\" of node type \"B\" refines the type \"integer\" to \"string\", which does not derive from it",
    );
    assert_error(&errors, "r.yaml:10:7", "cannot be made optional");
    assert_error(&errors, "r.yaml:13:7", "its value is fixed");
    assert_error(
        &errors,
        "r.yaml:14:7",
        "the short form \"name: value\" only refines an inherited property",
    );
}

#[test]
fn data_types_derive_from_built_ins() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  Port:
    derived_from: integer
  Ports:
    derived_from: list
    entry_schema: Port
  Bad:
    derived_from: string
    properties:
      x: { type: string }
  string:
    derived_from: integer
"#;
    let errors = compile_err(&[("d.yaml", text)]);
    assert_error(
        &errors,
        "d.yaml:8:3",
        "derives from the built-in type \"string\", so it cannot define properties",
    );
    assert_error(
        &errors,
        "d.yaml:12:3",
        "\"string\" is a built-in TOSCA type name",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn the_other_type_kinds_parse_and_resolve_their_parents() {
    let text = r#"tosca_definitions_version: tosca_2_0
artifact_types:
  File: { mime_type: text/plain, file_ext: [ txt ] }
  Script: { derived_from: File }
interface_types:
  Lifecycle:
    inputs:
      verbose: { type: boolean, default: false }
    operations:
      start: { description: Start it }
    notifications:
      done: {}
  MoreLifecycle:
    derived_from: Lifecycle
group_types:
  G:
    members: [ N ]
  G2: { derived_from: G }
policy_types:
  P:
    targets: [ N, G ]
  P2:
    derived_from: P
    triggers:
      t:
        event: fire
        action: [ { set_state: started } ]
node_types:
  N:
    interfaces:
      life: { type: MoreLifecycle }
    artifacts:
      script: { type: Script, file: run.sh }
"#;
    compile_ok(&[("k.yaml", text)]);
    let broken = text.replace("derived_from: Lifecycle", "derived_from: Lifecycl");
    let errors = compile_err(&[("k.yaml", &broken)]);
    assert_error(
        &errors,
        &at("k.yaml", &broken, "Lifecycl\n", 0),
        "unknown interface type \"Lifecycl\" in derived_from of interface type \"MoreLifecycle\" (did you mean \"Lifecycle\"?)",
    );
}

#[test]
fn interface_types_cannot_implement_operations() {
    let text = "tosca_definitions_version: tosca_2_0\ninterface_types:\n  I:\n    operations:\n      start: run.sh\n";
    let errors = compile_err(&[("i.yaml", text)]);
    assert_error(&errors, "i.yaml:5:14", "cannot have an implementation");
}
