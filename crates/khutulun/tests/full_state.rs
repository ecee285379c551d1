//! A full state filesystem. A restart whose record cannot be written does not happen: no
//! process runs that its record does not announce (before, the restart ran unrecorded and
//! the next agent start ran a second copy). Once there is room again the restart policy's
//! next attempt starts it, once. Needs root (a small tmpfs for the state).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?.keep();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipping: cannot mount a tmpfs here (not root?)");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the filesystem of `dir` with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
    // The last bytes too, down to nothing.
    while file.write_all(&[0u8; 512]).is_ok() {}
    while file.write_all(&[0u8]).is_ok() {}
    path
}

#[test]
fn a_restart_that_cannot_be_recorded_does_not_run_until_it_can() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let state = tmpfs.0.join("state");
    let agent = Agent::start_on_state(&state, &[]);
    let tag = std::process::id() % 100_000;
    let command = format!("sleep 3{tag:05}");
    let template = shell_service(
        &format!(r#"exec {command}"#),
        r#"        restart: always
"#,
    );
    let dir = template_dir(&[("service.yaml", &template)]);
    agent.ok(&["deploy", "full", dir.path().to_str().unwrap(), "--wait"]);
    let first = pids_with_cmdline(&command);
    assert_eq!(first.len(), 1);

    let filler = fill(&tmpfs.0);
    kill(first[0], 9);
    // The supervisor tries to restart it, with backoff; none of its tries may run it.
    let refused = eventually(Duration::from_secs(20), || {
        agent
            .log()
            .contains("its record cannot be written")
            .then_some(())
    });
    assert!(refused.is_some(), "{}", agent.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        pids_with_cmdline(&command),
        Vec::<u32>::new(),
        "a restart ran that its record does not announce"
    );

    std::fs::remove_file(filler).unwrap();
    let back = eventually(Duration::from_secs(60), || {
        let pids = pids_with_cmdline(&command);
        let record = agent.instance("full", "app");
        (record["state"] == "running" && pids.len() == 1 && record["pid"] == pids[0]).then_some(())
    });
    assert!(
        back.is_some(),
        "not started again once there is room: {:?} {}",
        pids_with_cmdline(&command),
        agent.log()
    );
    agent.ok(&["delete", "full", "--wait"]);
    assert!(pids_with_cmdline(&command).is_empty());
    drop(agent);
}

/// A deploy whose final status cannot be written (the state filled up while it started)
/// does not stay `deploying` with nothing to finish it: the status is written once there is
/// room. (Before, it stayed `deploying` until the agent restarted.)
#[test]
fn a_status_that_cannot_be_written_is_written_once_there_is_room() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let state = tmpfs.0.join("state");
    let agent = Agent::start_on_state(&state, &[]);
    // It listens 3 s after it starts: the deploy is still starting it when the disk fills.
    let template = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    slow:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'sleep 3; exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
      capabilities:
        endpoint: { properties: { port: 0 } }
"#;
    let dir = template_dir(&[("service.yaml", template)]);
    agent.ok(&["deploy", "late", dir.path().to_str().unwrap()]);
    let recorded = eventually(Duration::from_secs(10), || {
        let record = agent.instance("late", "slow");
        record["pid"].as_u64().map(|_| ())
    });
    assert!(recorded.is_some(), "{}", agent.log());
    let filler = fill(&tmpfs.0);
    let refused = eventually(Duration::from_secs(20), || {
        agent
            .log()
            .contains("cannot record that default/late is deployed")
            .then_some(())
    });
    assert!(refused.is_some(), "{}", agent.log());
    std::fs::remove_file(filler).unwrap();
    let settled = eventually(Duration::from_secs(60), || {
        let services = agent.json(&["services"]);
        let status = services[0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (status != "deploying").then_some(status)
    });
    assert_eq!(
        settled.as_deref(),
        Some("deployed"),
        "still deploying once there is room: {}",
        agent.log()
    );
    agent.ok(&["delete", "late", "--wait"]);
    drop(agent);
}
