//! What a process workload leaves behind when its main process ends: nothing. A restart
//! first ends the rest of the old run's process group (a background child of a shell used
//! to be left behind on every restart), and so does an end without restart.

mod common;

use common::*;
use std::time::Duration;

fn count(line: &str) -> usize {
    pids_with_cmdline(line).len()
}

fn template(restart: &str, child: &str) -> String {
    shell_service(
        &format!(r#"{child} & sleep 0.5"#),
        &format!(
            r#"        restart: {restart}
"#
        ),
    )
}

#[test]
fn a_main_process_that_ends_takes_its_group_with_it() {
    let agent = Agent::start();
    let tag = std::process::id() % 100_000;
    // restart: always — the run ends every half second and is started again.
    let child = format!("sleep 6{tag:05}");
    let dir = template_dir(&[("service.yaml", &template("always", &child))]);
    agent.ok(&["deploy", "again", dir.path().to_str().unwrap(), "--wait"]);
    let restarted = eventually(Duration::from_secs(30), || {
        let n = agent
            .events()
            .iter()
            .filter(|e| e["type"] == "instance_restarting")
            .count();
        (n >= 3).then_some(n)
    });
    assert!(restarted.is_some(), "no restarts: {}", agent.log());
    let left = count(&child);
    assert!(
        left <= 1,
        "{left} background children of earlier runs still run"
    );
    agent.ok(&["delete", "again", "--wait"]);
    assert_eq!(count(&child), 0);

    // restart: never — once the run ends, so does what it started.
    let child = format!("sleep 7{tag:05}");
    let dir = template_dir(&[("service.yaml", &template("never", &child))]);
    agent.ok(&["deploy", "once", dir.path().to_str().unwrap(), "--wait"]);
    let gone = eventually(Duration::from_secs(20), || {
        let exited = agent.instance("once", "app")["state"] != "running";
        (exited && count(&child) == 0).then_some(())
    });
    assert!(
        gone.is_some(),
        "the background child outlived its run: {} left",
        count(&child)
    );
    agent.ok(&["delete", "once", "--wait"]);
}
