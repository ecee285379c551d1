//! Wasm plugins end to end: a custom TOSCA function shipped in the package computes a
//! value in `tosca compile` and in a deploy; a registered plugin provides functions to
//! templates that do not ship it; a plugin that loops or allocates without bound fails
//! that one call within its limits and the agent carries on.

mod common;

use common::*;
use std::time::{Duration, Instant};

const SHIPPED: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
functions:
  upper:
    signatures:
      - arguments: [ { type: string } ]
        result: { type: string }
        implementation:
          primary:
            file: plugins/text-functions.wasm
            type: WasmPlugin
service_template:
  inputs:
    who: { type: string, default: world }
  node_templates:
    app:
      type: Process
      properties:
        command: sleep
        arguments: [ "300" ]
        environment:
          GREETING: { $upper: [ { $concat: [ "hello ", { $get_input: who } ] } ] }
  outputs:
    greeting:
      value: { $get_property: [ app, environment, GREETING ] }
"#;

fn shipped_package() -> tempfile::TempDir {
    let dir = template_dir(&[("service.yaml", SHIPPED)]);
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(
        plugin_file("text-functions"),
        dir.path().join("plugins/text-functions.wasm"),
    )
    .unwrap();
    dir
}

#[test]
fn a_custom_function_from_a_shipped_plugin_is_computed_by_compile_and_deploy() {
    let dir = shipped_package();
    let out = std::process::Command::new(BIN)
        .args([
            "tosca",
            "compile",
            dir.path().to_str().unwrap(),
            "-i",
            "who=khutulun",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let compiled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        compiled["outputs"]["greeting"], "HELLO KHUTULUN",
        "{compiled}"
    );

    let agent = Agent::start();
    agent.ok(&[
        "deploy",
        "fn",
        dir.path().to_str().unwrap(),
        "-i",
        "who=cluster",
        "--wait",
    ]);
    let outputs = agent.json(&["outputs", "fn"]);
    assert_eq!(outputs["greeting"], "HELLO CLUSTER");
    // The process got the computed value in its environment.
    let pid = agent.instance("fn", "app")["pid"].as_u64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"GREETING=HELLO CLUSTER"),
        "{}",
        String::from_utf8_lossy(&environ)
    );
    agent.ok(&["delete", "fn", "--wait"]);
}

const REGISTERED: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
functions:
  slug:
    signatures:
      - arguments: [ { type: string } ]
        result: { type: string }
service_template:
  node_templates:
    site:
      type: Directory
  outputs:
    name:
      value: { $slug: [ "My Shiny Site!" ] }
"#;

const MISBEHAVING: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
functions:
  FUNCTION:
    signatures:
      - implementation:
          primary:
            file: misbehaving.wasm
            type: WasmPlugin
service_template:
  node_templates:
    site:
      type: Directory
  outputs:
    value:
      value: { $FUNCTION: [] }
"#;

#[test]
fn registered_plugins_provide_functions_and_misbehaving_ones_fail_alone() {
    let agent =
        Agent::start_with_args(&["--plugin-timeout-ms", "500", "--plugin-memory", "32 MiB"]);
    let text = plugin_file("text-functions");
    let added = agent.json(&["plugin", "add", "text", text.to_str().unwrap()]);
    assert_eq!(added["name"], "text");
    assert!(added["functions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "slug"));
    let listed = agent.json(&["plugin", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // Not a component: refused, nothing registered.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not wasm").unwrap();
    let refused = agent.cli(&["plugin", "add", "junk", junk.path().to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot load plugin"),
        "{refused:?}"
    );
    assert_eq!(agent.json(&["plugin", "list"]).as_array().unwrap().len(), 1);

    let dir = template_dir(&[("service.yaml", REGISTERED)]);
    agent.ok(&["deploy", "reg", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(agent.json(&["outputs", "reg"])["name"], "my-shiny-site");

    let wild = plugin_file("misbehaving");
    for (function, expected) in [
        ("spin", "did not finish within 500ms"),
        ("hog", "tried to use more than 32 MiB of memory"),
        ("boom", "crashed"),
    ] {
        let dir = template_dir(&[("service.yaml", &MISBEHAVING.replace("FUNCTION", function))]);
        std::fs::copy(&wild, dir.path().join("misbehaving.wasm")).unwrap();
        let started = Instant::now();
        let out = agent.cli(&["deploy", function, dir.path().to_str().unwrap(), "--wait"]);
        let took = started.elapsed();
        assert!(!out.status.success(), "{function}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{function}: {stderr}");
        assert!(
            stderr.contains("service.yaml"),
            "{function}: the diagnostic names the file: {stderr}"
        );
        // Generous: only catches a call that was not stopped at all.
        assert!(took < Duration::from_secs(60), "{function} took {took:?}");
        // Nothing was stored, and the agent still answers and deploys.
        assert!(!agent.cli(&["service", "show", function]).status.success());
        assert_eq!(agent.json(&["outputs", "reg"])["name"], "my-shiny-site");
    }
    let events = agent.events();
    let failed: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "function_failed")
        .filter_map(|e| e["function"].as_str())
        .collect();
    assert_eq!(failed, vec!["spin", "hog", "boom"], "{events:#?}");
    agent.ok(&["plugin", "remove", "text"]);
    assert!(agent
        .json(&["plugin", "list"])
        .as_array()
        .unwrap()
        .is_empty());
}
