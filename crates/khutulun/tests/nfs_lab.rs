//! The NFS lab (common/uml.rs) itself: Linux's NFS server and clients in User-Mode Linux
//! guests behave as the agents' shared state directory needs them to. A file written by one
//! client is read by the others; a flock held on one client excludes the others; a lock dies
//! with its process at once, and with its host (crash or partition) when the server's lease
//! expires; NFSv3 mounts too; a client's NFS operation counters can be read. These are the
//! facts later tests build on (and the times they may expect), measured and printed here.
//!
//! Skipped, with the reason, where the lab cannot run (not root, no /dev/net/tun, no
//! `scripts/setup` packages).

mod common;

use common::eventually;
use common::uml::{script, uml_unavailable_reason, LabConfig, UmlLab, MOUNT_POINT, SERVER};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The server's NFSv4 lease (nfsd's minimum).
const LEASE: u64 = 10;

fn lab_or_skip(config: LabConfig) -> Option<UmlLab> {
    if let Some(reason) = uml_unavailable_reason() {
        eprintln!("skipping: {reason}");
        return None;
    }
    Some(UmlLab::new(config))
}

/// Whether `guest` gets the flock on `file` right now, without waiting (`flock -n`).
fn can_lock(lab: &UmlLab, guest: usize, file: &str) -> bool {
    let out = lab.exec(guest, &format!("flock -n -E 75 {file} -c true"));
    match out.status.code() {
        Some(0) => true,
        Some(75) => false,
        _ => panic!(
            "flock on {} failed ({}): {}",
            lab.name(guest),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Starts a process in `guest` that takes the flock on `file` and holds it (flock itself
/// holds it; `-o` keeps it from its child `sleep TAG`); returns once the lock is held, with
/// the holder's pid. TAG tells holders apart.
fn hold_lock(lab: &UmlLab, guest: usize, file: &str, tag: u32) -> u32 {
    let holder = lab.spawn(guest, &format!("exec flock -o {file} sleep {tag}"));
    // flock starts its command once it has the lock.
    let held = eventually(Duration::from_secs(30), || {
        (!lab
            .pids_matching(guest, &format!("^sleep {tag}$"))
            .is_empty())
        .then_some(())
    });
    assert!(
        held.is_some(),
        "{} did not get the lock on {file} (holder running: {})",
        lab.name(guest),
        lab.spawned_running(guest, holder)
    );
    holder
}

/// Polls `can_lock` until it succeeds; the time it took from `since`.
fn wait_for_lock(
    lab: &UmlLab,
    guest: usize,
    file: &str,
    since: Instant,
    timeout: Duration,
) -> Option<Duration> {
    eventually(timeout, || {
        can_lock(lab, guest, file).then(|| since.elapsed())
    })
}

/// Per-operation counts (the first number of each op line) of the NFS mount on `mountpoint`
/// in a /proc/self/mountstats text.
fn nfs_op_counts(mountstats: &str, mountpoint: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut in_mount = false;
    let mut in_ops = false;
    for line in mountstats.lines() {
        if line.starts_with("device ") {
            in_mount = line.contains(&format!(" mounted on {mountpoint} with fstype nfs"));
            in_ops = false;
        } else if in_mount && line.trim() == "per-op statistics" {
            in_ops = true;
        } else if in_mount && in_ops {
            if let Some((op, numbers)) = line.trim().split_once(':') {
                if let Some(Ok(n)) = numbers.split_whitespace().next().map(str::parse::<u64>) {
                    counts.insert(op.to_owned(), n);
                }
            }
        }
    }
    counts
}

#[test]
fn nfs_locks_are_shared_and_expire() {
    let Some(lab) = lab_or_skip(LabConfig {
        clients: 3,
        server_lease_secs: LEASE as u32,
        mount_options: "vers=4.2,lookupcache=positive".into(),
        ..LabConfig::default()
    }) else {
        return;
    };
    let data = format!("{MOUNT_POINT}/shared.txt");
    let lock = format!("{MOUNT_POINT}/lock");

    for c in lab.clients() {
        let mount = lab.ok(c, &format!("grep ' {MOUNT_POINT} ' /proc/mounts"));
        assert!(
            mount.contains(" nfs4 ") && mount.contains("vers=4.2"),
            "{} mounted {mount}",
            lab.name(c)
        );
    }

    // A file written on one client is read on the others (close-to-open consistency).
    lab.ok(1, &format!("echo written-by-c1 > {data}"));
    for c in [2, 3] {
        assert_eq!(lab.ok(c, &format!("cat {data}")), "written-by-c1\n");
    }
    lab.ok(3, &format!("echo appended-by-c3 >> {data}"));
    assert_eq!(
        lab.ok(1, &format!("cat {data}")),
        "written-by-c1\nappended-by-c3\n"
    );
    // It is on the server's disk.
    assert_eq!(
        lab.ok(SERVER, "cat /srv/disk/export/shared.txt"),
        "written-by-c1\nappended-by-c3\n"
    );

    // A flock held on c1 excludes the other clients (and other processes on c1).
    let holder = hold_lock(&lab, 1, &lock, 1001);
    for c in [1, 2, 3] {
        assert!(
            !can_lock(&lab, c, &lock),
            "{} got the lock c1 holds",
            lab.name(c)
        );
    }

    // SIGKILL of the holder frees the lock at once: its host's kernel unlocks on close.
    lab.ok(1, &format!("kill -9 {holder}"));
    let killed = Instant::now();
    let freed = wait_for_lock(&lab, 2, &lock, killed, Duration::from_secs(5))
        .expect("c2 cannot take the lock after its holder on c1 was killed");
    eprintln!(
        "SIGKILL of the holder on c1: c2 took the lock {:.2} s later",
        freed.as_secs_f64()
    );
    assert!(freed < Duration::from_secs(3), "took {freed:?}");

    // A crashed client's lock stays until the server's lease on it expires.
    hold_lock(&lab, 2, &lock, 1002);
    assert!(!can_lock(&lab, 3, &lock));
    lab.crash(2);
    let crashed = Instant::now();
    assert!(!lab.is_up(2));
    assert!(
        !can_lock(&lab, 3, &lock),
        "c3 took the lock of crashed c2 at once: the server must keep it for the lease"
    );
    let expired = wait_for_lock(&lab, 3, &lock, crashed, Duration::from_secs(3 * LEASE + 30))
        .expect("the lock of crashed c2 never expired");
    eprintln!(
        "c2 crashed holding the lock: c3 took it {:.1} s later (server lease {LEASE} s)",
        expired.as_secs_f64()
    );
    assert!(
        expired <= Duration::from_secs(LEASE + 10),
        "the lock of crashed c2 expired after {expired:?}, lease {LEASE} s"
    );

    // The crashed client boots again, mounts, and sees the shared file.
    lab.reboot(2);
    assert_eq!(
        lab.ok(2, &format!("cat {data}")),
        "written-by-c1\nappended-by-c3\n"
    );
    assert!(can_lock(&lab, 2, &lock));

    // A partitioned client's lock expires with its lease too; healed, its kernel finds the
    // lock lost (another client holds it now).
    hold_lock(&lab, 1, &lock, 1003);
    // And what c1 writes while cut off, after c3 fenced it: through the descriptor that
    // holds the lock (how the agent writes its lease) or by path (temporary file, rename).
    let fenced = format!("{MOUNT_POINT}/lease");
    let by_path = format!("{MOUNT_POINT}/by-path");
    lab.ok(1, &format!("echo first > {by_path}"));
    let writer_log = "/tmp/lab/lock-writer.log";
    let writer = lab.spawn_logged(
        1,
        &format!("exec {} {fenced} {by_path}", script("lock-writer.py")),
        writer_log,
    );
    let writer_says = |what: &str| {
        eventually(Duration::from_secs(60), || {
            let log = lab.ok(1, &format!("cat {writer_log}"));
            log.contains(what).then_some(log)
        })
    };
    writer_says("held").expect("lock-writer on c1 never held its lock");
    lab.partition(1);
    let cut = Instant::now();
    assert!(!can_lock(&lab, 3, &lock));
    let expired = wait_for_lock(&lab, 3, &lock, cut, Duration::from_secs(3 * LEASE + 30))
        .expect("the lock of partitioned c1 never expired");
    eprintln!(
        "c1 partitioned holding the lock: c3 took it {:.1} s later",
        expired.as_secs_f64()
    );
    assert!(expired <= Duration::from_secs(LEASE + 10), "{expired:?}");
    // While cut off, c1's NFS operations hang (hard mount).
    let hung = lab.exec_timeout(1, &format!("stat {lock}"), Duration::from_secs(2));
    eprintln!(
        "c1 partitioned: `stat {lock}` {}",
        if hung.status.success() {
            "answered (from its attribute cache)"
        } else {
            "hangs"
        }
    );
    wait_for_lock(&lab, 3, &fenced, cut, Duration::from_secs(30))
        .expect("c3 cannot take the lock c1's writer held");
    lab.ok(
        3,
        &format!("flock {fenced} -c 'echo fenced-by-c3 > {fenced}; echo fenced-by-c3 > {by_path}'"),
    );
    lab.ok(1, &format!("kill -USR1 {writer}"));
    hold_lock(&lab, 3, &lock, 1004);
    lab.heal(1);
    let healed = Instant::now();
    let back = eventually(Duration::from_secs(60), || {
        lab.exec_timeout(
            1,
            &format!("echo c1-is-back >> {MOUNT_POINT}/healed"),
            Duration::from_secs(3),
        )
        .status
        .success()
        .then(|| healed.elapsed())
    })
    .expect("c1 cannot write to the export after the partition healed");
    let lost = eventually(Duration::from_secs(30), || {
        let lines = lab.console_lines(1, "lost");
        (!lines.is_empty()).then(|| (healed.elapsed(), lines.join("; ")))
    });
    eprintln!(
        "c1 healed: writes again after {:.1} s; its kernel: {}",
        back.as_secs_f64(),
        lost.as_ref()
            .map(|(t, l)| format!("{l:?} after {:.1} s", t.as_secs_f64()))
            .unwrap_or_else(|| "no \"lost\" message".into())
    );
    assert!(!can_lock(&lab, 1, &lock), "c1 got the lock c3 holds");
    // The writes c1 started while cut off: the one by path lands over c3's (which is why
    // the agent's lease is not written that way), the one through the lost lock is refused.
    let said = writer_says("locked:").expect("lock-writer on c1 never finished its writes");
    eprintln!(
        "c1's writes from while it was cut off: {}",
        said.trim().replace('\n', "; ")
    );
    assert!(said.contains("by-path: landed"), "{said}");
    assert_eq!(lab.ok(3, &format!("cat {by_path}")), "stale\n");
    assert!(said.contains("locked: refused errno 5 "), "{said}");
    assert_eq!(lab.ok(3, &format!("cat {fenced}")), "fenced-by-c3\n");

    // NFSv3 mounts too (a later test checks that the agent refuses it).
    lab.mount(3, "vers=3", "/mnt/v3");
    let mount = lab.ok(3, "grep ' /mnt/v3 ' /proc/mounts");
    assert!(
        mount.contains(" nfs ") && mount.contains("vers=3"),
        "{mount}"
    );
    assert_eq!(
        lab.ok(3, "cat /mnt/v3/shared.txt"),
        "written-by-c1\nappended-by-c3\n"
    );

    // A client's NFS operation counters can be read (benchmarks count operations).
    let counts = nfs_op_counts(&lab.ok(1, "cat /proc/self/mountstats"), MOUNT_POINT);
    let used: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    eprintln!(
        "c1's NFS operations on {MOUNT_POINT} (/proc/self/mountstats): {}",
        used.join(", ")
    );
    for op in ["OPEN", "LOCK", "LOCKU", "WRITE"] {
        assert!(
            counts.get(op).copied().unwrap_or(0) > 0,
            "no {op} counted: {counts:?}"
        );
    }
    eprintln!("c1's nfsstat -c:\n{}", lab.ok(1, "nfsstat -c -4"));
}

/// What later tests do: an agent in a client guest, its state directory on NFS, its API
/// reached from the test process.
#[test]
fn an_agent_in_a_client_guest_serves_the_test_process() {
    let Some(lab) = lab_or_skip(LabConfig {
        clients: 1,
        ..LabConfig::default()
    }) else {
        return;
    };
    let started = Instant::now();
    let pid = lab.spawn_agent(1, &[]);
    eprintln!(
        "agent in c1 (pid {pid}) healthy after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lab.pids_matching(1, "khutulun agent"), vec![pid]);
    let out = lab.cli(1, &["hosts", "-o", "json"]);
    assert!(
        out.status.success(),
        "khutulun hosts: {}\nagent log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.agent_log(1)
    );
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        hosts
            .as_array()
            .is_some_and(|hosts| hosts.iter().any(|h| h["name"] == "c1")),
        "{hosts}"
    );
    // The agent's state is on the server's disk.
    assert!(lab
        .ok(SERVER, "ls /srv/disk/export/hosts")
        .lines()
        .any(|h| h == "c1"));
}
