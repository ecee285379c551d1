//! Bad input for containers and fixed ports, through the real CLI and agent: each ends in a
//! clear failed state (the deploy's error, the instance's state and an event naming the
//! cause), a non-zero exit of `deploy --wait`, and nothing half-created: no container, no
//! process, no port reservation.

mod common;
mod container_support;

use common::{eventually, port_is_free, process_alive, template_dir, Agent, BIN};
use container_support::{
    ensure_image, make_root, node_events, podman_containers, reservations, IMAGE, PROFILE_IMPORT,
};
use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn service(agent: &Agent, name: &str) -> Option<Value> {
    agent
        .json(&["services"])
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// `deploy NAME DIR --wait` in the background, for tests that act while it runs; killed
/// if the test ends before it does.
struct Deploy(Option<Child>);

impl Deploy {
    fn finish(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Deploy {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn deploy_in_background(agent: &Agent, name: &str, dir: &Path) -> Deploy {
    let child = Command::new(BIN)
        .args(["--agent", &agent.url, "deploy", name])
        .arg(dir)
        .args(["--wait", "--timeout", "60"])
        .env_remove("KHUTULUN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Deploy(Some(child))
}

/// Waits until the deploy stored its instance records (placement and ports are done);
/// returns the port reserved for `node`'s endpoint.
fn reserved_port(agent: &Agent, deploy: &mut Deploy, svc: &str, node: &str) -> u16 {
    let port = eventually(Duration::from_secs(15), || {
        let child = deploy.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            return Some(None);
        }
        let out = agent.cli(&["instances", svc, "-o", "json"]);
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        let record = list.as_array()?.iter().find(|r| r["node"] == node)?.clone();
        Some(Some(record["ports"]["endpoint"].as_u64()? as u16))
    });
    match port {
        Some(Some(port)) => port,
        _ => {
            let stderr = deploy
                .0
                .take()
                .map(|c| c.wait_with_output().unwrap().stderr);
            panic!(
                "{svc} stored no instance {node}; deploy said: {}\n{}",
                String::from_utf8_lossy(&stderr.unwrap_or_default()),
                agent.log()
            )
        }
    }
}

/// The service's failed state, its instance's failed state and the event of that instance
/// all name `cause`.
fn assert_failed_with(agent: &Agent, svc: &str, node: &str, cause: &str) {
    let record = service(agent, svc).unwrap_or_else(|| panic!("no service {svc}"));
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        record["message"].as_str().unwrap_or("").contains(cause),
        "{record}"
    );
    let instance = agent.instance(svc, node);
    assert_eq!(instance["state"], "failed", "{instance}");
    assert!(
        instance["message"].as_str().unwrap_or("").contains(cause),
        "{instance}"
    );
    let failed = node_events(agent, "instance_failed", node);
    assert!(
        failed
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains(cause)),
        "no instance_failed event names {cause:?}: {failed:#?}"
    );
    assert!(
        agent.events().iter().any(|e| e["type"] == "service_failed"
            && e["service"] == svc
            && e["message"].as_str().unwrap_or("").contains(cause)),
        "no service_failed event names {cause:?}"
    );
    assert!(node_events(agent, "instance_running", node).is_empty());
}

#[test]
fn a_container_whose_image_is_in_no_store_fails_and_creates_nothing() {
    let agent = Agent::start();
    let image = format!(
        "localhost/khutulun-test-no-such-image-{}:1",
        std::process::id()
    );
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
    web:
      type: Container
      properties:
        image: {image}
        command: [ httpd, -f, -p, '8080' ]
      capabilities:
        endpoint: {{ properties: {{ port: 0, container_port: 8080 }} }}
"#
        ),
    )]);
    let out = agent.cli(&["deploy", "noimage", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&image) && err.contains("not in podman's local store"),
        "{err}"
    );

    assert_failed_with(&agent, "noimage", "web", &image);
    let web = agent.instance("noimage", "web");
    assert!(web["pid"].is_null(), "{web}");
    assert_eq!(
        podman_containers("khutulun-default-noimage-"),
        Vec::<String>::new()
    );
    let port = web["ports"]["endpoint"].as_u64().unwrap() as u16;
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(port_is_free(port));

    // The failed service goes away cleanly.
    agent.ok(&["delete", "noimage", "--wait"]);
    assert!(service(&agent, "noimage").is_none());
    assert!(!agent
        .data_dir()
        .join("instances/default/noimage/web-0")
        .exists());
}

#[test]
fn a_fixed_port_taken_outside_khutulun_is_refused_and_reserves_nothing() {
    let agent = Agent::start();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = template_dir(&[
        ("index.html", "on the fixed port\n"),
        (
            "service.yaml",
            &format!(
                r#"{PROFILE_IMPORT}service_template:
  node_templates:
    first:
      type: Process
      properties: {{ command: sh, arguments: [ -c, 'exec busybox httpd -f -p 127.0.0.1:$PORT' ] }}
      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}
    web:
      type: Process
      properties: {{ command: busybox, arguments: [ httpd, -f, -p, '127.0.0.1:{port}' ] }}
      capabilities: {{ endpoint: {{ properties: {{ port: {port} }} }} }}
"#
            ),
        ),
    ]);
    let out = agent.cli(&["deploy", "taken", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {port}"))
            && err.contains("in use by a program outside Khutulun"),
        "{err}"
    );
    assert!(err.contains("web"), "names the node: {err}");
    // All or nothing: not even the other node's port is kept, and nothing started.
    assert!(service(&agent, "taken").is_none());
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(agent
        .events()
        .iter()
        .all(|e| !e["type"].as_str().unwrap_or("").starts_with("instance_")));

    // Once the port is free, the same template deploys on it and serves.
    drop(taken);
    agent.ok(&["deploy", "taken", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(
        agent.instance("taken", "web")["ports"]["endpoint"].as_u64(),
        Some(u64::from(port))
    );
    let served = common::http_get(&format!("http://127.0.0.1:{port}/index.html"), None);
    assert_eq!(
        served,
        Some((200, "on the fixed port\n".to_owned())),
        "{:#?}\n{:#?}\n{}\nweb's stderr: {}",
        agent.instances("taken"),
        agent.events(),
        agent.log(),
        std::fs::read_to_string(
            agent
                .data_dir()
                .join("instances/default/taken/web-0/stderr.log")
        )
        .unwrap_or_default()
    );
    agent.ok(&["delete", "taken", "--wait"]);
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(eventually(Duration::from_secs(5), || port_is_free(port).then_some(())).is_some());
}

/// A process that listens on its port only once `gate` exists: dependants wait for it, so
/// the test can change the world between the reservation and their start.
fn gated_process(gate: &Path) -> String {
    format!(
        r#"    gate:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'while [ ! -e {} ]; do sleep 0.05; done; exec busybox httpd -f -p 127.0.0.1:$PORT' ]
        stop_timeout: 1
      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}
"#,
        gate.display()
    )
}

#[test]
fn a_container_port_taken_after_reservation_fails_its_start_and_leaves_nothing() {
    ensure_image();
    let agent = Agent::start();
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("open");
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
{}    web:
      type: Container
      properties:
        image: {IMAGE}
        command: [ httpd, -f, -p, '8080' ]
        stop_timeout: 1
      capabilities:
        endpoint: {{ properties: {{ port: 0, container_port: 8080 }} }}
      requirements:
        - connection: gate
"#,
            gated_process(&gate)
        ),
    )]);
    let mut deploy = deploy_in_background(&agent, "portrace", dir.path());
    let port = reserved_port(&agent, &mut deploy, "portrace", "web");
    // Someone outside Khutulun takes the reserved port before the container starts.
    let taken = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::fs::write(&gate, "").unwrap();

    let out = deploy.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("address already in use"), "{err}");
    assert_failed_with(&agent, "portrace", "web", "address already in use");

    // The dependency that did start was stopped again; no container is left; the
    // reservations are released (the test's listener still holds its port).
    let gate_pid = node_events(&agent, "instance_running", "gate")[0]["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(
        eventually(Duration::from_secs(5), || (!process_alive(gate_pid))
            .then_some(()))
        .is_some()
    );
    assert_eq!(agent.instance("portrace", "gate")["state"], "stopped");
    assert_eq!(
        podman_containers("khutulun-default-portrace-"),
        Vec::<String>::new()
    );
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    drop(taken);
    assert!(port_is_free(port));
    agent.ok(&["delete", "portrace", "--wait"]);
    assert!(service(&agent, "portrace").is_none());
}

#[test]
fn a_system_container_whose_root_does_not_exist_is_refused_and_stores_nothing() {
    let agent = Agent::start();
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("no-such-root");
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
    machine:
      type: SystemContainer
      properties:
        root: {}
        command: [ /bin/sh, -c, 'exec httpd -f -p 127.0.0.1:$PORT' ]
      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}
"#,
            missing.display()
        ),
    )]);
    let out = agent.cli(&["deploy", "noroot", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("machine"), "names the node: {err}");
    assert!(service(&agent, "noroot").is_none());
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(!missing.exists(), "nothing was created in its place");
    assert!(agent
        .events()
        .iter()
        .all(|e| !e["type"].as_str().unwrap_or("").starts_with("instance_")));
}

#[test]
fn a_system_container_whose_root_vanishes_before_its_start_fails_with_the_reason() {
    let agent = Agent::start();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    make_root(&root);
    let gate = base.path().join("open");
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
{}    machine:
      type: SystemContainer
      properties:
        root: {}
        command: [ /bin/sh, -c, 'exec httpd -f -p 127.0.0.1:$PORT' ]
      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}
      requirements:
        - connection: gate
"#,
            gated_process(&gate),
            root.display()
        ),
    )]);
    let mut deploy = deploy_in_background(&agent, "goneroot", dir.path());
    reserved_port(&agent, &mut deploy, "goneroot", "machine");
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&gate, "").unwrap();

    let out = deploy.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let cause = format!("{} does not exist", root.display());
    assert!(stderr(&out).contains(&cause), "{}", stderr(&out));
    assert_failed_with(&agent, "goneroot", "machine", &cause);
    assert!(!root.exists(), "nothing was created in its place");
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    agent.ok(&["delete", "goneroot", "--wait"]);
    assert!(service(&agent, "goneroot").is_none());
}

/// A bare process binds its port itself: with another program on it, a connection to the
/// port would pass for readiness while the process cannot listen; it must fail instead.
#[test]
fn a_process_port_taken_after_reservation_fails_its_start_instead_of_passing_for_ready() {
    let agent = Agent::start();
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("open");
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
{}    web:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec busybox httpd -f -p 127.0.0.1:$PORT' ]
        stop_timeout: 1
      capabilities:
        endpoint: {{ properties: {{ port: 0 }} }}
      requirements:
        - connection: gate
"#,
            gated_process(&gate)
        ),
    )]);
    let mut deploy = deploy_in_background(&agent, "procrace", dir.path());
    let port = reserved_port(&agent, &mut deploy, "procrace", "web");
    let taken = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::fs::write(&gate, "").unwrap();

    let out = deploy.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let cause = format!(
        "port {port} (endpoint endpoint), reserved for it, is in use by a program outside Khutulun"
    );
    assert!(stderr(&out).contains(&cause), "{}", stderr(&out));
    assert_failed_with(&agent, "procrace", "web", &cause);
    assert!(
        node_events(&agent, "instance_exited", "web").is_empty(),
        "never started"
    );
    let gate_pid = node_events(&agent, "instance_running", "gate")[0]["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(
        eventually(Duration::from_secs(5), || (!process_alive(gate_pid))
            .then_some(()))
        .is_some()
    );
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    drop(taken);
    agent.ok(&["delete", "procrace", "--wait"]);
    assert!(service(&agent, "procrace").is_none());
}
