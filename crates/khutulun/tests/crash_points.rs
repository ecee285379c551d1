//! Crash consistency. The agent is killed (SIGKILL, at a named crash point:
//! `KHUTULUN_TEST_CRASH_AT`) at every step of a deploy, a redeploy and a delete where it
//! writes the state or starts a process; a new agent then starts on the same state and data.
//! Whatever the moment, it must find and leave: no instance running twice, no process that
//! no record accounts for, a service whose status matches its records (one revision, never a
//! mix), port reservations that match the records, no revision that was never committed,
//! no temporary file. And the service can still be deleted, leaving nothing.
//!
//! Before: a kill between starting a process and recording it left a copy that ran twice
//! after the restart and survived `delete --wait`; a kill during the writes of a deploy left
//! some of the instance records, and the service "deployed" with the others missing.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    tag:
      type: string
      default: first
  node_templates:
    backend:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
        environment: { TAG: { $get_input: tag } }
      capabilities:
        endpoint: { properties: { port: 0 } }
    worker:
      type: Process
      properties:
        command: sleep
        arguments: [ "3600" ]
        environment: { TAG: { $get_input: tag } }
      requirements:
        - connection: backend
"#;

const MARK: &str = "KHUTULUN_INSTANCE_DIR=";

/// Live processes carrying an instance mark below `data`, by instance directory.
fn marked_processes(data: &Path) -> BTreeMap<String, Vec<u32>> {
    let prefix = format!("{MARK}{}", data.join("instances").display());
    let mut found: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let mark = environ
            .split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .find(|v| v.starts_with(&prefix))
            .map(|v| v[MARK.len()..].to_owned());
        if let Some(dir) = mark {
            if process_alive(pid) {
                found.entry(dir).or_default().push(pid);
            }
        }
    }
    found
}

/// The session of `pid` (/proc/<pid>/stat: the fourth field after the command's `)`).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(3)?.parse().ok()
}

fn service(agent: &Agent) -> Option<Value> {
    let services = agent.json(&["services"]);
    services
        .as_array()?
        .iter()
        .find(|s| s["name"] == "s")
        .cloned()
}

/// Waits until the restarted agent has settled the service (not deploying nor deleting).
fn settle(agent: &Agent) -> Option<Value> {
    let settled = eventually(Duration::from_secs(60), || match service(agent) {
        None => Some(None),
        Some(s) if s["status"] == "deployed" || s["status"] == "failed" => Some(Some(s)),
        Some(_) => None,
    });
    settled.unwrap_or_else(|| {
        panic!(
            "the service did not settle: {:?}\n{}",
            service(agent),
            agent.log()
        )
    })
}

/// Every invariant a restarted agent must keep, whatever the moment of the crash.
fn check_invariants(agent: &Agent, case: &str) {
    let service = settle(agent);
    let data = agent.data_dir();
    let state = agent.state_dir();
    let marked = marked_processes(&data);
    let service_dir = state.join("namespaces/default/services/s");
    let Some(service) = service else {
        // Never committed: nothing of it may be left.
        assert!(
            marked.is_empty(),
            "{case}: processes of no service: {marked:?}"
        );
        assert!(
            !service_dir.join("revisions").exists()
                || std::fs::read_dir(service_dir.join("revisions"))
                    .unwrap()
                    .next()
                    .is_none(),
            "{case}: a revision that was never committed is left"
        );
        return;
    };
    let revision = service["revision"].as_u64().unwrap();
    let records = agent.instances("s");
    // One revision, and its whole plan: backend/0 and worker/0.
    let mut seen: Vec<String> = records
        .iter()
        .map(|r| format!("{}/{}", r["node"].as_str().unwrap(), r["index"]))
        .collect();
    seen.sort();
    assert_eq!(seen, ["backend/0", "worker/0"], "{case}: {records:?}");
    for record in &records {
        assert_eq!(
            record["revision"].as_u64(),
            Some(revision),
            "{case}: a record of another revision than the service's: {record}"
        );
    }
    if service["status"] == "deployed" {
        for record in &records {
            assert_eq!(record["state"], "running", "{case}: {record}");
        }
    }
    // No duplicate, no orphan: every marked process is the recorded one of a running
    // instance, or runs in its session (what it started: a shell's or a shim's children,
    // which may still be about when the service settles). A second copy would lead a
    // session of its own (every workload starts one).
    for (dir, all) in &marked {
        // (pid, session) of those still there.
        let live: Vec<(u32, u32)> = all
            .iter()
            .filter_map(|pid| session_of(*pid).map(|session| (*pid, session)))
            .collect();
        let pids: Vec<u32> = live
            .iter()
            .filter(|(p, s)| p == s)
            .map(|(p, _)| *p)
            .collect();
        let others: Vec<u32> = live
            .iter()
            .filter(|(p, s)| p != s)
            .map(|(p, _)| *p)
            .collect();
        let name = Path::new(dir).file_name().unwrap().to_string_lossy();
        let record = records
            .iter()
            .find(|r| format!("{}-{}", r["node"].as_str().unwrap(), r["index"]) == name);
        let Some(record) = record else {
            panic!("{case}: process(es) {pids:?} of {dir} that no record accounts for");
        };
        assert_eq!(
            pids.len(),
            1,
            "{case}: {dir} runs {} times: {pids:?}\n{}",
            pids.len(),
            agent.log()
        );
        assert_eq!(
            record["state"], "running",
            "{case}: {record} yet {pids:?} run"
        );
        assert_eq!(
            record["pid"].as_u64(),
            Some(pids[0] as u64),
            "{case}: {record}"
        );
        for other in others {
            assert_eq!(
                session_of(other),
                Some(pids[0]),
                "{case}: {dir}: process {other} is neither its recorded process nor in its session"
            );
        }
    }
    // Ports: reserved exactly as the records hold them.
    let mut recorded: Vec<u64> = records
        .iter()
        .flat_map(|r| {
            r["ports"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, p)| p.as_u64())
                .collect::<Vec<_>>()
        })
        .collect();
    recorded.sort();
    let reservations: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("hosts/test-host/ports.json")).unwrap_or_default(),
    )
    .unwrap_or(Value::Null);
    let mut reserved: Vec<u64> = reservations["ports"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, owner)| owner["service"] == "s")
        .filter_map(|(port, _)| port.parse().ok())
        .collect();
    reserved.sort();
    assert_eq!(reserved, recorded, "{case}: reservations vs records");
    // No revision above the committed one, no temporary file anywhere.
    for entry in std::fs::read_dir(service_dir.join("revisions"))
        .unwrap()
        .flatten()
    {
        let n: u64 = entry.file_name().to_string_lossy().parse().unwrap();
        assert!(n <= revision, "{case}: revision {n} was never committed");
    }
    let temps = temp_files(&state);
    assert!(temps.is_empty(), "{case}: temporary files left: {temps:?}");
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() && name != "package" {
            found.extend(temp_files(&path));
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Restarts `agent` to die at `point`, runs `action` (which the crash may cut short), and
/// starts it again normally.
fn crash_during(agent: &mut Agent, point: &str, action: impl FnOnce(&Agent)) {
    agent.stop();
    agent.env = vec![("KHUTULUN_TEST_CRASH_AT".into(), point.into())];
    agent.spawn();
    action(agent);
    let status = agent.wait_for_exit(Duration::from_secs(60));
    let killed = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
    assert_eq!(
        killed,
        Some(9),
        "the agent did not die at crash point {point} ({status:?}): is the point still reached?\n{}",
        agent.log()
    );
    agent.env.clear();
    agent.spawn();
}

/// Deletes the service and checks that nothing of it is left running or reserved.
fn delete_leaves_nothing(agent: &Agent, case: &str) {
    if service(agent).is_some() {
        agent.ok(&["delete", "s", "--wait", "--timeout", "60"]);
    }
    let marked = marked_processes(&agent.data_dir());
    assert!(marked.is_empty(), "{case}: left after delete: {marked:?}");
    assert!(service(agent).is_none(), "{case}");
}

fn template() -> tempfile::TempDir {
    template_dir(&[("service.yaml", TEMPLATE)])
}

fn deploy(agent: &Agent, dir: &Path, tag: &str) {
    let _ = agent.cli(&[
        "deploy",
        "s",
        dir.to_str().unwrap(),
        "-i",
        &format!("tag={tag}"),
        "--wait",
        "--timeout",
        "30",
    ]);
}

#[test]
fn a_deploy_cut_short_at_any_point_leaves_one_consistent_service() {
    let dir = template();
    for point in [
        "deploy.placed",
        "deploy.revision-stored",
        "deploy.committed",
        "deploy.instance-written:1",
        "deploy.accepted",
        "start.spawned:1",
        "start.recorded:1",
        "start.spawned:2",
    ] {
        let mut agent = Agent::start();
        crash_during(&mut agent, point, |agent| {
            deploy(agent, dir.path(), "first")
        });
        check_invariants(&agent, point);
        delete_leaves_nothing(&agent, point);
    }
}

#[test]
fn a_redeploy_cut_short_at_any_point_leaves_the_old_revision_or_the_new() {
    let dir = template();
    for point in [
        "deploy.old-marked-deploying",
        "deploy.old-stopped",
        "deploy.revision-stored",
        "deploy.committed",
        "deploy.instance-written:1",
        "start.spawned:1",
        "start.spawned:2",
    ] {
        let mut agent = Agent::start();
        deploy(&agent, dir.path(), "first");
        assert_eq!(service(&agent).unwrap()["status"], "deployed", "{point}");
        crash_during(&mut agent, point, |agent| {
            deploy(agent, dir.path(), "second")
        });
        check_invariants(&agent, point);
        delete_leaves_nothing(&agent, point);
    }
}

#[test]
fn a_delete_cut_short_at_any_point_is_finished_by_the_next_agent() {
    let dir = template();
    for point in ["delete.marked", "delete.stopped", "delete.ports-released"] {
        let mut agent = Agent::start();
        deploy(&agent, dir.path(), "first");
        crash_during(&mut agent, point, |agent| {
            let _ = agent.cli(&["delete", "s", "--wait", "--timeout", "30"]);
        });
        let gone = eventually(Duration::from_secs(60), || {
            service(&agent).is_none().then_some(())
        });
        assert!(
            gone.is_some(),
            "{point}: the delete was not finished\n{}",
            agent.log()
        );
        let marked = marked_processes(&agent.data_dir());
        assert!(
            marked.is_empty(),
            "{point}: left after the delete: {marked:?}"
        );
        let reservations =
            std::fs::read_to_string(agent.state_dir().join("hosts/test-host/ports.json"))
                .unwrap_or_default();
        assert!(!reservations.contains("\"s\""), "{point}: {reservations}");
    }
}
