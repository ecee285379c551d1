//! A podman pod of two member containers deployed through the real CLI and agent: one member
//! reaches the other on 127.0.0.1 (a listener bound to loopback inside the pod), the pod
//! publishes its endpoint once; a member killed from outside ends the pod, which the policy
//! restarts; a restarted agent adopts it; a delete leaves no pod and no container.

mod common;
mod container_support;

use common::{eventually, http_get, process_alive, template_dir, Agent};
use container_support::{
    ensure_image, node_events, podman, podman_containers, podman_lines, reservations,
    restart_agent_and_wait_for_adoption, wait_for_restart, IMAGE, PROFILE_IMPORT,
};
use std::time::Duration;

fn template() -> String {
    format!(
        r#"{PROFILE_IMPORT}service_template:
  node_templates:
    pod:
      type: Pod
      properties: {{ stop_timeout: 1 }}
      capabilities:
        endpoint: {{ properties: {{ port: 0, container_port: 8080 }} }}
    backend:
      type: Container
      properties:
        image: {IMAGE}
        command: [ /bin/sh, -c, 'busybox mkdir -p /srv; echo "backend answers on loopback" > /srv/data; exec httpd -f -p 127.0.0.1:9090 -h /srv' ]
        stop_timeout: 1
      requirements:
        - pod: pod
    front:
      type: Container
      properties:
        image: {IMAGE}
        command: [ /bin/sh, -c, 'busybox mkdir -p /www; until wget -q -O /www/index.html http://127.0.0.1:9090/data; do sleep 0.1; done; echo "front on $PORT"; exec httpd -f -p $PORT -h /www' ]
        stop_timeout: 1
      requirements:
        - pod: pod
  outputs:
    url:
      value: {{ $concat: [ "http://127.0.0.1:", {{ $get_attribute: [ pod, CAPABILITY, endpoint, port ] }}, "/index.html" ] }}
"#
    )
}

const POD: &str = "khutulun-default-podsvc-pod-0";
const FRONT: &str = "khutulun-default-podsvc-front-0";
const BACKEND: &str = "khutulun-default-podsvc-backend-0";

/// The pod's running members as podman lists them.
fn members() -> Vec<String> {
    let mut found = podman_lines(&[
        "ps",
        "--filter",
        &format!("pod={POD}"),
        "--filter",
        "status=running",
        "--format",
        "{{.Names}}",
    ]);
    // The infra container holds the pod's namespaces; it is podman's, not a member.
    found.retain(|l| !l.contains("-infra"));
    found.sort();
    found
}

fn pods() -> Vec<String> {
    podman_lines(&[
        "pod",
        "ps",
        "--filter",
        &format!("name=^{POD}$"),
        "--format",
        "{{.Name}} {{.Status}}",
    ])
}

#[test]
fn a_pod_serves_through_its_members_restarts_is_adopted_and_is_removed() {
    ensure_image();
    let dir = template_dir(&[("service.yaml", &template())]);
    let mut agent = Agent::start();
    agent.ok(&["deploy", "podsvc", dir.path().to_str().unwrap(), "--wait"]);

    let instances = agent.instances("podsvc");
    let delegate = |node: &str| {
        instances
            .iter()
            .find(|i| i["node"] == node)
            .map(|i| (i["delegate"].clone(), i["state"].clone()))
    };
    assert_eq!(delegate("pod"), Some(("podman".into(), "running".into())));
    // The pod runs its members: they are no workload of their own.
    assert_eq!(delegate("front"), Some(("none".into(), "running".into())));
    assert_eq!(delegate("backend"), Some(("none".into(), "running".into())));

    // The pod's one published port reaches `front`, which fetched its page from `backend`
    // on 127.0.0.1: they share a network namespace.
    let pod = agent.instance("podsvc", "pod");
    let port = pod["ports"]["endpoint"].as_u64().unwrap();
    let url = agent.json(&["outputs", "podsvc"])["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{port}/index.html"));
    let body = eventually(Duration::from_secs(15), || {
        http_get(&url, None)
            .filter(|(status, _)| *status == 200)
            .map(|(_, b)| b)
    });
    assert_eq!(body.as_deref(), Some("backend answers on loopback\n"));
    // Only `front` is published: the backend's loopback listener is not on the host.
    assert!(http_get("http://127.0.0.1:9090/data", None)
        .is_none_or(|(_, b)| !b.contains("backend answers")));

    assert_eq!(pods().len(), 1, "{:?}", pods());
    assert!(
        pods()[0].starts_with(&format!("{POD} Running")),
        "{:?}",
        pods()
    );
    assert_eq!(members(), [BACKEND, FRONT]);
    let labelled = podman_lines(&[
        "pod",
        "ps",
        "--filter",
        "label=io.khutulun.instance=default/podsvc/pod/0",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(labelled, [POD]);
    let published = podman_lines(&[
        "pod",
        "inspect",
        POD,
        "--format",
        "{{.InfraConfig.PortBindings}}",
    ]);
    assert!(
        published.concat().contains(&port.to_string()),
        "{published:?}"
    );
    let first_pid = pod["pid"].as_u64().unwrap();

    // exec into a member runs in that member's container; into the pod, its first member.
    let out = agent.cli(&[
        "exec",
        "podsvc",
        "backend",
        "--",
        "sh",
        "-c",
        "cat /srv/data; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "backend answers on loopback\n"
    );
    let out = agent.cli(&["exec", "podsvc", "front", "--", "cat", "/www/index.html"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "backend answers on loopback\n"
    );
    let out = agent.cli(&[
        "exec",
        "podsvc",
        "pod",
        "--",
        "sh",
        "-c",
        "test -e /srv/data",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the pod's first member is backend: {out:?}"
    );

    // A member killed from outside ends the pod; the policy starts it again.
    assert!(podman(&["kill", FRONT]).status.success());
    wait_for_restart(&agent, "pod");
    let exited = &node_events(&agent, "instance_exited", "pod")[0];
    assert_eq!(exited["pid"].as_u64(), Some(first_pid), "{exited}");
    let restarted = agent.instance("podsvc", "pod");
    assert_eq!(restarted["state"], "running", "{restarted}");
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    let pid = restarted["pid"].as_u64().unwrap();
    assert_ne!(pid, first_pid);
    assert!(process_alive(pid as u32));
    assert_eq!(members(), [BACKEND, FRONT]);
    assert_eq!(pods().len(), 1, "one pod, not a second beside the first");
    let body = eventually(Duration::from_secs(15), || {
        http_get(&url, None)
            .filter(|(status, _)| *status == 200)
            .map(|(_, b)| b)
    });
    assert_eq!(body.as_deref(), Some("backend answers on loopback\n"));

    // A restarted agent adopts the running pod.
    let adopted = restart_agent_and_wait_for_adoption(&mut agent, "pod");
    assert_eq!(adopted, Some(pid));
    assert_eq!(agent.instance("podsvc", "pod")["pid"].as_u64(), Some(pid));
    assert_eq!(node_events(&agent, "instance_running", "pod").len(), 2);

    // Delete: no pod, no member, no infra container, no reservation.
    agent.ok(&["delete", "podsvc", "--wait"]);
    assert_eq!(pods(), Vec::<String>::new());
    assert_eq!(
        podman_containers("khutulun-default-podsvc-"),
        Vec::<String>::new()
    );
    assert!(
        eventually(Duration::from_secs(5), || (!process_alive(pid as u32))
            .then_some(()))
        .is_some()
    );
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(http_get(&url, None).is_none_or(|(status, _)| status != 200));
}
