//! System containers (systemd-nspawn) deployed through the real CLI and agent: from a root
//! directory used in place, serving on the host's network; the container's leader killed
//! from outside and restarted by the policy; adoption by a restarted agent; a delete that
//! leaves no process in the root. And from a rootfs tarball in the package: unpacked per
//! instance, removed with the service.

mod common;
mod container_support;

use common::{eventually, http_get, process_alive, template_dir, Agent};
use container_support::{
    make_root, node_events, processes_in_root, remove_nspawn_lock, reservations,
    restart_agent_and_wait_for_adoption, wait_for_restart, PROFILE_IMPORT,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn template(root: &str, www: &str) -> String {
    format!(
        r#"{PROFILE_IMPORT}service_template:
  node_templates:
    content:
      type: Directory
      properties: {{ path: {www} }}
    machine:
      type: SystemContainer
      properties:
        root: {root}
        command: [ /bin/sh, -c, 'echo "machine on $PORT"; exec httpd -f -p 127.0.0.1:$PORT -h /www' ]
        stop_timeout: 2
      capabilities:
        endpoint: {{ properties: {{ port: 0 }} }}
      requirements:
        - directory:
            node: content
            relationship: {{ type: UsesDirectory, properties: {{ mount_path: /www, read_only: true }} }}
"#
    )
}

/// Removes nspawn's lock files of the roots, whatever the outcome.
struct Roots(Vec<std::path::PathBuf>);

impl Drop for Roots {
    fn drop(&mut self) {
        for root in &self.0 {
            remove_nspawn_lock(root);
        }
    }
}

fn wait_until_gone(pids: &[u32]) {
    let gone = eventually(Duration::from_secs(10), || {
        pids.iter().all(|p| !process_alive(*p)).then_some(())
    });
    let alive: Vec<u32> = pids.iter().copied().filter(|p| process_alive(*p)).collect();
    assert!(gone.is_some(), "still running: {alive:?}");
}

#[test]
fn a_system_container_from_a_directory_serves_restarts_is_adopted_and_leaves_nothing() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    make_root(&root);
    let _cleanup = Roots(vec![root.clone()]);
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "from the machine\n").unwrap();
    let dir = template_dir(&[(
        "service.yaml",
        &template(root.to_str().unwrap(), www.path().to_str().unwrap()),
    )]);
    let mut agent = Agent::start();
    agent.ok(&["deploy", "nsweb", dir.path().to_str().unwrap(), "--wait"]);

    let machine = agent.instance("nsweb", "machine");
    assert_eq!(machine["delegate"], "nspawn", "{machine}");
    assert_eq!(machine["state"], "running", "{machine}");
    // It shares the host's network: the reserved port is served on 127.0.0.1 directly.
    let port = machine["ports"]["endpoint"].as_u64().unwrap();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let body = http_get(&url, None).map(|(_, b)| b);
    assert_eq!(
        body.as_deref(),
        Some("from the machine\n"),
        "ready means serving"
    );
    let logs = agent.ok(&["logs", "nsweb", "machine"]);
    assert!(logs.contains(&format!("machine on {port}")), "{logs}");

    // The processes of the container run in the root: its leader among them.
    let nspawn = machine["pid"].as_u64().unwrap() as u32;
    let leader = machine["handle"]["leader_pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no leader recorded: {machine}")) as u32;
    let inside = processes_in_root(&root);
    assert!(
        inside.contains(&leader) && inside.len() >= 2,
        "leader {leader}, in the root: {inside:?}"
    );
    assert!(!inside.contains(&nspawn), "nspawn itself runs on the host");
    // exec enters the container: its root, its processes, the command's exit code.
    let out = agent.cli(&[
        "exec",
        "nsweb",
        "machine",
        "--",
        "sh",
        "-c",
        "cat /usr/lib/os-release; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(root.join("usr/lib/os-release")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{nspawn}/comm"))
            .unwrap()
            .trim(),
        "systemd-nspawn"
    );

    // The leader killed from outside ends the container; the policy restarts it.
    common::kill(leader, 9);
    wait_for_restart(&agent, "machine");
    let exited = &node_events(&agent, "instance_exited", "machine")[0];
    assert_eq!(exited["pid"].as_u64(), Some(u64::from(nspawn)), "{exited}");
    let restarted = agent.instance("nsweb", "machine");
    assert_eq!(restarted["state"], "running", "{restarted}");
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    let pid = restarted["pid"].as_u64().unwrap();
    let new_leader = restarted["handle"]["leader_pid"].as_u64().unwrap() as u32;
    assert_ne!(pid, u64::from(nspawn));
    assert_ne!(new_leader, leader);
    assert!(inside.iter().all(|p| !process_alive(*p)), "{inside:?}");
    assert_eq!(
        http_get(&url, None).map(|(_, b)| b).as_deref(),
        Some("from the machine\n")
    );

    // A restarted agent adopts it: same nspawn, same leader, no restart.
    let adopted = restart_agent_and_wait_for_adoption(&mut agent, "machine");
    assert_eq!(adopted, Some(pid));
    let machine = agent.instance("nsweb", "machine");
    assert_eq!(machine["pid"].as_u64(), Some(pid), "{machine}");
    assert_eq!(
        machine["handle"]["leader_pid"].as_u64(),
        Some(u64::from(new_leader))
    );
    assert_eq!(node_events(&agent, "instance_running", "machine").len(), 2);
    assert!(process_alive(new_leader));

    // Supervision goes on after adoption: a second kill is seen by the new agent.
    let before = node_events(&agent, "instance_exited", "machine").len();
    common::kill(new_leader, 9);
    let seen = eventually(Duration::from_secs(15), || {
        let exited = node_events(&agent, "instance_exited", "machine").len() > before;
        let running = node_events(&agent, "instance_running", "machine").len() >= 3;
        (exited && running).then_some(())
    });
    assert!(seen.is_some(), "{:#?}\n{}", agent.events(), agent.log());

    // Delete: nothing runs in the root any more; the root directory (the user's) stays.
    let inside = processes_in_root(&root);
    assert!(!inside.is_empty());
    let nspawn = agent.instance("nsweb", "machine")["pid"].as_u64().unwrap() as u32;
    agent.ok(&["delete", "nsweb", "--wait"]);
    wait_until_gone(&inside);
    wait_until_gone(&[nspawn]);
    assert_eq!(processes_in_root(&root), Vec::<u32>::new());
    assert!(http_get(&url, None).is_none(), "nothing serves on {port}");
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
    assert!(
        root.join("bin/busybox").exists(),
        "a directory root is kept"
    );
    assert!(!machinectl_lists("khutulun-default-nsweb-machine-0"));
}

/// Whether `machinectl list` shows the machine; false where machinectl cannot work (no
/// systemd as PID 1: the delegate runs nspawn with --register=no there).
fn machinectl_lists(machine: &str) -> bool {
    Command::new("machinectl")
        .args(["list", "--no-legend"])
        .output()
        .map(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).contains(machine))
        .unwrap_or(false)
}

#[test]
fn a_system_container_from_a_tarball_is_unpacked_per_instance_and_removed_on_delete() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("source");
    make_root(&source);
    std::fs::write(source.join("www/index.html"), "from the tarball\n").unwrap();
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            r#"{PROFILE_IMPORT}service_template:
  node_templates:
    machine:
      type: SystemContainer
      properties:
        root: rootfs.tar
        command: [ /bin/sh, -c, 'exec httpd -f -p 127.0.0.1:$PORT -h /www' ]
        stop_timeout: 2
      capabilities:
        endpoint: {{ properties: {{ port: 0 }} }}
"#
        ),
    )]);
    let status = Command::new("tar")
        .arg("-C")
        .arg(&source)
        .arg("-cf")
        .arg(dir.path().join("rootfs.tar"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let agent = Agent::start();
    let unpacked: &Path = &agent
        .data_dir()
        .join("instances/default/nstar/machine-0/machine/rootfs");
    let _cleanup = Roots(vec![unpacked.to_owned()]);
    agent.ok(&["deploy", "nstar", dir.path().to_str().unwrap(), "--wait"]);

    let machine = agent.instance("nstar", "machine");
    let port = machine["ports"]["endpoint"].as_u64().unwrap();
    assert_eq!(
        http_get(&format!("http://127.0.0.1:{port}/index.html"), None)
            .map(|(_, b)| b)
            .as_deref(),
        Some("from the tarball\n")
    );
    assert!(
        unpacked.join("www/index.html").is_file(),
        "unpacked per instance"
    );
    let inside = processes_in_root(unpacked);
    assert!(
        !inside.is_empty(),
        "the container runs in the unpacked root"
    );
    assert!(processes_in_root(&source).is_empty());

    agent.ok(&["delete", "nstar", "--wait"]);
    wait_until_gone(&inside);
    assert!(
        !unpacked.exists(),
        "the unpacked root is removed with the service"
    );
    assert!(
        reservations(&agent).is_empty(),
        "{:?}",
        reservations(&agent)
    );
}
