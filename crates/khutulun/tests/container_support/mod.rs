//! What the container lifecycle tests share: the podman test image (built from the static
//! busybox, no registry), podman calls with the host's flags, a busybox root for
//! systemd-nspawn, the processes running in a root, port reservations and event checks.
#![allow(dead_code)]

use crate::common::{eventually, Agent};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// The podman test image; `ensure_image` builds it once per machine.
pub const IMAGE: &str = "localhost/khutulun-test-busybox:1";

pub const PROFILE_IMPORT: &str =
    "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\n";

/// podman with the flags this host needs (runc, cgroupfs: see docs/containers.md).
pub fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
        .args(args)
        .output()
        .expect("podman is installed (scripts/setup)")
}

/// `podman run` of a container the test starts by hand, with the `--ulimit` flags this
/// host needs (the ones the agent gives its containers); prints the container's id.
pub fn podman_run(args: &[&str]) -> String {
    let ulimits =
        khutulun_delegates::podman::ulimit_flags(&khutulun_delegates::podman::HostFacts::detect());
    let mut all: Vec<&str> = vec!["run", "-d"];
    all.extend(ulimits.iter().map(String::as_str));
    all.extend(args);
    podman_lines(&all).pop().expect("podman run prints the id")
}

/// The lines podman prints for `args`, which must succeed.
pub fn podman_lines(args: &[&str]) -> Vec<String> {
    let out = podman(args);
    assert!(out.status.success(), "podman {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every container, running or not, whose name contains `part` (podman's name filter is
/// a regular expression, and the names here hold nothing special).
pub fn podman_containers(part: &str) -> Vec<String> {
    podman_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={part}"),
        "--format",
        "{{.Names}}",
    ])
}

/// The test image, built from the static busybox with no registry; a lock keeps parallel
/// test processes from importing it twice.
pub fn ensure_image() {
    let script = format!(
        r#"exec 9>/tmp/khutulun-test-busybox-image.lock; flock 9
podman --runtime runc --cgroup-manager cgroupfs image exists {IMAGE} && exit 0
root=$(mktemp -d); mkdir -p "$root/bin"; cp /bin/busybox "$root/bin/busybox"
for a in sh httpd echo cat sleep wget ls env; do ln -s busybox "$root/bin/$a"; done
tar -C "$root" -cf "$root.tar" . && podman --runtime runc --cgroup-manager cgroupfs import "$root.tar" {IMAGE} >/dev/null
status=$?; rm -rf "$root" "$root.tar"; exit $status"#
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "building the test image: {out:?}");
}

/// A root directory systemd-nspawn accepts: the static busybox with a few applets and an
/// os-release file.
pub fn make_root(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("a static busybox (apt-get install busybox-static)");
    for applet in ["sh", "httpd", "echo", "cat", "sleep", "ls", "env"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("usr/lib/os-release"), "ID=khutulun-test\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=khutulun-test\n").unwrap();
}

/// The pids of the processes whose root directory is `root` (the same directory: device and
/// inode, which a bind mount keeps), i.e. the processes of a system container run from it.
pub fn processes_in_root(root: &Path) -> Vec<u32> {
    let Ok(wanted) = std::fs::metadata(root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(meta) = std::fs::metadata(format!("/proc/{pid}/root/")) {
            if meta.dev() == wanted.dev() && meta.ino() == wanted.ino() {
                found.push(pid);
            }
        }
    }
    found
}

/// nspawn leaves its lock file for a root behind when it is killed: remove it (tests only).
pub fn remove_nspawn_lock(root: &Path) {
    if let Ok(meta) = std::fs::metadata(root) {
        let _ = std::fs::remove_file(format!(
            "/run/systemd/nspawn/locks/inode-{}:{}",
            meta.dev(),
            meta.ino()
        ));
    }
}

/// The reservations in the agent's ports.json (port → owner), empty when it has none.
pub fn reservations(agent: &Agent) -> serde_json::Map<String, Value> {
    let path = agent.state_dir().join("hosts/test-host/ports.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))["ports"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        Err(_) => serde_json::Map::new(),
    }
}

/// The events of one type about one node.
pub fn node_events(agent: &Agent, kind: &str, node: &str) -> Vec<Value> {
    agent
        .events()
        .into_iter()
        .filter(|e| e["type"] == kind && e["node"] == node)
        .collect()
}

/// Waits until `node` has exited (seen by the agent) and runs again: an `instance_exited`
/// event and a second `instance_running`.
pub fn wait_for_restart(agent: &Agent, node: &str) {
    let restarted = eventually(Duration::from_secs(20), || {
        let exited = !node_events(agent, "instance_exited", node).is_empty();
        let running = node_events(agent, "instance_running", node).len() >= 2;
        (exited && running).then_some(())
    });
    assert!(
        restarted.is_some(),
        "{node} was not restarted: {:#?}\nagent log:\n{}",
        agent.events(),
        agent.log()
    );
}

/// Restarts the agent and waits until it adopted `node`; returns the adopted pid.
pub fn restart_agent_and_wait_for_adoption(agent: &mut Agent, node: &str) -> Option<u64> {
    agent.stop();
    agent.spawn();
    agent.wait_healthy();
    let adopted = eventually(Duration::from_secs(15), || {
        node_events(agent, "instance_adopted", node)
            .into_iter()
            .next()
    });
    let adopted = adopted.unwrap_or_else(|| {
        panic!(
            "{node} was not adopted: {:#?}\nagent log:\n{}",
            agent.events(),
            agent.log()
        )
    });
    adopted["pid"].as_u64()
}
