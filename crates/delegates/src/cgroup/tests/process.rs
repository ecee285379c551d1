//! The process delegate with instance cgroups: daemons, limits, stop and recovery by name.

use super::*;
use crate::delegate::{Delegate, Exit, Running, WorkloadSpec};
use crate::process::{ProcessDelegate, ProcessSpec};
use std::collections::BTreeMap;

/// A number of seconds for `sleep` that no other test (or test process) uses, to find
/// that sleep in /proc.
fn unique_seconds(n: u64) -> u64 {
    100_000_000 + u64::from(std::process::id()) * 10 + n
}

/// Live (not zombie) processes whose command line is `line`.
fn pids_running(line: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let args: Vec<String> = raw
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.join(" ") == line
            }) && crate::proc_stat::start_time(*pid).is_some()
        })
        .collect()
}

/// The one process running `line`, once it appears (within 10 s).
async fn appeared(line: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let [pid] = pids_running(line)[..] {
            return pid;
        }
        assert!(Instant::now() < deadline, "{line} did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn shell(dir: &Path, script: &str, cgroup: CgroupRequest) -> WorkloadSpec {
    WorkloadSpec::Process(ProcessSpec {
        command: "sh".into(),
        arguments: vec!["-c".into(), script.into()],
        environment: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
        working_directory: dir.to_owned(),
        user: None,
        log_directory: dir.join("logs"),
        systemd_scope: None,
        lifeline_fd: None,
        cgroup: Some(cgroup),
    })
}

fn waiter(running: &Running) -> tokio::task::JoinHandle<Exit> {
    let running = running.clone();
    tokio::spawn(async move { ProcessDelegate.wait(&running).await })
}

#[tokio::test]
async fn a_double_forking_daemon_is_ended_by_stop() {
    if !cgroups_usable("a_double_forking_daemon_is_ended_by_stop") {
        return;
    }
    let cleanup = Cleanup::new("daemon");
    let dir = tempfile::tempdir().unwrap();
    let (daemon, main) = (unique_seconds(1), unique_seconds(2));
    let script = format!("setsid sh -c 'sleep {daemon} &'; exec sleep {main}");
    let running = ProcessDelegate
        .start(&shell(dir.path(), &script, cleanup.request(500, 64 << 20)))
        .await
        .unwrap();
    assert_eq!(running.cgroup.as_deref(), Some(cleanup.name.as_str()));
    let waiting = waiter(&running);
    let daemon_pid = appeared(&format!("sleep {daemon}")).await;
    let main_pid = appeared(&format!("sleep {main}")).await;
    assert_eq!(running.pid, Some(main_pid));
    assert_ne!(
        crate::proc_stat::session(daemon_pid),
        Some(main_pid),
        "the daemon left the instance's session"
    );
    let members = ProcessDelegate::members(&running);
    assert!(
        members.contains(&daemon_pid) && members.contains(&main_pid),
        "{members:?}"
    );
    for dir in dirs_of(&cleanup.name) {
        assert!(dir.is_dir(), "{} is missing", dir.display());
    }

    ProcessDelegate
        .stop(&running, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().signal, Some(15));
    assert!(pids_running(&format!("sleep {daemon}")).is_empty());
    assert!(pids_running(&format!("sleep {main}")).is_empty());
    assert_removed_everywhere(&cleanup.name);
}

#[tokio::test]
async fn a_daemon_left_by_a_main_process_that_exited_is_ended_by_stop() {
    if !cgroups_usable("a_daemon_left_by_a_main_process_that_exited_is_ended_by_stop") {
        return;
    }
    let cleanup = Cleanup::new("leftover");
    let dir = tempfile::tempdir().unwrap();
    let daemon = unique_seconds(3);
    let script = format!("setsid sh -c 'sleep {daemon} &'");
    let running = ProcessDelegate
        .start(&shell(dir.path(), &script, cleanup.request(500, 64 << 20)))
        .await
        .unwrap();
    let exit = ProcessDelegate.wait(&running).await;
    assert_eq!(exit.code, Some(0));
    let daemon_pid = appeared(&format!("sleep {daemon}")).await;
    assert!(!ProcessDelegate.is_alive(&running).await);
    assert_eq!(ProcessDelegate::members(&running), [daemon_pid]);

    ProcessDelegate
        .stop(&running, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(pids_running(&format!("sleep {daemon}")).is_empty());
    assert_removed_everywhere(&cleanup.name);
}

#[tokio::test]
async fn a_cgroup_is_ended_by_name_alone() {
    if !cgroups_usable("a_cgroup_is_ended_by_name_alone") {
        return;
    }
    let cleanup = Cleanup::new("byname");
    let dir = tempfile::tempdir().unwrap();
    let (daemon, main) = (unique_seconds(4), unique_seconds(5));
    let script = format!("setsid sh -c 'sleep {daemon} &'; exec sleep {main}");
    let running = ProcessDelegate
        .start(&shell(dir.path(), &script, cleanup.request(0, 0)))
        .await
        .unwrap();
    let waiting = waiter(&running);
    let daemon_pid = appeared(&format!("sleep {daemon}")).await;
    // What a restarted agent knows of an instance whose start was cut short: the name.
    let recorded = Running {
        cgroup: Some(cleanup.name.clone()),
        ..Default::default()
    };
    let members = ProcessDelegate::members(&recorded);
    assert!(
        members.contains(&daemon_pid) && members.contains(&running.pid.unwrap()),
        "{members:?}"
    );
    assert!(
        ProcessDelegate::end_cgroup(&cleanup.name, Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_eq!(waiting.await.unwrap().signal, Some(15));
    assert!(pids_running(&format!("sleep {daemon}")).is_empty());
    assert_removed_everywhere(&cleanup.name);
    assert!(
        !ProcessDelegate::end_cgroup(&cleanup.name, Duration::from_secs(5))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn stop_kills_the_cgroup_after_grace() {
    if !cgroups_usable("stop_kills_the_cgroup_after_grace") {
        return;
    }
    let cleanup = Cleanup::new("grace");
    let dir = tempfile::tempdir().unwrap();
    let daemon = unique_seconds(6);
    let script = format!(
        "trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep {daemon}' & while :; do sleep 0.05; done"
    );
    let running = ProcessDelegate
        .start(&shell(dir.path(), &script, cleanup.request(0, 0)))
        .await
        .unwrap();
    let waiting = waiter(&running);
    appeared(&format!("sleep {daemon}")).await;
    let started = Instant::now();
    ProcessDelegate
        .stop(&running, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(waiting.await.unwrap().signal, Some(9));
    assert!(pids_running(&format!("sleep {daemon}")).is_empty());
    assert_removed_everywhere(&cleanup.name);
}

#[tokio::test]
async fn the_memory_limit_is_enforced() {
    if !cgroups_usable("the_memory_limit_is_enforced") {
        return;
    }
    if hierarchies().unwrap().memory.is_none() {
        eprintln!("the_memory_limit_is_enforced: skipped: no memory controller here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |tag: &'static str, mebibytes: u64| {
        let dir = dir.path().to_owned();
        async move {
            let cleanup = Cleanup::new(tag);
            let script = format!("exec python3 -c \"b = b'x' * ({mebibytes} << 20)\"");
            let running = ProcessDelegate
                .start(&shell(&dir, &script, cleanup.request(0, 64 << 20)))
                .await
                .unwrap();
            let exit = ProcessDelegate.wait(&running).await;
            ProcessDelegate
                .stop(&running, Duration::from_secs(5))
                .await
                .unwrap();
            assert_removed_everywhere(&cleanup.name);
            exit
        }
    };
    let big = run("big", 512).await;
    assert_eq!(big.signal, Some(9), "512 MiB in a 64 MiB cgroup: {big}");
    let small = run("small", 8).await;
    assert_eq!(small.code, Some(0), "8 MiB in a 64 MiB cgroup: {small}");
}

#[tokio::test]
async fn a_cgroup_with_processes_is_not_taken_over() {
    if !cgroups_usable("a_cgroup_with_processes_is_not_taken_over") {
        return;
    }
    let cleanup = Cleanup::new("taken");
    let dir = tempfile::tempdir().unwrap();
    let main = unique_seconds(7);
    let running = ProcessDelegate
        .start(&shell(
            dir.path(),
            &format!("exec sleep {main}"),
            cleanup.request(0, 0),
        ))
        .await
        .unwrap();
    let err = InstanceCgroup::create(&cleanup.request(0, 0)).unwrap_err();
    assert!(err.to_string().contains("already has processes"), "{err}");
    assert!(ProcessDelegate.is_alive(&running).await);
    let waiting = waiter(&running);
    ProcessDelegate
        .stop(&running, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().signal, Some(15));
    assert_removed_everywhere(&cleanup.name);
}

#[tokio::test]
async fn start_fails_when_its_cgroup_cannot_be_made() {
    if !cgroups_usable("start_fails_when_its_cgroup_cannot_be_made") {
        return;
    }
    // `cgroup.procs` is a file of the parent cgroup: no directory can take its name.
    let cleanup = Cleanup {
        name: format!("test-{}-unmakeable/cgroup.procs", std::process::id()),
    };
    let dir = tempfile::tempdir().unwrap();
    let main = unique_seconds(8);
    let err = ProcessDelegate
        .start(&shell(
            dir.path(),
            &format!("exec sleep {main}"),
            cleanup.request(0, 0),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("create cgroup directory") && err.contains("cgroup.procs"),
        "{err}"
    );
    assert!(pids_running(&format!("sleep {main}")).is_empty());
    assert_removed_everywhere(&cleanup.name);
}

#[tokio::test]
async fn a_process_of_another_user_joins_its_cgroup() {
    if !cgroups_usable("a_process_of_another_user_joins_its_cgroup") {
        return;
    }
    if crate::user::lookup_user("nobody").is_err() {
        eprintln!("a_process_of_another_user_joins_its_cgroup: skipped: no user nobody");
        return;
    }
    let cleanup = Cleanup::new("nobody");
    let logs = tempfile::tempdir().unwrap();
    let main = unique_seconds(9);
    let mut spec = shell(
        Path::new("/"),
        &format!("exec sleep {main}"),
        cleanup.request(0, 0),
    );
    if let WorkloadSpec::Process(process) = &mut spec {
        process.user = Some("nobody".into());
        process.log_directory = logs.path().to_owned();
    }
    // The child joins its cgroup as root, then becomes nobody (raw setuid: see launch.rs).
    let running = ProcessDelegate.start(&spec).await.unwrap();
    assert_eq!(ProcessDelegate::members(&running), [running.pid.unwrap()]);
    let nobody = crate::user::lookup_user("nobody").unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.pid.unwrap())).unwrap();
    let ids = |key: &str| -> Vec<u32> {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect()
    };
    assert_eq!(ids("Uid:"), [nobody.uid; 4], "{status}");
    assert_eq!(ids("Gid:"), [nobody.gid; 4], "{status}");
    assert_eq!(
        ids("Groups:"),
        Vec::<u32>::new(),
        "supplementary groups were kept"
    );
    let waiting = waiter(&running);
    ProcessDelegate
        .stop(&running, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().signal, Some(15));
    assert_removed_everywhere(&cleanup.name);
}
