//! Instance cgroups: the parsers without IO, then real cgroups (as root); the process
//! delegate with them in `process`. The tests with real cgroups clean up after themselves
//! through [`Cleanup`], failing or not.

use super::*;
use std::os::unix::process::CommandExt;
use std::time::Instant;

mod process;

// ---- Parsing ----

#[test]
fn parses_mountinfo_lines_with_optional_fields_and_escapes() {
    let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 /sandbox /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - ext4 /dev/sda1 rw
garbage";
    let mounts = parse_mountinfo(text);
    assert_eq!(mounts.len(), 4);
    assert_eq!(
        mounts[1],
        Mount {
            root: "/".into(),
            mount_point: "/sys/fs/cgroup/cpu".into(),
            fs_type: "cgroup".into(),
            super_options: "rw,cpu,cpuacct".into(),
        }
    );
    assert!(has_option(&mounts[1].super_options, "cpu"));
    assert!(!has_option(&mounts[1].super_options, "cpuset"));
    assert_eq!(mounts[2].root, "/sandbox");
    assert_eq!(mounts[2].fs_type, "cgroup2");
    assert_eq!(mounts[3].mount_point, PathBuf::from("/mnt/with space"));
}

#[test]
fn parses_proc_self_cgroup() {
    let text = "9:name=systemd:/\n4:memory:/process_api/f4ff\n1:cpu,cpuacct:/\n0::/agent.service\n";
    let memberships = parse_proc_cgroup(text);
    assert_eq!(memberships.len(), 4);
    assert_eq!(memberships[1].controllers, ["memory"]);
    assert_eq!(memberships[1].path, "/process_api/f4ff");
    assert_eq!(memberships[2].controllers, ["cpu", "cpuacct"]);
    assert_eq!(memberships[3].hierarchy_id, 0);
    assert!(memberships[3].controllers.is_empty());
    assert_eq!(memberships[3].path, "/agent.service");
}

#[test]
fn the_agent_cgroup_is_taken_relative_to_the_mount_root() {
    assert_eq!(relative_to_root("/a/b", "/"), Some(PathBuf::from("a/b")));
    assert_eq!(relative_to_root("/a/b", "/a"), Some(PathBuf::from("b")));
    assert_eq!(relative_to_root("/", "/"), Some(PathBuf::new()));
    assert_eq!(relative_to_root("/ab", "/a"), None);
    assert_eq!(relative_to_root("/x", "/a"), None);
}

#[test]
fn names_must_be_relative_paths_of_plain_components() {
    assert_eq!(
        name_components("ns/svc/node/0").unwrap(),
        ["ns", "svc", "node", "0"]
    );
    for bad in [
        "", "/ns/svc", "ns//svc", "ns/svc/", "ns/../x", "..", "./x", ".probe-1", "a\0b",
    ] {
        let err = name_components(bad).unwrap_err().to_string();
        assert!(err.contains("invalid cgroup name"), "{bad:?}: {err}");
    }
}

#[test]
fn cpu_millis_become_a_quota_per_100ms() {
    assert_eq!(cpu_quota_us(1000), 100_000);
    assert_eq!(cpu_quota_us(250), 25_000);
    assert_eq!(cpu_quota_us(2500), 250_000);
    // The kernel's smallest quota is 1 ms.
    assert_eq!(cpu_quota_us(1), 1_000);
}

#[test]
fn parses_events_and_procs() {
    assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
    assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
    assert_eq!(parse_populated("frozen 0\n"), None);
    assert_eq!(parse_pids("12\n345\n\n"), [12, 345]);
}

// ---- Real cgroups ----

/// True when cgroup tests can run here. As root on a host with a cgroup2 mount they must:
/// then detection has to succeed.
fn cgroups_usable(test: &str) -> bool {
    let Err(reason) = availability() else {
        return true;
    };
    let root = rustix::process::geteuid().is_root();
    let cgroup2 = UNIFIED_MOUNT_CANDIDATES
        .iter()
        .any(|path| is_cgroup2(Path::new(path)));
    assert!(
        !(root && cgroup2),
        "running as root with cgroup2 mounted, instance cgroups must be usable: {reason}"
    );
    eprintln!("{test}: skipped: instance cgroups are not usable here: {reason}");
    false
}

/// Ends whatever runs in the cgroup and removes it (with its test-only parents) when the
/// test ends, passed or failed.
struct Cleanup {
    name: String,
}

impl Cleanup {
    /// A name no other test (or test process) uses: `test-<pid>-<tag>/svc/node/0`.
    fn new(tag: &str) -> Self {
        Cleanup {
            name: format!("test-{}-{tag}/svc/node/0", std::process::id()),
        }
    }

    fn request(&self, cpu_millis: u64, memory_bytes: u64) -> CgroupRequest {
        CgroupRequest {
            name: self.name.clone(),
            cpu_millis,
            memory_bytes,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(Some(cgroup)) = InstanceCgroup::open(&self.name) else {
            return;
        };
        let _ = cgroup.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while cgroup.is_populated().unwrap_or(false) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Err(e) = cgroup.remove() {
            eprintln!("cleanup of cgroup {}: {e}", self.name);
        }
    }
}

/// Every directory the cgroup of `name` may have, in every hierarchy.
fn dirs_of(name: &str) -> Vec<PathBuf> {
    let h = hierarchies().unwrap();
    std::iter::once(h.unified.as_path())
        .chain(h.v1_bases())
        .map(|base| base.join(name))
        .collect()
}

fn assert_removed_everywhere(name: &str) {
    for dir in dirs_of(name) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    // The test's own parents go too.
    let top = name.split('/').next().unwrap();
    for dir in dirs_of(top) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test]
async fn the_limits_land_in_the_controller_files() {
    if !cgroups_usable("the_limits_land_in_the_controller_files") {
        return;
    }
    let cleanup = Cleanup::new("limits");
    let cgroup = InstanceCgroup::create(&cleanup.request(250, 64 << 20)).unwrap();
    let h = hierarchies().unwrap();
    let read = |home: &LimitHome, file: &str| {
        std::fs::read_to_string(cgroup.limit_dir(home).join(file))
            .unwrap()
            .trim()
            .to_owned()
    };
    match &h.cpu {
        Some(home @ LimitHome::Unified) => assert_eq!(read(home, "cpu.max"), "25000 100000"),
        Some(home @ LimitHome::V1(_)) => {
            assert_eq!(read(home, "cpu.cfs_quota_us"), "25000");
            assert_eq!(read(home, "cpu.cfs_period_us"), "100000");
        }
        None => eprintln!("no cpu controller here: cpu limits not checked"),
    }
    match &h.memory {
        Some(home @ LimitHome::Unified) => assert_eq!(read(home, "memory.max"), "67108864"),
        Some(home @ LimitHome::V1(_)) => {
            assert_eq!(read(home, "memory.limit_in_bytes"), "67108864")
        }
        None => eprintln!("no memory controller here: memory limits not checked"),
    }
    // Made again without limits, it keeps none (a v1 directory would have kept them).
    cgroup.remove().unwrap();
    let unlimited = InstanceCgroup::create(&cleanup.request(0, 0)).unwrap();
    assert_eq!(unlimited.dirs, [unlimited.unified_dir()]);
    unlimited.remove().unwrap();
    assert_removed_everywhere(&cleanup.name);
}

/// Launches `sleep 30` in the cgroup of `cleanup` (with limits, so that on a hybrid host it
/// has v1 directories too) and checks that it is in every directory of it.
fn launch_into_cgroup(cleanup: &Cleanup) -> crate::launch::Spawned {
    let cgroup = InstanceCgroup::create(&cleanup.request(250, 64 << 20)).unwrap();
    let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
    let spawned = crate::launch::Launch::new(
        Path::new("/bin/sleep"),
        &["30"],
        [] as [(&str, &str); 0],
        Path::new("/"),
        null(),
        null(),
        null(),
    )
    .unwrap()
    .in_cgroup(Some(cgroup.joiner().unwrap().into_parts()))
    .spawn()
    .unwrap();
    for dir in &cgroup.dirs {
        let members = parse_pids(&std::fs::read_to_string(dir.join("cgroup.procs")).unwrap());
        assert_eq!(members, [spawned.pid], "{}", dir.display());
    }
    cgroup.kill().unwrap();
    let mut status = 0;
    unsafe { libc::waitpid(spawned.pid as i32, &mut status, 0) };
    spawned
}

#[test]
fn a_launched_process_is_born_in_its_v2_cgroup_and_joins_the_v1_ones() {
    if !cgroups_usable("a_launched_process_is_born_in_its_v2_cgroup_and_joins_the_v1_ones") {
        return;
    }
    let spawned = launch_into_cgroup(&Cleanup::new("born"));
    // Linux 5.7 and later on x86_64: created there, not migrated (no RCU grace period).
    assert_eq!(spawned.born_in_cgroup, cfg!(target_arch = "x86_64"));
}

#[test]
fn where_clone3_is_refused_the_process_writes_itself_into_every_cgroup() {
    if !cgroups_usable("where_clone3_is_refused_the_process_writes_itself_into_every_cgroup") {
        return;
    }
    crate::launch::refuse_clone3();
    let spawned = launch_into_cgroup(&Cleanup::new("moved"));
    assert!(!spawned.born_in_cgroup);
}

#[tokio::test]
async fn wait_empty_returns_when_the_last_member_exits() {
    if !cgroups_usable("wait_empty_returns_when_the_last_member_exits") {
        return;
    }
    let cleanup = Cleanup::new("empty");
    let cgroup = InstanceCgroup::create(&cleanup.request(0, 0)).unwrap();
    assert!(cgroup.wait_empty(Duration::from_secs(1)).await.unwrap());
    let joiner = cgroup.joiner().unwrap();
    let mut sleeper = std::process::Command::new("sleep");
    sleeper.arg("0.5");
    unsafe {
        sleeper.pre_exec(move || joiner.join());
    }
    let child = sleeper.spawn().unwrap();
    assert_eq!(cgroup.members(), [child.id()]);
    assert!(cgroup.is_populated().unwrap());
    // A member still running: the wait times out.
    assert!(!cgroup.wait_empty(Duration::from_millis(50)).await.unwrap());
    // Note when the member ended, from a thread that reaps it.
    let exited = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait().unwrap();
        Instant::now()
    });
    assert!(cgroup.wait_empty(Duration::from_secs(10)).await.unwrap());
    let returned = Instant::now();
    let exited = exited.await.unwrap();
    let late = returned.saturating_duration_since(exited);
    assert!(
        late < Duration::from_millis(500),
        "wait_empty returned {late:?} after the last member exited"
    );
    cgroup.remove().unwrap();
    assert_removed_everywhere(&cleanup.name);
}
