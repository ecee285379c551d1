//! Placement on a single host: policies are checked at deploy, explained afterwards, and a
//! drain that has nowhere to go leaves everything running.

mod common;

use common::{process_alive, template_dir, Agent};

const TEMPLATE: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Process
      properties: { command: sleep, arguments: [ "600" ] }
  policies:
    - two: { type: Redundancy, properties: { instances: 2 }, targets: [ web ] }
    - sized: { type: Resources, properties: { cpu: 0.25, memory: 64 MiB }, targets: [ web ] }
    - labelled: { type: Placement, properties: { labels: { disk: ssd } }, targets: [ web ] }
"#;

#[test]
fn policies_place_explain_refuse_and_a_drain_with_nowhere_to_go_changes_nothing() {
    let agent = Agent::start_with_args(&["--label", "disk=ssd", "--cpus", "1"]);
    let dir = template_dir(&[("service.yaml", TEMPLATE)]);
    agent.ok(&["deploy", "web", dir.path().to_str().unwrap(), "--wait"]);
    let instances = agent.json(&["instances", "web"]);
    let list = instances.as_array().unwrap();
    assert_eq!(list.len(), 2, "Redundancy sets the count");
    assert!(list.iter().all(|i| i["cpu_millis"] == 250));
    let explained = agent.ok(&["service", "show", "web", "--placement"]);
    assert!(
        explained.contains("policy \"labelled\" (placement): label disk=ssd"),
        "{explained}"
    );

    // A label no host has, more CPU than the host offers, a bad Redundancy: refused with the
    // policy's name, and no service appears.
    let cases = [
        ("disk: ssd", "disk: nvme", "\"labelled\""),
        ("cpu: 0.25", "cpu: 0.75", "CPU"),
        ("instances: 2", "instances: 0", "\"two\""),
    ];
    for (i, (from, to, named)) in cases.iter().enumerate() {
        let bad = template_dir(&[("service.yaml", &TEMPLATE.replace(from, to))]);
        let name = format!("bad{i}");
        let out = agent.cli(&["deploy", &name, bad.path().to_str().unwrap()]);
        assert!(!out.status.success(), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{to}: {err}");
        let services = agent.json(&["services"]);
        assert!(
            !services
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == name.as_str()),
            "{services:#}"
        );
    }

    // The only host cannot be drained: the drain fails, says why, and nothing stops.
    let pids: Vec<u32> = list
        .iter()
        .map(|i| i["pid"].as_u64().unwrap() as u32)
        .collect();
    let out = agent.cli(&["host", "drain", "test-host"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no live host"), "{err}");
    assert!(pids.iter().all(|p| process_alive(*p)), "still running");
    let hosts = agent.json(&["hosts"]);
    assert_eq!(hosts[0]["draining"], true);
    // A drained host takes no new instances.
    let out = agent.cli(&["deploy", "later", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    agent.ok(&["host", "undrain", "test-host"]);
    agent.ok(&["deploy", "later", dir.path().to_str().unwrap(), "--wait"]);
}
