//! A podman container deployed through the real CLI and agent: a published port serving a
//! mounted directory, logs, a kill from outside restarted by the policy, adoption by a
//! restarted agent, and a delete that leaves no container.

mod common;
mod container_support;

use common::{eventually, http_get, template_dir, Agent};
use container_support::{ensure_image, podman, IMAGE};
use std::time::Duration;

fn template(www: &str) -> String {
    format!(
        r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    content:
      type: Directory
      properties: {{ path: {www} }}
    web:
      type: Container
      properties:
        image: {IMAGE}
        command: [ /bin/sh, -c, 'echo serving on $PORT; exec httpd -f -p $PORT -h /www' ]
        stop_timeout: 1
      capabilities:
        endpoint: {{ properties: {{ port: 0, container_port: 8080 }} }}
      requirements:
        - directory:
            node: content
            relationship: {{ type: UsesDirectory, properties: {{ mount_path: /www, read_only: true }} }}
  outputs:
    url:
      value: {{ $concat: [ "http://127.0.0.1:", {{ $get_attribute: [ web, CAPABILITY, endpoint, port ] }}, "/index.html" ] }}
"#
    )
}

#[test]
fn a_podman_container_serves_restarts_is_adopted_and_is_removed() {
    ensure_image();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(
        www.path().join("index.html"),
        "from the mounted directory\n",
    )
    .unwrap();
    let dir = template_dir(&[("service.yaml", &template(www.path().to_str().unwrap()))]);
    let mut agent = Agent::start();
    agent.ok(&["deploy", "cweb", dir.path().to_str().unwrap(), "--wait"]);

    let web = agent.instance("cweb", "web");
    assert_eq!(web["delegate"], "podman", "{web}");
    let port = web["ports"]["endpoint"].as_u64().unwrap();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let body = eventually(Duration::from_secs(10), || {
        http_get(&url, None).map(|(_, b)| b)
    });
    assert_eq!(body.as_deref(), Some("from the mounted directory\n"));

    // A real container, labelled with its instance, listening inside on 8080.
    let name = "khutulun-default-cweb-web-0";
    let listed = String::from_utf8(
        podman(&[
            "ps",
            "--filter",
            "label=io.khutulun.instance=default/cweb/web/0",
            "--format",
            "{{.Names}} {{.Ports}}",
        ])
        .stdout,
    )
    .unwrap();
    assert!(
        listed.contains(name) && listed.contains(&format!("{port}->8080")),
        "{listed}"
    );
    // The log copy runs beside the container: give it a moment.
    let logs = eventually(Duration::from_secs(10), || {
        let logs = agent.ok(&["logs", "cweb", "web"]);
        logs.contains("serving on 8080").then_some(logs)
    });
    assert!(logs.is_some(), "{}", agent.ok(&["logs", "cweb", "web"]));

    // exec runs in the container (podman exec): its mount, the command's exit code.
    let out = agent.cli(&[
        "exec",
        "cweb",
        "web",
        "--",
        "sh",
        "-c",
        "cat /www/index.html; exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from the mounted directory\n"
    );

    // Killed from outside: the restart policy brings it back, seen as events.
    assert!(podman(&["kill", name]).status.success());
    let restarted = eventually(Duration::from_secs(15), || {
        let events = agent.events();
        let exited = events
            .iter()
            .any(|e| e["type"] == "instance_exited" && e["node"] == "web");
        let again = events
            .iter()
            .filter(|e| e["type"] == "instance_running" && e["node"] == "web")
            .count()
            >= 2;
        (exited && again).then_some(())
    });
    assert!(restarted.is_some(), "{:?}", agent.events());
    let pid = agent.instance("cweb", "web")["pid"].as_u64().unwrap();
    assert!(eventually(Duration::from_secs(10), || http_get(&url, None)).is_some());

    // A restarted agent adopts the running container instead of restarting it.
    agent.stop();
    agent.spawn();
    agent.wait_healthy();
    let adopted = eventually(Duration::from_secs(10), || {
        agent
            .events()
            .iter()
            .any(|e| e["type"] == "instance_adopted" && e["node"] == "web")
            .then_some(())
    });
    assert!(adopted.is_some(), "{:?}", agent.events());
    assert_eq!(agent.instance("cweb", "web")["pid"].as_u64(), Some(pid));

    // Delete: no container left behind, and the directory (kept by default) stays.
    agent.ok(&["delete", "cweb", "--wait"]);
    let left = String::from_utf8(
        podman(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}",
        ])
        .stdout,
    )
    .unwrap();
    assert!(left.trim().is_empty(), "left behind: {left}");
    assert!(www.path().join("index.html").exists());
}
