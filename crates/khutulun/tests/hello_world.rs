//! The hello-world example end to end through the real CLI and a real agent: deploy, the
//! frontend reaches the backend, kill -9 and restart, agent restart and adoption, delete.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

fn backend_pid(agent: &Agent) -> u32 {
    agent.instance("hello-world", "backend")["pid"]
        .as_u64()
        .expect("backend has a pid") as u32
}

fn events_of(agent: &Agent, kind: &str, node: &str) -> Vec<Value> {
    agent
        .events()
        .into_iter()
        .filter(|e| e["type"] == kind && e["node"] == node)
        .collect()
}

#[test]
fn hello_world_lifecycle() {
    let mut agent = Agent::start();
    let example = repo_root().join("examples/hello-world");
    let example = example.to_str().unwrap();

    // Deploy and wait.
    agent.ok(&["deploy", "hello-world", example, "--wait"]);
    let outputs = agent.json(&["outputs", "hello-world"]);
    let url = outputs["url"].as_str().expect("outputs has url").to_owned();
    let instances = agent.instances("hello-world");
    assert_eq!(instances.len(), 2);
    for i in &instances {
        assert_eq!(i["state"], "running", "{i}");
        assert_eq!(i["delegate"], "process");
        assert_eq!(i["host"], "test-host");
        assert_eq!(i["service"], "hello-world");
        assert!(i["pid"].as_u64().is_some());
        assert!(i["ports"]["endpoint"].as_u64().is_some(), "{i}");
    }
    let frontend = agent.instance("hello-world", "frontend");
    assert!(
        url.ends_with(&format!(":{}/", frontend["ports"]["endpoint"])),
        "{url} vs {frontend}"
    );

    // The frontend answers with the backend's answer, which names the backend's pid.
    let pid = backend_pid(&agent);
    let (status, body) = http_get(&url, None).expect("frontend answers");
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["backend"]["pid"].as_u64(),
        Some(pid as u64),
        "{body}"
    );
    assert_eq!(answer["backend"]["greeting"], "Hello from Khutulun");

    // kill -9 the backend: back within 2 seconds with a new pid; exit and restart events.
    kill(pid, 9);
    let new_pid = eventually(Duration::from_secs(2), || {
        let i = agent.instance("hello-world", "backend");
        let p = i["pid"].as_u64()? as u32;
        (i["state"] == "running" && p != pid).then_some(p)
    })
    .expect("backend running again with a new pid within 2 seconds");
    assert!(process_alive(new_pid));
    let exited = events_of(&agent, "instance_exited", "backend");
    assert!(
        exited.iter().any(|e| e["pid"] == pid && e["signal"] == 9),
        "{exited:?}"
    );
    assert!(!events_of(&agent, "instance_restarting", "backend").is_empty());
    let (status, body) = http_get(&url, None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(&format!("\"pid\": {new_pid}")), "{body}");

    // Restart the agent: both processes keep their pids, nothing starts twice.
    let before: Vec<(String, u64)> = agent
        .instances("hello-world")
        .iter()
        .map(|i| {
            (
                i["node"].as_str().unwrap().to_owned(),
                i["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    let starts_before = agent
        .events()
        .iter()
        .filter(|e| e["type"] == "instance_starting")
        .count();
    agent.stop();
    for (_, pid) in &before {
        assert!(
            process_alive(*pid as u32),
            "workload {pid} died with the agent"
        );
    }
    agent.spawn();
    let after: Vec<(String, u64)> = agent
        .instances("hello-world")
        .iter()
        .map(|i| {
            (
                i["node"].as_str().unwrap().to_owned(),
                i["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(before, after);
    let events = agent.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "instance_starting")
            .count(),
        starts_before
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "instance_adopted")
            .count(),
        2
    );
    for i in agent.instances("hello-world") {
        assert_eq!(i["state"], "running");
    }
    // Adopted processes are still supervised: a kill is seen and repaired.
    let adopted_backend = backend_pid(&agent);
    kill(adopted_backend, 9);
    eventually(Duration::from_secs(3), || {
        let i = agent.instance("hello-world", "backend");
        (i["state"] == "running" && i["pid"].as_u64()? as u32 != adopted_backend).then_some(())
    })
    .expect("adopted backend restarted after kill");

    // Delete: no process remains, ports are free, reservations released.
    let pids: Vec<u32> = agent
        .instances("hello-world")
        .iter()
        .map(|i| i["pid"].as_u64().unwrap() as u32)
        .collect();
    let ports: Vec<u16> = agent
        .instances("hello-world")
        .iter()
        .map(|i| i["ports"]["endpoint"].as_u64().unwrap() as u16)
        .collect();
    agent.ok(&["delete", "hello-world", "--wait"]);
    for pid in pids {
        assert!(!process_alive(pid), "process {pid} survived delete");
    }
    for port in &ports {
        assert!(port_is_free(*port), "port {port} still taken after delete");
    }
    let reservations: Value = serde_json::from_str(
        &std::fs::read_to_string(agent.state_dir().join("hosts/test-host/ports.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reservations["ports"].as_object().unwrap().len(),
        0,
        "{reservations}"
    );
    let services = agent.json(&["services"]);
    assert_eq!(services.as_array().unwrap().len(), 0);
    let deleted = agent
        .events()
        .iter()
        .filter(|e| e["type"] == "service_deleted")
        .count();
    assert_eq!(deleted, 1);
    // Dependants stop first.
    let stops: Vec<String> = agent
        .events()
        .iter()
        .filter(|e| e["type"] == "instance_stopping")
        .map(|e| e["node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stops, ["frontend", "backend"]);
}
