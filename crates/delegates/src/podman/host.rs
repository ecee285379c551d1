//! What this host needs from podman: the global flags (runtime, cgroup manager) and the
//! resource limits containers can be given. Detection reads the host; the decisions are
//! pure functions so they can be tested for hosts we do not run on.

use std::path::Path;

/// `CGROUP2_SUPER_MAGIC`: `statfs("/sys/fs/cgroup").f_type` on a v2-only (unified) host.
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// `CAP_SYS_RESOURCE`: lets a process raise hard resource limits.
const CAP_SYS_RESOURCE: u32 = 24;

/// podman lowers its own `RLIMIT_NPROC` to this before it starts the runtime, so a
/// container cannot be given a higher hard nproc limit without `CAP_SYS_RESOURCE`.
const PODMAN_NPROC_CEILING: u64 = 32768;

/// podman's own default for both limits (`RLimitDefaultValue`).
const PODMAN_DEFAULT_LIMIT: u64 = 1_048_576;

/// The facts about the host that podman's flags depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// `/sys/fs/cgroup` is a cgroup2 filesystem (not a tmpfs of v1 hierarchies).
    pub cgroup_v2_only: bool,
    /// systemd is PID 1 (`/run/systemd/system` exists).
    pub systemd_pid1: bool,
    /// The agent has `CAP_SYS_RESOURCE` in its effective set.
    pub sys_resource: bool,
    /// The agent's hard `RLIMIT_NOFILE` (`None`: unlimited).
    pub hard_nofile: Option<u64>,
    /// The agent's hard `RLIMIT_NPROC` (`None`: unlimited).
    pub hard_nproc: Option<u64>,
}

impl HostFacts {
    pub fn detect() -> HostFacts {
        let cgroup_v2_only = rustix::fs::statfs("/sys/fs/cgroup")
            .map(|s| s.f_type as u64 == CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        use rustix::process::{getrlimit, Resource};
        HostFacts {
            cgroup_v2_only,
            systemd_pid1: Path::new("/run/systemd/system").is_dir(),
            // Unreadable: assume the capability is missing and lower the limits, which
            // always works.
            sys_resource: has_capability(&status, CAP_SYS_RESOURCE).unwrap_or(false),
            hard_nofile: getrlimit(Resource::Nofile).maximum,
            hard_nproc: getrlimit(Resource::Nproc).maximum,
        }
    }

    /// True when podman must use runc and cgroupfs (see [`global_flags`]).
    pub fn needs_runc(&self) -> bool {
        !(self.cgroup_v2_only && self.systemd_pid1)
    }
}

/// The flags every podman call gets. podman's defaults (crun, the systemd cgroup manager)
/// only work on a v2-only host booted by systemd: crun refuses hybrid and v1 hierarchies,
/// and the systemd cgroup manager needs systemd as PID 1. Everywhere else podman is told to
/// use runc and manage cgroups itself.
pub fn global_flags(facts: &HostFacts) -> Vec<String> {
    if facts.needs_runc() {
        ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
            .map(String::from)
            .to_vec()
    } else {
        Vec::new()
    }
}

/// The `--ulimit` flags every container gets.
///
/// Without flags podman asks the runtime to give the container hard limits of 1048576
/// open files and processes. Setting a hard limit above the caller's own needs
/// `CAP_SYS_RESOURCE`; an agent without it (e.g. in an unprivileged or nested container)
/// gets "error setting rlimit type 7/6: operation not permitted" from runc for every
/// container. Lowering a limit always works, so without the capability each container gets
/// the agent's own hard limit for open files, and for processes the agent's hard limit but
/// at most 32768, because podman lowers its own `RLIMIT_NPROC` to that before it starts the
/// runtime. With the capability podman's defaults are kept.
pub fn ulimit_flags(facts: &HostFacts) -> Vec<String> {
    if facts.sys_resource {
        return Vec::new();
    }
    let nofile = facts
        .hard_nofile
        .unwrap_or(PODMAN_DEFAULT_LIMIT)
        .min(PODMAN_DEFAULT_LIMIT);
    let nproc = facts
        .hard_nproc
        .unwrap_or(PODMAN_NPROC_CEILING)
        .min(PODMAN_NPROC_CEILING);
    vec![
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        format!("nproc={nproc}:{nproc}"),
    ]
}

/// Whether `CapEff` in a `/proc/<pid>/status` text has capability `bit`.
pub fn has_capability(status: &str, bit: u32) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(mask & (1u64 << bit) != 0)
}

/// podman 4.3 has no `--ulimit` for `podman pod create`: the pod's infra container always
/// gets podman's default limits, which fail without `CAP_SYS_RESOURCE`. Its limits come
/// from `default_ulimits` in containers.conf, so pods are created with `CONTAINERS_CONF`
/// pointing at a copy of the administrator's configuration (`base`, if any) with the
/// container limits added to its `[containers]` table. `None`: no override is needed, or
/// the administrator set `default_ulimits` and that choice is kept.
pub fn infra_containers_conf(base: Option<&str>, ulimits: &[String]) -> Option<String> {
    let limits: Vec<&str> = ulimits
        .chunks(2)
        .filter(|pair| pair[0] == "--ulimit")
        .filter_map(|pair| pair.get(1).map(String::as_str))
        .collect();
    if limits.is_empty() {
        return None;
    }
    let setting = format!(
        "default_ulimits = [{}]",
        limits
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let base = base.unwrap_or("");
    let is_key = |line: &str, key: &str| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    if base.lines().any(|line| is_key(line, "default_ulimits")) {
        return None;
    }
    let is_containers_table = |line: &str| {
        let line = line.split('#').next().unwrap_or("").trim();
        line == "[containers]"
    };
    let mut out = String::new();
    let mut added = false;
    for line in base.lines() {
        out.push_str(line);
        out.push('\n');
        if !added && is_containers_table(line) {
            out.push_str(&setting);
            out.push('\n');
            added = true;
        }
    }
    if !added {
        out.push_str("\n[containers]\n");
        out.push_str(&setting);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(v2: bool, systemd: bool) -> HostFacts {
        HostFacts {
            cgroup_v2_only: v2,
            systemd_pid1: systemd,
            sys_resource: true,
            hard_nofile: None,
            hard_nproc: None,
        }
    }

    #[test]
    fn runc_and_cgroupfs_unless_v2_with_systemd() {
        assert!(global_flags(&facts(true, true)).is_empty());
        let runc = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
        assert_eq!(global_flags(&facts(false, true)), runc);
        assert_eq!(global_flags(&facts(true, false)), runc);
        assert_eq!(global_flags(&facts(false, false)), runc);
    }

    #[test]
    fn limits_are_lowered_only_without_sys_resource() {
        let mut f = facts(false, false);
        f.hard_nofile = Some(20000);
        f.hard_nproc = Some(96365);
        assert!(ulimit_flags(&f).is_empty());
        f.sys_resource = false;
        assert_eq!(
            ulimit_flags(&f),
            [
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768"
            ]
        );
        f.hard_nproc = Some(4096);
        f.hard_nofile = None;
        assert_eq!(
            ulimit_flags(&f),
            [
                "--ulimit",
                "nofile=1048576:1048576",
                "--ulimit",
                "nproc=4096:4096"
            ]
        );
    }

    #[test]
    fn reads_capabilities_from_proc_status() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        assert_eq!(has_capability(status, 24), Some(false));
        assert_eq!(has_capability(status, 23), Some(true));
        assert_eq!(
            has_capability("CapEff:\t000001ffffffffff\n", 24),
            Some(true)
        );
        assert_eq!(has_capability("Name:\tx\n", 24), None);
    }

    #[test]
    fn infra_limits_go_into_the_containers_table() {
        let limits = ulimit_flags(&HostFacts {
            sys_resource: false,
            hard_nofile: Some(20000),
            hard_nproc: Some(96365),
            ..facts(false, false)
        });
        let want = "default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]";
        assert_eq!(
            infra_containers_conf(None, &limits).unwrap(),
            format!("\n[containers]\n{want}\n")
        );
        let base = "[engine]\nruntime = \"runc\"\n[containers] # mine\nlog_driver = \"k8s-file\"\n";
        assert_eq!(
            infra_containers_conf(Some(base), &limits).unwrap(),
            format!("[engine]\nruntime = \"runc\"\n[containers] # mine\n{want}\nlog_driver = \"k8s-file\"\n")
        );
        // The administrator's own limits are kept; no flags, no override.
        assert_eq!(
            infra_containers_conf(Some("[containers]\ndefault_ulimits = []\n"), &limits),
            None
        );
        assert_eq!(infra_containers_conf(Some(base), &[]), None);
    }
}
