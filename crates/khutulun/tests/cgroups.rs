//! Every bare process instance runs in a cgroup of its own: what it starts stays in it (a
//! daemon that double-forks and leaves its session included), a delete ends all of it and
//! removes the cgroup, and the Resources policy's cpu and memory are enforced limits.
//! Before: such a daemon escaped `delete --wait`, and Resources only guided placement.
//! Needs root and cgroup2 (skipped with a note otherwise).

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn cgroups_here() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let unified = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.kill").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !(root && unified) {
        eprintln!("skipping: per-instance cgroups need root and a cgroup2 hierarchy");
    }
    root && unified
}

/// The cgroup of `pid` in the hierarchy `/proc/<pid>/cgroup` names by `prefix` (`0:` for
/// cgroup2, `4:memory:` style for v1): its path below the hierarchy's root.
fn cgroup_of(pid: u32, controller: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        wanted.then(|| path.to_owned())
    })
}

fn unified_root() -> PathBuf {
    if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        PathBuf::from("/sys/fs/cgroup/unified")
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

#[test]
fn a_double_forked_daemon_stays_in_its_instance_s_cgroup_and_goes_with_it() {
    if !cgroups_here() {
        return;
    }
    let agent = Agent::start();
    let tag = std::process::id() % 100_000;
    let (main, daemon) = (format!("sleep 5{tag:05}"), format!("sleep 4{tag:05}"));
    let template = shell_service(
        &format!(r#"(setsid sh -c "{daemon} &" &); exec {main}"#),
        r#"  policies:
    - sized: { type: Resources, properties: { cpu: 0.5, memory: 64 MiB }, targets: [ app ] }
"#,
    );
    let dir = template_dir(&[("service.yaml", &template)]);
    agent.ok(&["deploy", "cg", dir.path().to_str().unwrap(), "--wait"]);
    let pids = eventually(Duration::from_secs(10), || {
        let (m, d) = (pids_with_cmdline(&main), pids_with_cmdline(&daemon));
        (m.len() == 1 && d.len() == 1).then(|| (m[0], d[0]))
    });
    let (main_pid, daemon_pid) = pids.expect("the process and its daemon run");
    let cgroup = cgroup_of(main_pid, "").expect("a cgroup2 line");
    assert!(
        cgroup.starts_with("/khutulun/test-host-") && cgroup.ends_with("/default/cg/app-0"),
        "the instance's cgroup: {cgroup}"
    );
    assert_eq!(
        cgroup_of(daemon_pid, "").as_deref(),
        Some(cgroup.as_str()),
        "the daemon left its session but not its cgroup"
    );
    // The limits of the Resources policy, where this host's memory and cpu controllers are.
    let v2 = unified_root().join(cgroup.trim_start_matches('/'));
    let memory = match std::fs::read_to_string(v2.join("memory.max")) {
        Ok(max) => max.trim().parse::<u64>().ok(),
        Err(_) => {
            let path = cgroup_of(main_pid, "memory").expect("a memory controller");
            std::fs::read_to_string(
                PathBuf::from("/sys/fs/cgroup/memory")
                    .join(path.trim_start_matches('/'))
                    .join("memory.limit_in_bytes"),
            )
            .ok()
            .and_then(|t| t.trim().parse().ok())
        }
    };
    assert_eq!(memory, Some(64 << 20));
    let cpu = match std::fs::read_to_string(v2.join("cpu.max")) {
        Ok(max) => max
            .split_whitespace()
            .next()
            .and_then(|q| q.parse::<u64>().ok()),
        Err(_) => {
            let path = cgroup_of(main_pid, "cpu").expect("a cpu controller");
            std::fs::read_to_string(
                PathBuf::from("/sys/fs/cgroup/cpu")
                    .join(path.trim_start_matches('/'))
                    .join("cpu.cfs_quota_us"),
            )
            .ok()
            .and_then(|t| t.trim().parse().ok())
        }
    };
    assert_eq!(cpu, Some(50_000), "half a core per 100 ms period");

    agent.ok(&["delete", "cg", "--wait"]);
    assert!(!process_alive(main_pid));
    assert!(!process_alive(daemon_pid), "the daemon outlived the delete");
    assert!(!v2.exists(), "the cgroup {} was left", v2.display());
}

#[test]
fn a_process_over_its_memory_limit_is_killed() {
    if !cgroups_here() {
        return;
    }
    let agent = Agent::start();
    let template = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    hog:
      type: Process
      properties:
        command: python3
        arguments: [ -c, 'import time; time.sleep(0.5); b = bytearray(256 << 20); b[::4096] = b"x" * len(b[::4096]); time.sleep(600)' ]
        restart: never
  policies:
    - small: { type: Resources, properties: { memory: 48 MiB }, targets: [ hog ] }
"#;
    let dir = template_dir(&[("service.yaml", template)]);
    agent.ok(&["deploy", "hog", dir.path().to_str().unwrap(), "--wait"]);
    let ended = eventually(Duration::from_secs(30), || {
        let record = agent.instance("hog", "hog");
        (record["state"] != "running").then_some(record)
    })
    .expect("the process outgrew its memory limit and still runs");
    assert_eq!(ended["exit_signal"], 9, "{ended}");
    agent.ok(&["delete", "hog", "--wait"]);
}

/// Daemons that left both their session and their instance's cgroup (root can) are still
/// found by their instance's mark when the service is deleted: one pass over /proc for the
/// whole service, after all its stops.
#[test]
fn daemons_that_left_their_cgroups_go_with_a_deleted_service() {
    if !cgroups_here() {
        return;
    }
    let tag = std::process::id() % 100_000;
    let daemons: Vec<String> = (1..=2).map(|i| format!("sleep 6{i}{tag:05}")).collect();
    let escape = LEAVE_CGROUP;
    let node = |name: &str, daemon: &str| {
        format!(
            r#"    {name}:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'setsid sh -c "{escape}; exec {daemon}" & exec sleep 3600' ]
"#
        )
    };
    let template = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\nservice_template:\n  node_templates:\n{}{}",
        node("a", &daemons[0]),
        node("b", &daemons[1])
    );
    let dir = template_dir(&[("service.yaml", &template)]);
    let agent = Agent::start();
    agent.ok(&["deploy", "escapees", dir.path().to_str().unwrap(), "--wait"]);
    let pids = eventually(Duration::from_secs(10), || {
        let pids: Vec<u32> = daemons.iter().flat_map(|d| pids_with_cmdline(d)).collect();
        (pids.len() == 2).then_some(pids)
    })
    .expect("both daemons run");
    for pid in &pids {
        let cgroup = cgroup_of(*pid, "").unwrap_or_default();
        assert!(
            !cgroup.contains("escapees"),
            "daemon {pid} is still in its instance's cgroup: {cgroup}"
        );
    }

    agent.ok(&["delete", "escapees", "--wait"]);
    let left: Vec<u32> = pids.iter().copied().filter(|p| process_alive(*p)).collect();
    for pid in &left {
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    assert!(
        left.is_empty(),
        "daemons survived the delete: {left:?}\n{}",
        agent.log()
    );
}
