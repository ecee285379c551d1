//! Groups and policies (§16): member and target types, triggers, and the narrowing of
//! restricting lists in derived types.

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
node_types:
  Software: {}
  Web: { derived_from: Software }
  Disk: {}
group_types:
  Apps:
    members: [ Software ]
policy_types:
  Placement:
    targets: [ Software, Apps ]
    triggers:
      moved:
        event: moved
        action: [ { set_state: moved } ]
"#;

fn with(template: &str) -> String {
    format!("{TYPES}{template}")
}

#[test]
fn members_and_targets_of_allowed_types_compile() {
    let text = with(
        r#"service_template:
  node_templates:
    web: { type: Web }
  groups:
    apps: { type: Apps, members: [ web ] }
    all: { type: Apps, members: [ apps ] }
  policies:
    - place:
        type: Placement
        targets: [ web, apps ]
        triggers:
          failed:
            event: failed
            condition: { $equal: [ 1, 1 ] }
            action:
              - inline: recover
  workflows:
    recover:
      steps: {}
"#,
    );
    compile_ok(&[("g.yaml", &text)]);
}

#[test]
fn members_and_targets_of_other_types_are_errors() {
    let text = with(
        r#"service_template:
  node_templates:
    disk: { type: Disk }
  groups:
    apps: { type: Apps, members: [ disk, dsk ] }
  policies:
    - place:
        type: Placement
        targets: [ disk ]
        triggers:
          t:
            condition: { $length: [ abc ] }
            action:
              - inline: nowhere
"#,
    );
    let errors = compile_err(&[("g.yaml", &text)]);
    assert_error(&errors, &at_after("g.yaml", &text, "apps: { type: Apps, members: [ ", "disk"), "\"disk\" (node type \"Disk\") cannot be a member of group \"apps\": group type \"Apps\" allows only members of types Software or derived");
    assert_error(
        &errors,
        &at("g.yaml", &text, "dsk ]", 0),
        "unknown node template or group \"dsk\" as a member of group \"apps\"",
    );
    assert_error(
        &errors,
        &at_after("g.yaml", &text, "targets: [ disk", "disk"),
        "\"disk\" (node type \"Disk\") cannot be a target of policy \"place\"",
    );
    assert_error(
        &errors,
        &at_after("g.yaml", &text, "triggers:\n          ", "t:"),
        "trigger \"t\" of policy \"place\" needs event",
    );
    assert_error(
        &errors,
        &at("g.yaml", &text, "$length", 0),
        "a trigger condition must be a Boolean expression",
    );
    assert_error(
        &errors,
        &at("g.yaml", &text, "nowhere", 0),
        "unknown workflow \"nowhere\" in the inline activity of trigger \"t\" of policy \"place\"",
    );
}

#[test]
fn derived_types_narrow_their_lists_and_keep_their_triggers() {
    let text = r#"tosca_definitions_version: tosca_2_0
imports: [ types.yaml ]
capability_types:
  Endpoint: {}
  Admin: { derived_from: Endpoint }
  Storage: {}
relationship_types:
  ConnectsTo:
    valid_capability_types: [ Endpoint ]
  AdminConnection:
    derived_from: ConnectsTo
    valid_capability_types: [ Admin, Storage ]
group_types:
  WebApps:
    derived_from: Apps
    members: [ Web, Disk ]
policy_types:
  Strict:
    derived_from: Placement
    triggers:
      moved:
        event: moved
        action: [ { set_state: other } ]
"#;
    let errors = compile_err(&[("d.yaml", text), ("types.yaml", TYPES)]);
    assert_error(&errors, &at("d.yaml", text, "Storage ]", 0), "valid_capability_types of relationship type \"AdminConnection\" lists \"Storage\", which is neither in the inherited valid_capability_types (Endpoint) nor derived from one of them");
    assert_error(
        &errors,
        &at("d.yaml", text, "Disk ]", 0),
        "members of group type \"WebApps\" lists \"Disk\"",
    );
    assert_error(
        &errors,
        &at_after("d.yaml", text, "Strict:", "moved:"),
        "trigger \"moved\" of policy type \"Strict\" is inherited",
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
}
