//! Self-fencing ends everything of the host that runs, not only what the agent lists: a
//! workload whose daemon left its session (setsid, as daemons do) is ended with it, because
//! both hold the host's lifeline (the daemon here also leaves the instance's cgroup, which
//! would otherwise end it with its instance). The state's filesystem is frozen (a FUSE passthrough that
//! stops answering) so that the lease lapses.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn self_fencing_ends_a_daemon_that_left_its_workload_s_session() {
    let source = tempfile::tempdir().unwrap();
    let Some(mount) = freezefs::FrozenMount::new(source.path()) else {
        return;
    };
    let state = mount.path().join("state");
    // Self-fencing after 3 s without a renewal, everything ended within 4 s.
    let mut agent = Agent::start_on_state(&state, &["--lease-period", "4"]);
    // Durations unique to this run name its processes.
    let tag = std::process::id() % 100_000;
    let (main, daemon) = (format!("sleep 7{tag:05}"), format!("sleep 8{tag:05}"));
    // The daemon also leaves the instance's cgroup (as root it can), so that only the
    // lifeline finds it: the cgroup would end it with its instance otherwise.
    let escape = LEAVE_CGROUP;
    let template = shell_service(
        &format!(r#"setsid sh -c "{escape}; exec {daemon}" & exec {main}"#),
        "",
    );
    let _cleanup = KillOnDrop(vec![main.clone(), daemon.clone()]);
    let dir = template_dir(&[("service.yaml", &template)]);
    agent.ok(&["deploy", "d", dir.path().to_str().unwrap(), "--wait"]);
    let both = eventually(Duration::from_secs(10), || {
        let (m, d) = (pids_with_cmdline(&main), pids_with_cmdline(&daemon));
        (m.len() == 1 && d.len() == 1).then(|| (m[0], d[0]))
    });
    let (main_pid, daemon_pid) = both.expect("the workload and its daemon run");

    mount.freeze();
    let frozen = Instant::now();
    let ended = eventually(Duration::from_secs(15), || {
        (!process_alive(main_pid) && !process_alive(daemon_pid)).then(|| frozen.elapsed())
    });
    let alive = (process_alive(main_pid), process_alive(daemon_pid));
    mount.thaw();
    let ended = ended.unwrap_or_else(|| {
        panic!(
            "still running after the fence (workload, daemon): {alive:?}; agent log:\n{}",
            agent.log()
        )
    });
    println!(
        "workload and daemon ended {:.1}s after the freeze",
        ended.as_secs_f64()
    );
    // The agent says what it ended beyond its list (once its sweep is done).
    let said = eventually(Duration::from_secs(10), || {
        agent
            .log()
            .contains("not listed as its workloads")
            .then_some(())
    });
    assert!(said.is_some(), "{}", agent.log());

    // The lease comes back and the workload with it.
    let back = eventually(Duration::from_secs(30), || {
        (pids_with_cmdline(&main).len() == 1).then_some(())
    });
    assert!(
        back.is_some(),
        "not started again; agent log:\n{}",
        agent.log()
    );
    let types: Vec<String> = agent
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in ["host_self_fenced", "host_lease_recovered"] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} in {types:?}"
        );
    }
    let _ = agent.cli(&["delete", "d", "--wait", "--timeout", "60"]);
    agent.stop();
}

/// Kills what is left of the named processes however the test ends (a daemon that left
/// its session outlives `delete` and the agent).
struct KillOnDrop(Vec<String>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for line in &self.0 {
            for pid in pids_with_cmdline(line) {
                kill(pid, 9);
            }
        }
    }
}
