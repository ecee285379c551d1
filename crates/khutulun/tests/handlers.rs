//! Events to code: policy triggers on instance exit run a script operation and a plugin
//! handler on the instance's host; the plugin's own event sets off another trigger; user
//! events from `khutulun event emit` do too.

mod common;

use common::*;
use std::time::Duration;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
interface_types:
  Recovery:
    operations:
      record: {}
      count_failures: {}
node_types:
  Worker:
    derived_from: Process
    attributes:
      failures:
        type: integer
    interfaces:
      Recovery:
        type: Recovery
policy_types:
  Watch:
    derived_from: Root
service_template:
  inputs:
    journal: { type: string }
    watch: { type: boolean, default: true }
  node_templates:
    worker:
      type: Worker
      properties:
        command: sh
        arguments: [ -c, "sleep 0.2; exit 4" ]
        restart: always
      interfaces:
        Recovery:
          inputs:
            journal: { $get_input: journal }
          operations:
            record: scripts/record.sh
            count_failures:
              implementation:
                primary:
                  file: plugins/failure-watch.wasm
                  type: WasmPlugin
              inputs:
                threshold: 2
        Events:
          notifications:
            instance_exited:
              implementation: scripts/record.sh
              inputs:
                journal: { $get_input: journal }
    steady:
      type: Worker
      properties:
        command: sleep
        arguments: [ "300" ]
      interfaces:
        Recovery:
          inputs:
            journal: { $get_input: journal }
          operations:
            record: scripts/record.sh
  policies:
    - on_exit:
        type: Watch
        targets: [ worker ]
        triggers:
          record_exit:
            event: instance_exited
            condition: { $equal: [ { $get_input: watch }, true ] }
            action:
              - call_operation: Recovery.record
          count:
            event: instance_exited
            action:
              - call_operation: Recovery.count_failures
    - too_many:
        type: Watch
        targets: [ worker ]
        triggers:
          exceeded:
            event: failures_exceeded
            action:
              - call_operation:
                  operation: Recovery.record
                  inputs:
                    note: exceeded
    - manual:
        type: Watch
        targets: [ steady ]
        triggers:
          poked:
            event: poke
            action:
              - call_operation: Recovery.record
  outputs:
    failures:
      value: { $get_attribute: [ worker, failures ] }
"#;

const RECORD: &str = r#"summary=$(printf '%s' "$KHUTULUN_EVENT" | python3 -c '
import json, sys
e = json.load(sys.stdin)
print(e["kind"], "%s/%s" % (e["node"], e["index"]), e["data"].get("code", "-"))')
echo "$KHUTULUN_CAUSE $summary ${note:-}" >> "$journal"
"#;

#[test]
fn triggers_on_instance_exit_run_a_script_and_a_plugin_handler() {
    let agent = Agent::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("service.yaml"), TEMPLATE).unwrap();
    std::fs::write(dir.path().join("scripts/record.sh"), RECORD).unwrap();
    std::fs::copy(
        plugin_file("failure-watch"),
        dir.path().join("plugins/failure-watch.wasm"),
    )
    .unwrap();
    let journal = dir.path().join("journal.txt");
    let journal_input = format!("journal={}", journal.display());
    agent.ok(&[
        "deploy",
        "trig",
        dir.path().to_str().unwrap(),
        "-i",
        &journal_input,
        "--wait",
    ]);

    // Script variant: every exit of the worker is recorded, with the event as input.
    let lines = eventually(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        (lines.iter().any(|l| l.starts_with("too_many.exceeded"))
            && lines
                .iter()
                .filter(|l| l.starts_with("on_exit.record_exit"))
                .count()
                >= 2)
            .then_some(lines)
    })
    .unwrap_or_else(|| {
        panic!(
            "journal: {:?}\nagent log:\n{}",
            std::fs::read_to_string(&journal),
            agent.log()
        )
    });
    assert!(
        lines.contains(&"on_exit.record_exit instance_exited worker/0 4 ".to_owned()),
        "{lines:?}"
    );
    // Plugin variant: the handler counted failures in an attribute and, at the threshold,
    // emitted failures_exceeded, which the second policy acted on.
    assert!(
        lines.contains(&"too_many.exceeded failures_exceeded worker/0 - exceeded".to_owned()),
        "{lines:?}"
    );
    let outputs = agent.json(&["outputs", "trig"]);
    assert!(outputs["failures"].as_u64().unwrap_or(0) >= 2, "{outputs}");
    let events = agent.events();
    let counted = events
        .iter()
        .find(|e| {
            e["type"] == "operation_finished"
                && e["operation"] == "Recovery.count_failures"
                && e["outputs"]["failures"] == 2
        })
        .unwrap_or_else(|| panic!("no count_failures with 2 failures in {events:#?}"));
    assert_eq!(counted["cause"], "on_exit.count");
    assert_eq!(counted["node"], "worker");
    let exceeded: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "user" && e["name"] == "failures_exceeded")
        .collect();
    assert_eq!(exceeded.len(), 1, "once, at the threshold: {exceeded:#?}");
    assert_eq!(exceeded[0]["data"]["failures"], 2);
    // The notification ran for each exit too, then announced itself as a user event.
    assert!(
        lines.contains(
            &"notification Events.instance_exited instance_exited worker/0 4 ".to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "user" && e["name"] == "Events.instance_exited"),
        "no Events.instance_exited user event"
    );
    // Nothing ran for the steady node: it is not a target of the exit policies.
    assert!(!lines.iter().any(|l| l.contains("steady/0")), "{lines:?}");

    // A user event: the trigger runs on the instance it names.
    agent.ok(&[
        "event",
        "emit",
        "poke",
        "--service",
        "trig",
        "--instance",
        "steady",
        "--data",
        r#"{"why":"test"}"#,
    ]);
    eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains("manual.poked poke steady/0 - ")
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the poke trigger did not run: {:?}",
            std::fs::read_to_string(&journal)
        )
    });
    let bad = agent.cli(&["event", "emit", "no spaces allowed"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a usable event name"));
    agent.ok(&["delete", "trig", "--wait"]);
}
