//! What the model carries for the orchestrator to run: interfaces with implementations,
//! inputs and output mappings; artifacts; policy triggers; declared functions.

use super::*;
use crate::{ExprKind, NodeTemplate, OperationTemplate, TypeName};

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
artifact_types:
  Script: {}
  Shell: { derived_from: Script }
interface_types:
  Lifecycle:
    inputs:
      verbose: { type: boolean, default: false }
      level: { type: integer, required: false }
    operations:
      create: {}
      configure:
        inputs:
          mode: { type: string, default: fast }
          retries: { type: integer }
        outputs:
          result: { type: string }
      delete: {}
    notifications:
      ready: {}
      gone: {}
relationship_types:
  Link:
    attributes:
      linked: { type: boolean }
    interfaces:
      conf:
        type: Lifecycle
        operations:
          create: scripts/link.sh
node_types:
  Base:
    properties:
      port: { type: integer, default: 80 }
    attributes:
      state: { type: string }
      url: { type: string }
    capabilities:
      feature: { type: Feature }
    artifacts:
      setup: { type: Shell, file: scripts/setup.sh }
    interfaces:
      life:
        type: Lifecycle
        operations:
          create: setup
          configure:
            implementation:
              primary: scripts/configure.sh
              dependencies: [ setup, lib/common.sh ]
              timeout: 30
            inputs:
              mode: slow
              port: { type: integer, value: { $get_property: [ SELF, port ] } }
            outputs:
              result: [ SELF, url ]
  Web:
    derived_from: Base
    interfaces:
      life:
        operations:
          create: scripts/web-create.sh
    requirements:
      - peer:
          capability: Feature
          relationship: Link
          count_range: [ 0, 2 ]
capability_types:
  Feature: {}
"#;

fn with(template: &str) -> String {
    format!("{TYPES}{template}")
}

fn node<'a>(model: &'a ServiceTemplate, name: &str) -> &'a NodeTemplate {
    model.node_template(name).unwrap()
}

fn operation<'a>(node: &'a NodeTemplate, interface: &str, name: &str) -> &'a OperationTemplate {
    &node.interfaces[interface].operations[name]
}

fn json(expr: &crate::Expr) -> serde_json::Value {
    expr.to_json().unwrap()
}

fn warnings(model: &ServiceTemplate) -> Vec<String> {
    model.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn type_implementations_and_template_overrides() {
    let text = with(
        r#"service_template:
  node_templates:
    base:
      type: Base
    web:
      type: Web
    custom:
      type: Web
      interfaces:
        life:
          operations:
            configure:
              implementation:
                primary: { type: Script, file: bin/configure.py }
            delete: scripts/delete.sh
          notifications:
            ready: scripts/ready.sh
"#,
    );
    let model = compile_ok(&[("s.yaml", &text)]);
    let base = node(&model, "base");
    // Operations without any implementation (delete, the notifications) are left out.
    let life = &base.interfaces["life"];
    assert_eq!(
        life.operations.keys().collect::<Vec<_>>(),
        ["configure", "create"]
    );
    assert!(life.notifications.is_empty());
    assert_eq!(
        life.types
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["Lifecycle"]
    );
    let configure = &operation(base, "life", "configure").implementation;
    assert_eq!(configure.primary.file, "scripts/configure.sh");
    assert!(configure.primary.types.is_empty());
    assert_eq!(configure.timeout, Some(30));
    assert_eq!(
        configure.location.to_string(),
        at_after(
            "s.yaml",
            &text,
            "configure:\n            implementation:",
            "primary"
        )
    );

    // A derived type's implementation replaces the inherited one; configure is inherited.
    let web = node(&model, "web");
    assert_eq!(
        operation(web, "life", "create").implementation.primary.file,
        "scripts/web-create.sh"
    );
    assert_eq!(
        operation(web, "life", "configure")
            .implementation
            .primary
            .file,
        "scripts/configure.sh"
    );

    // The template's implementation replaces the type's, and adds operations and
    // notifications the types left without one.
    let custom = node(&model, "custom");
    let configure = &operation(custom, "life", "configure").implementation;
    assert_eq!(configure.primary.file, "bin/configure.py");
    assert_eq!(configure.primary.types[0].name, "Script");
    assert!(configure.dependencies.is_empty());
    assert_eq!(configure.timeout, None);
    assert_eq!(
        operation(custom, "life", "delete")
            .implementation
            .primary
            .file,
        "scripts/delete.sh"
    );
    assert_eq!(
        custom.interfaces["life"].notifications["ready"]
            .implementation
            .primary
            .file,
        "scripts/ready.sh"
    );
}

#[test]
fn symbolic_artifact_names_and_file_paths() {
    let text = with(
        r#"service_template:
  node_templates:
    base:
      type: Base
    own:
      type: Base
      artifacts:
        setup: { type: Script, file: own/setup.py }
        extra: { type: Shell, file: own/extra.sh }
      interfaces:
        life:
          operations:
            delete: extra
"#,
    );
    let model = compile_ok(&[("s.yaml", &text)]);
    let base = node(&model, "base");
    // `setup` is the type's artifact: its file and its type with ancestors.
    let create = &operation(base, "life", "create").implementation.primary;
    assert_eq!(create.file, "scripts/setup.sh");
    let types: Vec<&str> = create.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(types, ["Shell", "Script"]);
    // Dependencies too: a symbolic name, then a file.
    let deps: Vec<&str> = operation(base, "life", "configure")
        .implementation
        .dependencies
        .iter()
        .map(|d| d.file.as_str())
        .collect();
    assert_eq!(deps, ["scripts/setup.sh", "lib/common.sh"]);
    assert_eq!(base.artifacts.len(), 1);
    assert_eq!(base.artifacts["setup"].file, "scripts/setup.sh");

    // The template's artifact of the same name replaces the type's, also for the type's
    // implementation that names it.
    let own = node(&model, "own");
    assert_eq!(own.artifacts["setup"].file, "own/setup.py");
    assert_eq!(own.artifacts["setup"].types[0].name, "Script");
    assert_eq!(own.artifacts["extra"].file, "own/extra.sh");
    assert_eq!(
        operation(own, "life", "create").implementation.primary.file,
        "own/setup.py"
    );
    assert_eq!(
        operation(own, "life", "delete").implementation.primary,
        own.artifacts["extra"]
    );
}

#[test]
fn files_are_relative_to_the_tosca_file_that_names_them() {
    let types = r#"tosca_definitions_version: tosca_2_0
artifact_types:
  Script: {}
interface_types:
  Standard:
    operations:
      start: {}
      stop: {}
      check: {}
node_types:
  App:
    artifacts:
      bin: { type: Script, file: bin/app.sh }
    interfaces:
      standard:
        type: Standard
        operations:
          start: bin
          stop: ../common/stop.sh
          check: https://example.com/check.sh
"#;
    let service = r#"tosca_definitions_version: tosca_2_0
imports:
  - url: types/app.yaml
service_template:
  node_templates:
    app:
      type: App
      artifacts:
        conf: { type: Script, file: conf/app.conf }
      interfaces:
        standard:
          operations:
            check: /opt/check.sh
"#;
    let model = compile_ok(&[("pkg/service.yaml", service), ("pkg/types/app.yaml", types)]);
    let app = node(&model, "app");
    assert_eq!(app.artifacts["bin"].file, "pkg/types/bin/app.sh");
    assert_eq!(app.artifacts["conf"].file, "pkg/conf/app.conf");
    let file = |op: &str| {
        operation(app, "standard", op)
            .implementation
            .primary
            .file
            .clone()
    };
    assert_eq!(file("start"), "pkg/types/bin/app.sh");
    // `..` is resolved; absolute paths and URLs are kept as written.
    assert_eq!(file("stop"), "pkg/common/stop.sh");
    assert_eq!(file("check"), "/opt/check.sh");

    let url = service.replace("/opt/check.sh", "https://example.com/other.sh");
    let model = compile_ok(&[("pkg/service.yaml", &url), ("pkg/types/app.yaml", types)]);
    let app = node(&model, "app");
    assert_eq!(
        operation(app, "standard", "check")
            .implementation
            .primary
            .file,
        "https://example.com/other.sh"
    );
}

#[test]
fn files_of_profiles_in_memory_are_kept_as_written() {
    let profile = r#"tosca_definitions_version: tosca_2_0
profile: org.example.app:1.0
artifact_types:
  Script: {}
interface_types:
  Standard:
    operations:
      start: {}
node_types:
  App:
    interfaces:
      standard:
        type: Standard
        operations:
          start: scripts/start.sh
functions:
  double:
    signatures:
      - arguments: [ integer ]
        implementation: { primary: { type: Script, file: fns/double.wasm } }
"#;
    let service = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: org.example.app:1.0
    namespace: ex
service_template:
  node_templates:
    app:
      type: ex:App
      properties: {}
"#;
    let mut profiles = ProfileRegistry::new();
    profiles.register_file("org.example.app:1.0", profile);
    let model = compile_with(&[("dir/service.yaml", service)], &profiles).unwrap();
    let app = node(&model, "app");
    assert_eq!(
        operation(app, "standard", "start")
            .implementation
            .primary
            .file,
        "scripts/start.sh"
    );
    let double = model.functions["ex:double"]
        .implementation
        .as_ref()
        .unwrap();
    assert_eq!(double.primary.file, "fns/double.wasm");
    assert_eq!(double.primary.types[0].name, "Script");
    assert_eq!(
        double.primary.types[0].profile.as_deref(),
        Some("org.example.app:1.0")
    );
}

#[test]
fn interface_and_operation_inputs_merge_with_defaults() {
    let text = with(
        r#"service_template:
  inputs:
    n: { type: integer, default: 3 }
  node_templates:
    plain:
      type: Base
    assigned:
      type: Base
      properties: { port: 8080 }
      interfaces:
        life:
          inputs: { verbose: true, mode: interface-level, anything: x }
          operations:
            configure:
              inputs: { retries: { $get_input: n }, extra: [ 1, 2 ] }
"#,
    );
    let model = compile_ok(&[("s.yaml", &text)]);
    let inputs = |node: &NodeTemplate, op: &str| -> Vec<(String, String)> {
        operation(node, "life", op)
            .inputs
            .iter()
            .map(|(k, v)| {
                let shown = match &v.kind {
                    ExprKind::Call(call) => format!("${}", call.function),
                    _ => json(v).to_string(),
                };
                (k.clone(), shown)
            })
            .collect()
    };
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let plain = node(&model, "plain");
    // Interface defaults, then the operation's (its type's refinement of `mode`, its own
    // fixed `port`). `level` (not required) and `retries` (no value) are left out.
    assert_eq!(
        inputs(plain, "configure"),
        pairs(&[
            ("mode", "\"slow\""),
            ("port", "$get_property"),
            ("verbose", "false"),
        ])
    );
    assert_eq!(inputs(plain, "create"), pairs(&[("verbose", "false")]));

    let assigned = node(&model, "assigned");
    // Interface assignments reach every operation (undefined ones too); the operation's own
    // value of `mode` wins over the interface-level one.
    assert_eq!(
        inputs(assigned, "configure"),
        pairs(&[
            ("anything", "\"x\""),
            ("extra", "[1,2]"),
            ("mode", "\"slow\""),
            ("port", "$get_property"),
            ("retries", "$get_input"),
            ("verbose", "true"),
        ])
    );
    assert_eq!(
        inputs(assigned, "create"),
        pairs(&[
            ("anything", "\"x\""),
            ("mode", "\"interface-level\""),
            ("verbose", "true"),
        ])
    );
    let retries = &operation(assigned, "life", "configure").inputs["retries"];
    assert_eq!(
        retries.location.to_string(),
        at("s.yaml", &text, "$get_input: n", 0)
    );
}

#[test]
fn outputs_map_onto_attributes_of_self_only() {
    let text = with(
        r#"service_template:
  node_templates:
    web:
      type: Web
      interfaces:
        life:
          operations:
            configure:
              outputs:
                state: [ SELF, state ]
                far: [ SELF, CAPABILITY, feature, thing ]
                nested: [ SELF, url, part ]
                peer: [ TARGET, state ]
"#,
    );
    let model = compile_ok(&[("s.yaml", &text)]);
    let web = node(&model, "web");
    let outputs = &operation(web, "life", "configure").outputs;
    let pairs: Vec<(&str, &str)> = outputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The type's mapping (result -> url) and the template's SELF one.
    assert_eq!(pairs, [("result", "url"), ("state", "state")]);
    let warnings = warnings(&model);
    for (name, shown) in [
        ("far", "[ SELF, CAPABILITY, feature, thing ]"),
        ("nested", "[ SELF, url, part ]"),
        ("peer", "[ TARGET, state ]"),
    ] {
        let location = at_after("s.yaml", &text, &format!("{name}: "), "[");
        let expected = format!(
            "{location}: warning: output \"{name}\" of operation \"life.configure\" is mapped onto {shown}, which Khutulun ignores: Khutulun maps outputs onto attributes of SELF only"
        );
        assert!(
            warnings.iter().any(|w| w.starts_with(&expected)),
            "no {expected:?} in:\n{}",
            warnings.join("\n")
        );
    }
}

#[test]
fn relationships_get_interfaces_from_requirement_assignments() {
    let text = with(
        r#"service_template:
  relationship_templates:
    named:
      type: Link
      interfaces:
        conf:
          operations:
            delete: scripts/unlink.sh
  node_templates:
    a:
      type: Base
    b:
      type: Base
    web:
      type: Web
      requirements:
        - peer:
            node: a
            relationship:
              type: Link
              interfaces:
                conf:
                  inputs: { verbose: true }
                  operations:
                    configure:
                      implementation: scripts/relink.sh
                      inputs: { retries: 2 }
                      outputs: { linked: [ SELF, linked ] }
        - peer: { node: b, relationship: named }
"#,
    );
    let model = compile_ok(&[("s.yaml", &text)]);
    let web = node(&model, "web");
    let first = &web.requirements[0].relationship.interfaces["conf"];
    assert_eq!(
        first.operations.keys().collect::<Vec<_>>(),
        ["configure", "create"]
    );
    assert_eq!(
        first.operations["create"].implementation.primary.file,
        "scripts/link.sh"
    );
    let configure = &first.operations["configure"];
    assert_eq!(configure.implementation.primary.file, "scripts/relink.sh");
    assert_eq!(json(&configure.inputs["retries"]), serde_json::json!(2));
    assert_eq!(json(&configure.inputs["verbose"]), serde_json::json!(true));
    assert_eq!(configure.outputs["linked"], "linked");

    // A relationship template named by the assignment brings its interface assignments.
    let second = &web.requirements[1].relationship.interfaces["conf"];
    assert_eq!(
        second.operations.keys().collect::<Vec<_>>(),
        ["create", "delete"]
    );
    assert_eq!(
        second.operations["delete"].implementation.primary.file,
        "scripts/unlink.sh"
    );
    // The node's own interfaces are not the relationship's.
    assert!(!web.interfaces.contains_key("conf"));
}

#[test]
fn triggers_keep_call_operation_activities() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_types:
  Server: {}
policy_types:
  Base:
    triggers:
      heal:
        event: failed
        action:
          - call_operation: Standard.start
  Scaling:
    derived_from: Base
    targets: [ Server ]
    triggers:
      grow:
        event: overload
        condition: { $greater_than: [ 2, 1 ] }
        action:
          - set_state: growing
          - call_operation: { operation: scale.out, inputs: { by: 2 } }
          - delegate: deploy
service_template:
  node_templates:
    s:
      type: Server
  policies:
    - scaling:
        type: Scaling
        targets: [ s ]
        triggers:
          grow:
            event: overload-now
            action:
              - call_operation: scale.out
          shrink:
            event: underload
            condition: { $less_than: [ 1, 2 ] }
            action:
              - call_operation: { operation: scale.in, inputs: { by: { $sum: [ 1, 1 ] } } }
"#;
    let model = compile_ok(&[("s.yaml", text)]);
    let policy = &model.policies[0];
    let names: Vec<&str> = policy.triggers.iter().map(|t| t.name.as_str()).collect();
    // Ancestors' triggers first; the policy's `grow` replaces the type's in place.
    assert_eq!(names, ["heal", "grow", "shrink"]);
    assert_eq!(policy.triggers[0].event, "failed");
    assert_eq!(policy.triggers[0].actions[0].operation, "Standard.start");
    let grow = &policy.triggers[1];
    assert_eq!(grow.event, "overload-now");
    assert!(grow.condition.is_none());
    assert_eq!(grow.actions.len(), 1);
    let shrink = &policy.triggers[2];
    assert_eq!(
        shrink
            .condition
            .as_ref()
            .and_then(|c| c.as_call())
            .map(|c| c.function.as_str()),
        Some("less_than")
    );
    assert_eq!(shrink.actions[0].operation, "scale.in");
    assert_eq!(
        shrink.actions[0].inputs["by"]
            .as_call()
            .map(|c| c.function.as_str()),
        Some("sum")
    );
    assert_eq!(
        shrink.actions[0].location.to_string(),
        at("s.yaml", text, "scale.in", 0)
    );
    // The type's other activities are reported, once, where the trigger is defined.
    let warnings = warnings(&model);
    for activity in ["a set_state activity", "a delegate activity"] {
        let expected = format!(
            "{}: warning: Khutulun runs only call_operation activities in triggers; {activity} of trigger \"grow\" of policy type \"Scaling\" is ignored",
            at("s.yaml", text, "grow:", 0)
        );
        assert_eq!(
            warnings.iter().filter(|w| **w == expected).count(),
            1,
            "{expected:?} not once in:\n{}",
            warnings.join("\n")
        );
    }
}

#[test]
fn functions_carry_the_first_implementation_of_their_signatures() {
    let library = r#"tosca_definitions_version: tosca_2_0
artifact_types:
  Wasm: {}
functions:
  upper:
    signatures:
      - arguments: [ integer ]
      - arguments: [ string ]
        implementation: fns/upper.wasm
  lower:
    signatures:
      - arguments: [ string ]
        implementation: { primary: { type: Wasm, file: fns/lower.wasm }, dependencies: [ fns/common.wasm ] }
  trim:
    signatures:
      - arguments: [ string ]
        implementation: fns/trim.wasm
"#;
    let service = r#"tosca_definitions_version: tosca_2_0
imports:
  - url: lib/functions.yaml
    namespace: lib
  - url: lib/functions.yaml
functions:
  trim:
    signatures:
      - arguments: [ string ]
        implementation: local/trim.wasm
  plain:
    signatures:
      - arguments: [ string ]
service_template:
  node_templates: {}
"#;
    let model = compile_ok(&[
        ("p/service.yaml", service),
        ("p/lib/functions.yaml", library),
    ]);
    let file = |name: &str| {
        model.functions[name]
            .implementation
            .as_ref()
            .map(|i| i.primary.file.clone())
    };
    // By the name templates call them with, namespace prefix included.
    let names: Vec<&str> = model.functions.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "lib:lower",
            "lib:trim",
            "lib:upper",
            "lower",
            "plain",
            "trim",
            "upper"
        ]
    );
    assert_eq!(file("lib:upper").as_deref(), Some("p/lib/fns/upper.wasm"));
    assert_eq!(file("upper").as_deref(), Some("p/lib/fns/upper.wasm"));
    let lower = model.functions["lib:lower"]
        .implementation
        .as_ref()
        .unwrap();
    assert_eq!(lower.primary.file, "p/lib/fns/lower.wasm");
    assert_eq!(
        lower.primary.types,
        vec![TypeName {
            name: "Wasm".into(),
            profile: None
        }]
    );
    assert_eq!(lower.dependencies[0].file, "p/lib/fns/common.wasm");
    // The entry file's `trim` refines the imported one: its implementation wins; the
    // namespaced import is another function.
    assert_eq!(file("trim").as_deref(), Some("p/local/trim.wasm"));
    assert_eq!(file("lib:trim").as_deref(), Some("p/lib/fns/trim.wasm"));
    // Without an implementation it is listed all the same.
    assert_eq!(file("plain"), None);
    assert_eq!(
        model.functions["plain"].location.to_string(),
        at("p/service.yaml", service, "plain:", 0)
    );
}

#[test]
fn a_refinement_without_implementation_keeps_the_imported_one() {
    let library = r#"tosca_definitions_version: tosca_2_0
functions:
  trim:
    signatures:
      - arguments: [ string ]
        implementation: fns/trim.wasm
"#;
    let service = r#"tosca_definitions_version: tosca_2_0
imports:
  - url: lib/functions.yaml
functions:
  trim:
    description: refined
    signatures:
      - arguments: [ string ]
"#;
    let model = compile_ok(&[("service.yaml", service), ("lib/functions.yaml", library)]);
    let trim = model.functions["trim"].implementation.as_ref().unwrap();
    assert_eq!(trim.primary.file, "lib/fns/trim.wasm");
}

#[test]
fn unknown_artifact_types_in_function_implementations_are_errors() {
    let text = r#"tosca_definitions_version: tosca_2_0
functions:
  f:
    signatures:
      - implementation: { primary: { type: Nope, file: f.wasm } }
"#;
    let errors = compile_err(&[("f.yaml", text)]);
    assert_error(
        &errors,
        &at("f.yaml", text, "Nope", 0),
        "unknown artifact type \"Nope\"",
    );
}

#[test]
fn a_derived_interface_type_keeps_the_inherited_implementations() {
    let text = r#"tosca_definitions_version: tosca_2_0
interface_types:
  Life:
    operations:
      start: {}
      stop: {}
  MoreLife:
    derived_from: Life
    operations:
      check: {}
node_types:
  A:
    interfaces:
      life:
        type: Life
        operations:
          start: start.sh
          stop: stop.sh
  B:
    derived_from: A
    interfaces:
      life:
        type: MoreLife
        operations:
          stop: other-stop.sh
          check: check.sh
service_template:
  node_templates:
    b:
      type: B
"#;
    let model = compile_ok(&[("s.yaml", text)]);
    let life = &node(&model, "b").interfaces["life"];
    let files: Vec<(&str, &str)> = life
        .operations
        .iter()
        .map(|(k, v)| (k.as_str(), v.implementation.primary.file.as_str()))
        .collect();
    assert_eq!(
        files,
        [
            ("check", "check.sh"),
            ("start", "start.sh"),
            ("stop", "other-stop.sh")
        ]
    );
    let types: Vec<&str> = life.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(types, ["MoreLife", "Life"]);
}
