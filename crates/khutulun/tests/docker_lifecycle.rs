//! A container given to docker by a Delegation policy, deployed through the real CLI and
//! agent against a private dockerd (see the delegates' `docker_support`): its image loaded
//! from an archive in the package, a published port serving a mounted directory, a kill
//! from outside restarted by the policy, adoption by a restarted agent, and a delete that
//! leaves no container.

mod common;
mod container_support;
#[path = "../../delegates/tests/docker_support/mod.rs"]
mod docker_support;

use common::{eventually, http_get, process_alive, template_dir, Agent};
use container_support::{
    node_events, reservations, restart_agent_and_wait_for_adoption, wait_for_restart,
    PROFILE_IMPORT,
};
use std::time::Duration;

fn template(image: &str, www: &str) -> String {
    format!(
        r#"{PROFILE_IMPORT}service_template:
  node_templates:
    content:
      type: Directory
      properties: {{ path: {www} }}
    web:
      type: Container
      properties:
        image: {image}
        image_archive: images/web.tar
        command: [ /bin/sh, -c, 'echo serving on $PORT; exec httpd -f -p $PORT -h /www' ]
        stop_timeout: 1
      capabilities:
        endpoint: {{ properties: {{ port: 0, container_port: 8080 }} }}
      requirements:
        - directory:
            node: content
            relationship: {{ type: UsesDirectory, properties: {{ mount_path: /www, read_only: true }} }}
  policies:
    - on-docker: {{ type: Delegation, properties: {{ delegate: docker }}, targets: [ web ] }}
"#
    )
}

#[test]
fn a_docker_container_loads_its_archive_serves_restarts_is_adopted_and_is_removed() {
    let engine = docker_support::engine();
    let socket = engine.socket.to_str().unwrap().to_owned();

    // An image the engine does not have, only in the package: a docker archive of the
    // engine's busybox image under another name.
    let image = format!("khutulun-test-docker-archive:{}", std::process::id());
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "served by docker\n").unwrap();
    let dir = template_dir(&[(
        "service.yaml",
        &template(&image, www.path().to_str().unwrap()),
    )]);
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    let archive = dir.path().join("images/web.tar");
    for args in [
        vec!["tag", docker_support::IMAGE, image.as_str()],
        vec!["save", "-o", archive.to_str().unwrap(), image.as_str()],
        vec!["rmi", image.as_str()],
    ] {
        let out = engine.docker(&args);
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    }
    assert!(!engine
        .docker(&["image", "inspect", &image])
        .status
        .success());

    let mut agent = Agent::start_with_args(&["--docker-socket", &socket]);
    agent.ok(&["deploy", "dweb", dir.path().to_str().unwrap(), "--wait"]);

    let web = agent.instance("dweb", "web");
    assert_eq!(web["delegate"], "docker", "{web}");
    assert_eq!(web["state"], "running", "{web}");
    assert!(
        engine
            .docker(&["image", "inspect", &image])
            .status
            .success(),
        "the image was loaded from the package's archive"
    );
    let port = web["ports"]["endpoint"].as_u64().unwrap();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let body = eventually(Duration::from_secs(10), || {
        http_get(&url, None)
            .filter(|(status, _)| *status == 200)
            .map(|(_, b)| b)
    });
    assert_eq!(body.as_deref(), Some("served by docker\n"));

    // A real docker container, labelled with its instance, publishing the port to 8080.
    let name = "khutulun-default-dweb-web-0";
    assert_eq!(engine.containers_named(name), [name]);
    let listed = engine.docker(&[
        "ps",
        "--filter",
        "label=io.khutulun.instance=default/dweb/web/0",
        "--format",
        "{{.Names}} {{.Ports}}",
    ]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(name) && listed.contains(&format!(":{port}->8080")),
        "{listed}"
    );
    let first_pid = web["pid"].as_u64().unwrap();
    assert!(process_alive(first_pid as u32));
    // exec runs in the container (docker exec): its mount, the command's exit code.
    let out = agent.cli(&[
        "exec",
        "dweb",
        "web",
        "--",
        "sh",
        "-c",
        "cat /www/index.html; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(www.path().join("index.html")).unwrap()
    );
    let logs = eventually(Duration::from_secs(10), || {
        let logs = agent.ok(&["logs", "dweb", "web"]);
        logs.contains("serving on 8080").then_some(logs)
    });
    assert!(logs.is_some(), "{:?}", agent.ok(&["logs", "dweb", "web"]));

    // Killed from outside: the restart policy (on-failure) brings it back.
    let out = engine.docker(&["kill", name]);
    assert!(out.status.success(), "docker kill: {out:?}");
    wait_for_restart(&agent, "web");
    let exited = &node_events(&agent, "instance_exited", "web")[0];
    assert_eq!(exited["pid"].as_u64(), Some(first_pid), "{exited}");
    let restarted = agent.instance("dweb", "web");
    assert_eq!(restarted["state"], "running", "{restarted}");
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    let pid = restarted["pid"].as_u64().unwrap();
    assert_ne!(pid, first_pid, "a new container runs");
    assert!(!process_alive(first_pid as u32));
    assert!(eventually(Duration::from_secs(10), || http_get(&url, None)
        .filter(|(s, _)| *s == 200))
    .is_some());
    assert_eq!(
        engine.containers_named(name),
        [name],
        "the old one was replaced"
    );

    // A restarted agent adopts the running container instead of restarting it.
    let adopted = restart_agent_and_wait_for_adoption(&mut agent, "web");
    assert_eq!(adopted, Some(pid));
    assert_eq!(agent.instance("dweb", "web")["pid"].as_u64(), Some(pid));
    assert_eq!(node_events(&agent, "instance_running", "web").len(), 2);
    assert!(process_alive(pid as u32));

    // Delete: no container, no reservation; the kept directory stays.
    agent.ok(&["delete", "dweb", "--wait"]);
    assert!(engine.containers_named(name).is_empty());
    assert!(
        eventually(Duration::from_secs(5), || (!process_alive(pid as u32))
            .then_some(()))
        .is_some(),
        "the container's process {pid} is gone"
    );
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(www.path().join("index.html").exists());
}
