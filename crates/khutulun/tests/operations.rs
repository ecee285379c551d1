//! TOSCA interface operations: lifecycle scripts run in order around the workloads
//! (relationship operations on both ends), their outputs become attributes, a failing one
//! fails the deploy with its reason, and `khutulun run` runs any operation on demand.

mod common;

use common::*;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
interface_types:
  Maintenance:
    operations:
      rotate:
        inputs:
          reason: { type: string }
      broken: {}
node_types:
  App:
    derived_from: Process
    attributes:
      greeting:
        type: string
    interfaces:
      Standard:
        operations:
          configure:
            outputs:
              greeting: [ SELF, greeting ]
      Maintenance:
        type: Maintenance
service_template:
  inputs:
    journal: { type: string }
    configure_exit: { type: integer, default: 0 }
  node_templates:
    data:
      type: Directory
      interfaces:
        Standard:
          inputs:
            journal: { $get_input: journal }
          operations:
            create: scripts/record.sh
            delete: scripts/record.sh
    app:
      type: App
      properties:
        command: sleep
        arguments: [ "300" ]
      requirements:
        - directory:
            node: data
            relationship:
              type: UsesDirectory
              interfaces:
                Configure:
                  inputs:
                    journal: { $get_input: journal }
                  operations:
                    pre_configure_target: scripts/record.sh
                    post_configure_source: scripts/record.sh
      interfaces:
        Standard:
          inputs:
            journal: { $get_input: journal }
            who: { $get_property: [ SELF, command ] }
          operations:
            create: scripts/record.sh
            configure:
              implementation: scripts/configure.sh
              inputs:
                exit_code: { $get_input: configure_exit }
            start: scripts/record.sh
            stop: scripts/record.sh
            delete: scripts/record.sh
        Maintenance:
          operations:
            rotate: scripts/rotate.py
            broken: scripts/broken.sh
  outputs:
    greeting:
      value: { $get_attribute: [ app, greeting ] }
"#;

const RECORD: &str = r#"#!/bin/sh
echo "$KHUTULUN_OPERATION $KHUTULUN_NODE/$KHUTULUN_INDEX" >> "$journal"
"#;

const CONFIGURE: &str = r#"#!/bin/sh
echo "$KHUTULUN_OPERATION $KHUTULUN_NODE/$KHUTULUN_INDEX" >> "$journal"
echo "configuring for $who"
echo "greeting=hello from $who" >> "$KHUTULUN_OUTPUTS"
if [ "$exit_code" != 0 ]; then echo "configure refuses: code $exit_code" >&2; fi
exit "$exit_code"
"#;

const ROTATE: &str = r#"import os, sys
print("rotating because " + os.environ["reason"])
print("to stderr", file=sys.stderr)
with open(os.environ["KHUTULUN_OUTPUTS"], "a") as f:
    f.write("rotated=true\n")
"#;

const BROKEN: &str = "echo about to fail\nexit 7\n";

fn package(dir: &tempfile::TempDir) {
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(dir.path().join("service.yaml"), TEMPLATE).unwrap();
    for (name, text) in [
        ("record.sh", RECORD),
        ("configure.sh", CONFIGURE),
        ("rotate.py", ROTATE),
        ("broken.sh", BROKEN),
    ] {
        std::fs::write(scripts.join(name), text).unwrap();
    }
}

fn journal_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn lifecycle_operations_run_in_order_and_map_their_outputs() {
    let agent = Agent::start();
    let dir = tempfile::tempdir().unwrap();
    package(&dir);
    let journal = dir.path().join("journal.txt");
    let journal_input = format!("journal={}", journal.display());
    agent.ok(&[
        "deploy",
        "ops",
        dir.path().to_str().unwrap(),
        "-i",
        &journal_input,
        "--wait",
    ]);
    assert_eq!(
        journal_lines(&journal),
        vec![
            "Standard.create data/0",
            "Standard.create app/0",
            "Configure.pre_configure_target data/0",
            "Standard.configure app/0",
            "Configure.post_configure_source app/0",
            "Standard.start app/0",
        ]
    );
    // The configure output is mapped onto the attribute, which the output reads.
    let outputs = agent.json(&["outputs", "ops"]);
    assert_eq!(outputs["greeting"], "hello from sleep", "{outputs}");
    assert_eq!(agent.instance("ops", "app")["state"], "running");
    let events = agent.events();
    let finished: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "operation_finished" && e["node"] == "app")
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert!(finished.contains(&"Standard.configure"), "{finished:?}");
    let log = std::fs::read_to_string(
        agent
            .data_dir()
            .join("instances/default/ops/app-0/operations.log"),
    )
    .unwrap();
    assert!(log.contains("configuring for sleep"), "{log}");

    // On demand: output streamed, inputs given, exit code passed through.
    let run = agent.cli(&[
        "run",
        "ops",
        "app",
        "Maintenance.rotate",
        "-i",
        "reason=disk full",
    ]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "rotating because disk full\n"
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("to stderr"));
    let json = agent.json(&[
        "run",
        "ops",
        "app/0",
        "Maintenance.rotate",
        "-i",
        "reason=x",
    ]);
    assert_eq!(json["code"], 0);
    assert_eq!(json["outputs"]["rotated"], true);
    let broken = agent.cli(&["run", "ops", "app", "Maintenance.broken"]);
    assert_eq!(broken.status.code(), Some(7), "{broken:?}");
    assert_eq!(String::from_utf8_lossy(&broken.stdout), "about to fail\n");
    let missing = agent.cli(&["run", "ops", "app", "Maintenance.nothing"]);
    assert_eq!(missing.status.code(), Some(125), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("no operation \"Maintenance.nothing\"")
            && stderr.contains("Maintenance.rotate"),
        "{stderr}"
    );

    // Delete: stop before the workload goes, delete after; dependants first.
    std::fs::write(&journal, "").unwrap();
    agent.ok(&["delete", "ops", "--wait"]);
    assert_eq!(
        journal_lines(&journal),
        vec![
            "Standard.stop app/0",
            "Standard.delete app/0",
            "Standard.delete data/0"
        ]
    );
}

#[test]
fn a_failing_lifecycle_operation_fails_the_deploy_with_its_reason() {
    let agent = Agent::start();
    let dir = tempfile::tempdir().unwrap();
    package(&dir);
    let journal = dir.path().join("journal.txt");
    let journal_input = format!("journal={}", journal.display());
    let out = agent.cli(&[
        "deploy",
        "bad",
        dir.path().to_str().unwrap(),
        "-i",
        &journal_input,
        "-i",
        "configure_exit=3",
        "--wait",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "operation Standard.configure failed: exited with code 3: configure refuses: code 3"
        ),
        "{stderr}"
    );
    let app = agent.instance("bad", "app");
    assert_eq!(app["state"], "failed", "{app}");
    // The workload never started; the rollback stopped what was started.
    assert!(app["pid"].is_null(), "{app}");
    assert!(!journal_lines(&journal).contains(&"Standard.start app/0".to_owned()));
}
