//! Per-instance cgroups. A bare-process instance and everything it starts (daemons that
//! left its session or double-forked included) live in a cgroup of their own, which carries
//! the instance's cpu and memory limits and which a stop empties completely.
//!
//! Membership, `cgroup.kill` and the "is it empty" events come from the cgroup v2
//! hierarchy. Limits go to the v2 controllers when the hierarchy has them; on a hybrid
//! layout (v2 without controllers beside v1 controller hierarchies) they go to the v1
//! `memory` and `cpu` hierarchies. In every hierarchy the instance cgroups sit below a
//! `khutulun` directory in the agent's own cgroup, so that a sandboxed agent stays in its
//! sandbox.

use crate::delegate::DelegateError;
use rustix::fs::inotify;
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

#[cfg(test)]
mod tests;

/// The directory below the agent's cgroup that holds the instance cgroups.
const BASE_DIR: &str = "khutulun";
/// `statfs` magic of a cgroup v2 filesystem.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// Where cgroup v2 is mounted: the whole of /sys/fs/cgroup (pure v2), or beside the v1
/// hierarchies (hybrid).
const UNIFIED_MOUNT_CANDIDATES: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
/// The cpu quota is given per period of 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel takes.
const MIN_CPU_QUOTA_US: u64 = 1_000;
/// The controllers instance limits use.
const LIMIT_CONTROLLERS: [&str; 2] = ["memory", "cpu"];

/// The cgroup an instance asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CgroupRequest {
    /// A relative path such as `ns/svc/node/0`: path-safe components, no `..`, no leading
    /// `/`, none empty.
    pub name: String,
    /// CPU time in thousandths of a core (0: no limit).
    pub cpu_millis: u64,
    /// Memory, swap included, in bytes (0: no limit).
    pub memory_bytes: u64,
}

/// Where a controller's limits are written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LimitHome {
    /// The controller is enabled below the v2 `khutulun` directory.
    Unified,
    /// A v1 hierarchy of the controller: its `khutulun` directory.
    V1(PathBuf),
}

/// The hierarchies instance cgroups are made in, found once per process.
#[derive(Debug)]
struct Hierarchies {
    /// `khutulun` in the agent's cgroup of the v2 hierarchy.
    unified: PathBuf,
    /// Controllers enabled for the subtree of `unified`.
    unified_controllers: Vec<&'static str>,
    memory: Option<LimitHome>,
    cpu: Option<LimitHome>,
}

impl Hierarchies {
    /// The `khutulun` directories of the v1 hierarchies that carry limits.
    fn v1_bases(&self) -> Vec<&Path> {
        let mut bases: Vec<&Path> = [&self.memory, &self.cpu]
            .into_iter()
            .filter_map(|home| match home {
                Some(LimitHome::V1(base)) => Some(base.as_path()),
                _ => None,
            })
            .collect();
        bases.dedup();
        bases
    }
}

static DETECTED: OnceLock<Result<Hierarchies, String>> = OnceLock::new();

fn hierarchies() -> Result<&'static Hierarchies, &'static str> {
    DETECTED
        .get_or_init(|| {
            let detected = detect();
            match &detected {
                Ok(found) => tracing::info!(
                    unified = %found.unified.display(),
                    memory = ?found.memory,
                    cpu = ?found.cpu,
                    "bare processes run in cgroups of their own"
                ),
                Err(reason) => tracing::warn!(
                    "instance cgroups are not available ({reason}); bare processes fall back to \
                     process groups: no cpu or memory limits, and a daemon that leaves its \
                     process group is not stopped with its instance"
                ),
            }
            detected
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Whether instance cgroups can be made on this host; the error says why not.
pub fn availability() -> Result<(), &'static str> {
    hierarchies().map(|_| ())
}

// ---- Detection ----

fn detect() -> Result<Hierarchies, String> {
    let mountinfo = read_text(Path::new("/proc/self/mountinfo"))?;
    let mounts = parse_mountinfo(&mountinfo);
    let memberships = parse_proc_cgroup(&read_text(Path::new("/proc/self/cgroup"))?);
    let mount = unified_mount().ok_or_else(|| {
        format!(
            "no cgroup v2 filesystem at {}",
            UNIFIED_MOUNT_CANDIDATES.join(" or ")
        )
    })?;
    let own = memberships
        .iter()
        .find(|m| m.hierarchy_id == 0)
        .map(|m| m.path.as_str());
    let agent_dir = agent_dir_in(&mounts, &mount, own);
    let (agent_dir, unified) = make_base(&mount, agent_dir, |dir| {
        let kill = dir.join("cgroup.kill");
        if kill.exists() {
            Ok(())
        } else {
            Err(format!(
                "{} is missing: the kernel is older than 5.14; a newer kernel is needed",
                kill.display()
            ))
        }
    })?;
    let unified_controllers = enable_unified_controllers(&agent_dir, &unified);
    let limit_home = |controller: &'static str, limit_file: &str| {
        if unified_controllers.contains(&controller) {
            return Some(LimitHome::Unified);
        }
        let home = v1_base(&mounts, &memberships, controller, limit_file).map(LimitHome::V1);
        if let Err(reason) = &home {
            tracing::warn!("{controller} limits of instances are not enforced: {reason}");
        }
        home.ok()
    };
    Ok(Hierarchies {
        memory: limit_home("memory", "memory.limit_in_bytes"),
        cpu: limit_home("cpu", "cpu.cfs_quota_us"),
        unified,
        unified_controllers,
    })
}

/// The first candidate that is a cgroup v2 filesystem.
fn unified_mount() -> Option<PathBuf> {
    UNIFIED_MOUNT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|path| is_cgroup2(path))
}

// f_type's type differs between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn is_cgroup2(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|fs| fs.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// The agent's own cgroup directory in the hierarchy mounted at `mount`: its path from
/// /proc/self/cgroup, taken relative to the mount's root. `None` (with the reason logged)
/// when that does not lead to an existing directory.
fn agent_dir_in(mounts: &[Mount], mount: &Path, own: Option<&str>) -> Option<PathBuf> {
    let root = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount)
        .map_or("/", |m| m.root.as_str());
    let Some(own) = own else {
        tracing::info!(
            "/proc/self/cgroup names no cgroup of the agent in {}; instance cgroups go to \
             its root",
            mount.display()
        );
        return None;
    };
    let Some(relative) = relative_to_root(own, root) else {
        tracing::info!(
            "the agent's cgroup {own} is outside what is mounted at {} ({root}); instance \
             cgroups go to the mount's root",
            mount.display()
        );
        return None;
    };
    let dir = mount.join(relative);
    if !dir.is_dir() {
        tracing::info!(
            "the agent's cgroup directory {} does not exist (another cgroup namespace?); \
             instance cgroups go to the root of {}",
            dir.display(),
            mount.display()
        );
        return None;
    }
    Some(dir)
}

/// Makes `khutulun` in the agent's directory of a hierarchy, else in the hierarchy's root,
/// and checks with `usable` a cgroup made in it. Returns (the directory it was made in,
/// the `khutulun` directory).
fn make_base(
    mount: &Path,
    agent_dir: Option<PathBuf>,
    usable: impl Fn(&Path) -> Result<(), String>,
) -> Result<(PathBuf, PathBuf), String> {
    let try_in = |dir: &Path| -> Result<PathBuf, String> {
        let base = dir.join(BASE_DIR);
        make_dir(&base).map_err(|e| cannot_create(&base, e))?;
        probe(&base, &usable)?;
        Ok(base)
    };
    if let Some(dir) = agent_dir.filter(|dir| dir != mount) {
        match try_in(&dir) {
            Ok(base) => return Ok((dir, base)),
            Err(reason) => tracing::info!(
                "instance cgroups cannot go below the agent's own cgroup ({reason}); trying \
                 the root of {}",
                mount.display()
            ),
        }
    }
    try_in(mount).map(|base| (mount.to_owned(), base))
}

/// Makes a cgroup in `base` (an existing `base` says nothing about whether this process
/// may make cgroups there), checks it with `usable` and removes it.
fn probe(base: &Path, usable: impl Fn(&Path) -> Result<(), String>) -> Result<(), String> {
    // A leading dot: no instance name starts with one.
    let probe = base.join(format!(".probe-{}", std::process::id()));
    make_dir(&probe).map_err(|e| cannot_create(&probe, e))?;
    let checked = usable(&probe);
    if let Err(e) = std::fs::remove_dir(&probe) {
        tracing::warn!("cannot remove the probe cgroup {}: {e}", probe.display());
    }
    checked
}

fn cannot_create(path: &Path, e: std::io::Error) -> String {
    format!(
        "cannot create {}: {e}; the agent needs write access to its cgroup (run it as root, or \
         delegate its cgroup to it)",
        path.display()
    )
}

fn make_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Enables the limit controllers the v2 hierarchy offers for the subtree of `base`: in the
/// agent's cgroup and in `base`. Returns those enabled; says once why one could not be.
fn enable_unified_controllers(agent_dir: &Path, base: &Path) -> Vec<&'static str> {
    let offered = std::fs::read_to_string(agent_dir.join("cgroup.controllers")).unwrap_or_default();
    LIMIT_CONTROLLERS
        .into_iter()
        .filter(|c| has_word(&offered, c))
        .filter(|c| {
            let enabled = enable_controller(agent_dir, c).and_then(|()| enable_controller(base, c));
            if let Err(e) = &enabled {
                tracing::warn!(
                    "cgroup v2: cannot enable the {c} controller for instance cgroups ({e}). \
                     cgroup v2 enables controllers only below cgroups without processes of \
                     their own (the \"no internal processes\" rule), and the agent's cgroup \
                     {} holds the agent; run the agent in a leaf of a delegated subtree \
                     (systemd: Delegate=yes) to have {c} limits. Instances run without {c} \
                     limits.",
                    agent_dir.display()
                );
            }
            enabled.is_ok()
        })
        .collect()
}

/// Writes `+controller` to `dir`'s `cgroup.subtree_control` unless it is there already.
fn enable_controller(dir: &Path, controller: &str) -> Result<(), DelegateError> {
    let control = dir.join("cgroup.subtree_control");
    let current = std::fs::read_to_string(&control).unwrap_or_default();
    if has_word(&current, controller) {
        return Ok(());
    }
    write_file(&control, &format!("+{controller}"))
}

/// The `khutulun` directory of the v1 hierarchy of `controller`, checked to have
/// `limit_file`.
fn v1_base(
    mounts: &[Mount],
    memberships: &[Membership],
    controller: &str,
    limit_file: &str,
) -> Result<PathBuf, String> {
    let mount = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup" && has_option(&m.super_options, controller))
        .ok_or_else(|| {
            format!(
                "cgroup v2 does not offer the {controller} controller for instance cgroups, \
                 and no cgroup v1 hierarchy has it"
            )
        })?;
    let mount_point = Path::new(&mount.mount_point);
    let own = memberships
        .iter()
        .find(|m| m.controllers.iter().any(|c| c == controller))
        .map(|m| m.path.as_str());
    let agent_dir = agent_dir_in(mounts, mount_point, own);
    let (_, base) = make_base(mount_point, agent_dir, |dir| {
        let file = dir.join(limit_file);
        if file.exists() {
            Ok(())
        } else {
            Err(format!("{} is missing", file.display()))
        }
    })?;
    Ok(base)
}

// ---- Parsing (no IO) ----

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of the filesystem that is mounted (a cgroup path for cgroupfs).
    root: String,
    mount_point: PathBuf,
    fs_type: String,
    super_options: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// `36 25 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory`:
/// optional fields end at `-`.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let root = unescape_octal(fields.nth(3)?);
    let mount_point = PathBuf::from(unescape_octal(fields.next()?));
    let mut after = after.split(' ');
    Some(Mount {
        root,
        mount_point,
        fs_type: after.next()?.to_owned(),
        super_options: after.nth(1).unwrap_or_default().to_owned(),
    })
}

/// mountinfo writes a space as `\040` (and tab, newline, backslash alike).
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match escape {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of /proc/self/cgroup: `4:memory:/some/path`, `0::/path` for v2.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    hierarchy_id: u32,
    controllers: Vec<String>,
    path: String,
}

fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_owned();
            Some(Membership {
                hierarchy_id,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path,
            })
        })
        .collect()
}

/// `own` (a cgroup path) relative to `root` (the cgroup path a mount shows), as a relative
/// path; `None` when `own` is not below `root`.
fn relative_to_root(own: &str, root: &str) -> Option<PathBuf> {
    let relative = Path::new(own).strip_prefix(root).ok()?;
    Some(relative.to_owned())
}

fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

fn has_option(options: &str, option: &str) -> bool {
    options.split(',').any(|o| o == option)
}

/// The components of an instance cgroup's name, checked.
pub fn name_components(name: &str) -> Result<Vec<&str>, DelegateError> {
    let invalid = |why: &str| {
        DelegateError::Invalid(format!(
            "invalid cgroup name {name:?}: {why}; use a relative path such as ns/svc/node/0"
        ))
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.starts_with('/') {
        return Err(invalid("it starts with /"));
    }
    if name.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let components: Vec<&str> = name.split('/').collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err(invalid("it has an empty component"));
    }
    // `.` and `..`, and the detection's probes (`.probe-<pid>`).
    if components.iter().any(|c| c.starts_with('.')) {
        return Err(invalid("a component starts with ."));
    }
    Ok(components)
}

/// The cpu quota per [`CPU_PERIOD_US`] for `cpu_millis` thousandths of a core.
pub fn cpu_quota_us(cpu_millis: u64) -> u64 {
    (cpu_millis.saturating_mul(CPU_PERIOD_US) / 1000).max(MIN_CPU_QUOTA_US)
}

/// The `populated` value of a `cgroup.events` file.
fn parse_populated(events: &str) -> Option<bool> {
    events.lines().find_map(|line| match line.split_once(' ')? {
        ("populated", value) => Some(value.trim() == "1"),
        _ => None,
    })
}

fn parse_pids(procs: &str) -> Vec<u32> {
    procs
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

// ---- Instance cgroups ----

/// The cgroup of one instance: a directory of that name in the v2 hierarchy (membership,
/// kill, events), and in the v1 hierarchies that carry its limits.
#[derive(Debug, Clone)]
pub struct InstanceCgroup {
    name: String,
    hierarchies: &'static Hierarchies,
    /// The directories its processes join, the v2 one first.
    dirs: Vec<PathBuf>,
}

impl InstanceCgroup {
    /// Makes the cgroup with its limits. An existing empty cgroup of that name is reused;
    /// one with processes is refused (an earlier instance still runs: end it first).
    pub fn create(request: &CgroupRequest) -> Result<Self, DelegateError> {
        let hierarchies = hierarchies().map_err(|reason| {
            DelegateError::Invalid(format!("instance cgroups are not available: {reason}"))
        })?;
        let components = name_components(&request.name)?;
        let mut cgroup = InstanceCgroup {
            name: request.name.clone(),
            hierarchies,
            dirs: Vec::new(),
        };
        if let Err(e) = cgroup.make(&components, request) {
            // Leave nothing half-made; what has processes stays (and is not ours).
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    fn make(&mut self, components: &[&str], request: &CgroupRequest) -> Result<(), DelegateError> {
        let h = self.hierarchies;
        let wants_memory = request.memory_bytes > 0;
        let wants_cpu = request.cpu_millis > 0;
        let controllers: Vec<&str> = h
            .unified_controllers
            .iter()
            .copied()
            .filter(|c| (*c == "memory" && wants_memory) || (*c == "cpu" && wants_cpu))
            .collect();
        let unified = make_path(&h.unified, components, &controllers)?;
        self.dirs.push(unified.clone());
        let members = self.members();
        if !members.is_empty() {
            return Err(DelegateError::Invalid(format!(
                "cgroup {} already has processes {members:?}: an earlier instance of {} still \
                 runs; end it first",
                unified.display(),
                self.name
            )));
        }
        for base in h.v1_bases() {
            let wanted = (wants_memory && h.memory == Some(LimitHome::V1(base.to_owned())))
                || (wants_cpu && h.cpu == Some(LimitHome::V1(base.to_owned())));
            if wanted {
                self.dirs.push(make_path(base, components, &[])?);
            } else {
                // A directory left by an earlier instance would still apply its limits.
                remove_path(base, components)?;
            }
        }
        if wants_memory {
            self.set_memory_limit(request.memory_bytes)?;
        }
        if wants_cpu {
            self.set_cpu_limit(request.cpu_millis)?;
        }
        Ok(())
    }

    /// The cgroup of that name as it exists (e.g. recorded before an agent restart);
    /// `None` when no hierarchy has it.
    pub fn open(name: &str) -> Result<Option<Self>, DelegateError> {
        let hierarchies = hierarchies().map_err(|reason| {
            DelegateError::Invalid(format!("instance cgroups are not available: {reason}"))
        })?;
        name_components(name)?;
        let dirs: Vec<PathBuf> = std::iter::once(hierarchies.unified.as_path())
            .chain(hierarchies.v1_bases())
            .map(|base| base.join(name))
            .filter(|dir| dir.is_dir())
            .collect();
        Ok((!dirs.is_empty()).then(|| InstanceCgroup {
            name: name.to_owned(),
            hierarchies,
            dirs,
        }))
    }

    /// The relative name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance's directory in the v2 hierarchy.
    pub fn unified_dir(&self) -> PathBuf {
        self.hierarchies.unified.join(&self.name)
    }

    /// Its directories in every hierarchy, whether they exist or not.
    pub fn dirs_in_every_hierarchy(&self) -> Vec<PathBuf> {
        std::iter::once(self.hierarchies.unified.as_path())
            .chain(self.hierarchies.v1_bases())
            .map(|base| base.join(&self.name))
            .collect()
    }

    fn limit_dir(&self, home: &LimitHome) -> PathBuf {
        match home {
            LimitHome::Unified => self.unified_dir(),
            LimitHome::V1(base) => base.join(&self.name),
        }
    }

    fn set_memory_limit(&self, bytes: u64) -> Result<(), DelegateError> {
        let Some(home) = &self.hierarchies.memory else {
            return Ok(());
        };
        let dir = self.limit_dir(home);
        let bytes = bytes.to_string();
        match home {
            LimitHome::Unified => {
                write_file(&dir.join("memory.max"), &bytes)?;
                // The limit covers swap too, as memsw does on v1.
                write_if_present(&dir.join("memory.swap.max"), "0")
            }
            LimitHome::V1(_) => {
                write_file(&dir.join("memory.limit_in_bytes"), &bytes)?;
                // memsw must not be below limit_in_bytes: written second.
                write_if_present(&dir.join("memory.memsw.limit_in_bytes"), &bytes)
            }
        }
    }

    fn set_cpu_limit(&self, cpu_millis: u64) -> Result<(), DelegateError> {
        let Some(home) = &self.hierarchies.cpu else {
            return Ok(());
        };
        let dir = self.limit_dir(home);
        let quota = cpu_quota_us(cpu_millis);
        match home {
            LimitHome::Unified => {
                write_file(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))
            }
            LimitHome::V1(_) => {
                write_file(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write_file(&dir.join("cpu.cfs_quota_us"), &quota.to_string())
            }
        }
    }

    /// Opens the `cgroup.procs` files a new process writes itself into, before the fork.
    pub fn joiner(&self) -> Result<CgroupJoiner, DelegateError> {
        let procs = self
            .dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|e| DelegateError::io(format!("open {}", path.display()), e))
            })
            .collect::<Result<_, _>>()?;
        // The v2 directory itself, for a child born in it (clone3's CLONE_INTO_CGROUP).
        let unified = &self.dirs[0];
        let unified_dir = std::fs::File::open(unified)
            .map(OwnedFd::from)
            .map_err(|e| DelegateError::io(format!("open {}", unified.display()), e))?;
        Ok(CgroupJoiner { unified_dir, procs })
    }

    /// The pids of its processes, in every hierarchy.
    pub fn members(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .dirs
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .flat_map(|procs| parse_pids(&procs))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Whether a process lives in it or below it (`populated` of `cgroup.events`). A cgroup
    /// that is gone is not populated.
    pub fn is_populated(&self) -> Result<bool, DelegateError> {
        let events = self.unified_dir().join("cgroup.events");
        match std::fs::read_to_string(&events) {
            Ok(text) => parse_populated(&text).ok_or_else(|| {
                DelegateError::Invalid(format!("{} has no populated line", events.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(DelegateError::io(format!("read {}", events.display()), e)),
        }
    }

    /// Sends `signal` to every member, each through a pidfd taken while it was still a
    /// member (a pid reused meanwhile is never signalled). Returns how many got it.
    pub fn signal_members(&self, signal: Signal) -> usize {
        let pidfds: Vec<(u32, OwnedFd)> = self
            .members()
            .into_iter()
            .filter_map(|pid| {
                let raw = Pid::from_raw(pid as i32)?;
                Some((pid, pidfd_open(raw, PidfdFlags::empty()).ok()?))
            })
            .collect();
        let still = self.members();
        pidfds
            .iter()
            .filter(|(pid, fd)| still.contains(pid) && pidfd_send_signal(fd, signal).is_ok())
            .count()
    }

    /// SIGKILLs every process at once (`cgroup.kill`; each member in turn on a kernel
    /// without it).
    pub fn kill(&self) -> Result<(), DelegateError> {
        let kill = self.unified_dir().join("cgroup.kill");
        match write_file_io(&kill, "1") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DelegateError::io(
                    format!("write 1 to {}", kill.display()),
                    e,
                ))
            }
        }
        // Members outside the v2 cgroup (moved there by themselves), or all of them without
        // cgroup.kill.
        self.signal_members(Signal::KILL);
        Ok(())
    }

    /// Resolves when the cgroup has no process left (true), or after `timeout` (false).
    /// Woken by inotify on `cgroup.events`, which the kernel marks modified when
    /// `populated` changes.
    pub async fn wait_empty(&self, timeout: Duration) -> Result<bool, DelegateError> {
        let events = self.unified_dir().join("cgroup.events");
        // Watch first, then look: a change in between is not missed.
        let watch = match EventsWatch::new(&events) {
            Ok(watch) => watch,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(self.members().is_empty())
            }
            Err(e) => return Err(DelegateError::io(format!("watch {}", events.display()), e)),
        };
        let until_empty = async {
            while self.is_populated()? {
                watch
                    .changed()
                    .await
                    .map_err(|e| DelegateError::io(format!("watch {}", events.display()), e))?;
            }
            Ok::<_, DelegateError>(true)
        };
        tokio::time::timeout(timeout, until_empty)
            .await
            .unwrap_or(Ok(false))
    }

    /// Removes its directories, leaf first, in every hierarchy, and the parents that no
    /// other instance uses. Fails while a process is left (EBUSY).
    pub fn remove(&self) -> Result<(), DelegateError> {
        let components = name_components(&self.name)?;
        // v1 first: a v2 directory left behind is what tells that something remains.
        for base in self.hierarchies.v1_bases() {
            remove_path(base, &components)?;
        }
        remove_path(&self.hierarchies.unified, &components)
    }

    /// Ends every process of the cgroup and removes it: SIGTERM to each member, then after
    /// `grace` SIGKILL to all; waits (bounded) until it is empty.
    pub async fn end(&self, grace: Duration) -> Result<(), DelegateError> {
        /// SIGKILL is delivered asynchronously; a process in uninterruptible sleep (a
        /// stalled filesystem) may take a while.
        const KILL_BOUND: Duration = Duration::from_secs(10);
        if self.is_populated()? || !self.members().is_empty() {
            self.signal_members(Signal::TERM);
            if !self.wait_empty(grace).await? {
                tracing::info!(
                    cgroup = %self.name,
                    "processes still running {grace:?} after SIGTERM: killing the cgroup"
                );
                self.kill()?;
                if !self.wait_empty(KILL_BOUND).await? {
                    return Err(DelegateError::Invalid(format!(
                        "cgroup {} still has processes {:?} {KILL_BOUND:?} after SIGKILL (in \
                         uninterruptible sleep?); it is left in place: stop again later, or \
                         look at them by hand",
                        self.unified_dir().display(),
                        self.members()
                    )));
                }
            }
        }
        // rmdir in a cgroup filesystem takes the kernel's cgroup mutex (and offlines a
        // memory cgroup): a blocking call, kept off the async workers.
        let cgroup = self.clone();
        tokio::task::spawn_blocking(move || cgroup.remove())
            .await
            .map_err(|e| DelegateError::io("remove a cgroup", std::io::Error::other(e)))?
    }
}

/// Makes `base/components...`, enabling `controllers` in every directory above the leaf
/// (the leaf holds the processes: "no internal processes"). Makes the path anew when a
/// parent vanishes meanwhile (removed by the last instance below it).
fn make_path(
    base: &Path,
    components: &[&str],
    controllers: &[&str],
) -> Result<PathBuf, DelegateError> {
    const ATTEMPTS: usize = 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match make_path_once(base, components, controllers) {
            Err(MakeError::ParentVanished(_)) if attempt < ATTEMPTS => continue,
            Err(MakeError::ParentVanished(e) | MakeError::Other(e)) => return Err(e),
            Ok(path) => return Ok(path),
        }
    }
}

enum MakeError {
    ParentVanished(DelegateError),
    Other(DelegateError),
}

fn make_path_once(
    base: &Path,
    components: &[&str],
    controllers: &[&str],
) -> Result<PathBuf, MakeError> {
    let mut dir = base.to_owned();
    for (depth, component) in components.iter().enumerate() {
        dir.push(component);
        make_dir(&dir).map_err(|e| {
            let vanished = e.kind() == std::io::ErrorKind::NotFound;
            let e = DelegateError::io(format!("create cgroup directory {}", dir.display()), e);
            if vanished {
                MakeError::ParentVanished(e)
            } else {
                MakeError::Other(e)
            }
        })?;
        if depth + 1 < components.len() {
            for controller in controllers {
                enable_controller(&dir, controller).map_err(MakeError::Other)?;
            }
        }
    }
    Ok(dir)
}

/// rmdir of `base/components...`, then of each parent up to `base` until one is still in
/// use. A leaf that is gone already (or was never made) is fine: its parents may be left.
fn remove_path(base: &Path, components: &[&str]) -> Result<(), DelegateError> {
    let leaf = base.join(components.join("/"));
    match std::fs::remove_dir(&leaf) {
        Ok(()) => {}
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENOTDIR) => {}
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let procs = std::fs::read_to_string(leaf.join("cgroup.procs")).unwrap_or_default();
            return Err(DelegateError::Invalid(format!(
                "cannot remove cgroup {}: it is not empty yet (processes {:?}, or cgroups \
                 below it)",
                leaf.display(),
                parse_pids(&procs)
            )));
        }
        Err(e) => {
            return Err(DelegateError::io(
                format!("remove cgroup {}", leaf.display()),
                e,
            ))
        }
    }
    for depth in (1..components.len()).rev() {
        let parent = base.join(components[..depth].join("/"));
        // Another instance's cgroup below it (EBUSY, ENOTEMPTY), or gone already.
        if std::fs::remove_dir(&parent).is_err() {
            break;
        }
    }
    Ok(())
}

/// The open `cgroup.procs` files of an instance cgroup, for a child to join it, and its v2
/// directory, for a child to be born in.
#[derive(Debug)]
pub struct CgroupJoiner {
    unified_dir: OwnedFd,
    /// The v2 hierarchy's first, then the v1 ones that carry limits.
    procs: Vec<OwnedFd>,
}

/// What a child needs to join an instance cgroup ([`CgroupJoiner::into_parts`]).
#[derive(Debug)]
pub struct CgroupEntry {
    /// The v2 directory: a child born in it (`CLONE_INTO_CGROUP`) is not migrated.
    pub unified_dir: OwnedFd,
    /// Its `cgroup.procs`, for a child that could not be born in it.
    pub unified_procs: OwnedFd,
    /// The `cgroup.procs` of the v1 hierarchies that carry limits: written by the child.
    pub v1_procs: Vec<OwnedFd>,
}

impl CgroupJoiner {
    /// The v2 directory and the opened `cgroup.procs` files, for a child.
    pub fn into_parts(self) -> CgroupEntry {
        let mut procs = self.procs.into_iter();
        let unified_procs = procs
            .next()
            .expect("an instance cgroup always has its v2 directory");
        CgroupEntry {
            unified_dir: self.unified_dir,
            unified_procs,
            v1_procs: procs.collect(),
        }
    }

    /// Moves the calling process into the cgroup. Only write(2): async-signal-safe, for
    /// `pre_exec` (between fork and exec in a multithreaded process).
    pub fn join(&self) -> std::io::Result<()> {
        for fd in &self.procs {
            rustix::io::write(fd, b"0")?;
        }
        Ok(())
    }
}

/// An inotify watch on a `cgroup.events` file, readable when the file changes.
///
/// Closing an inotify instance waits for an SRCU grace period (milliseconds, on the calling
/// thread): a mass stop that made and closed one per instance stalled the async workers.
/// Instances are therefore kept for reuse ([`SPARE_INOTIFY`]): a finished watch removes its
/// watch descriptor (cheap) and returns its instance.
struct EventsWatch {
    fd: Option<AsyncFd<OwnedFd>>,
    watch: i32,
}

/// inotify instances without a watch, ready for the next [`EventsWatch`].
static SPARE_INOTIFY: std::sync::Mutex<Vec<OwnedFd>> = std::sync::Mutex::new(Vec::new());
/// More spares than this are closed (off the async workers).
const MAX_SPARE_INOTIFY: usize = 256;

impl EventsWatch {
    fn new(path: &Path) -> std::io::Result<Self> {
        let spare = SPARE_INOTIFY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let fd = match spare {
            Some(fd) => fd,
            None => inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?,
        };
        // What a previous watch left queued (its IN_IGNORED) must not read as a change.
        drain_events(&fd)?;
        let watch = match inotify::add_watch(&fd, path, inotify::WatchFlags::MODIFY) {
            Ok(watch) => watch,
            Err(e) => {
                give_back_inotify(fd);
                return Err(e.into());
            }
        };
        // SAFETY: `fd` is an owned inotify descriptor, which the AsyncFd owns from here on.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)? };
        Ok(EventsWatch {
            fd: Some(fd),
            watch,
        })
    }

    /// Resolves at the next change (or at once if one came since the last call).
    async fn changed(&self) -> std::io::Result<()> {
        let fd = self.fd.as_ref().expect("present until dropped");
        let mut ready = fd.readable().await?;
        drain_events(fd.get_ref())?;
        ready.clear_ready();
        Ok(())
    }
}

impl Drop for EventsWatch {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            // Deregistered from the reactor here; the instance itself is kept.
            let fd = fd.into_inner();
            // Gone already when the cgroup was removed (EINVAL): fine either way.
            let _ = inotify::remove_watch(&fd, self.watch);
            give_back_inotify(fd);
        }
    }
}

/// Keeps an inotify instance for reuse, or closes it off the async workers.
fn give_back_inotify(fd: OwnedFd) {
    let mut spare = SPARE_INOTIFY.lock().unwrap_or_else(|e| e.into_inner());
    if spare.len() < MAX_SPARE_INOTIFY {
        spare.push(fd);
        return;
    }
    drop(spare);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(fd))),
        Err(_) => drop(fd),
    }
}

/// Reads the queued events (only their arrival matters) until none is left.
fn drain_events(fd: &OwnedFd) -> std::io::Result<()> {
    let mut buffer = [std::mem::MaybeUninit::uninit(); 1024];
    let mut reader = inotify::Reader::new(fd, &mut buffer);
    loop {
        match reader.next() {
            Ok(_) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

// ---- File helpers ----

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes to an existing file (cgroup interface files are never created).
fn write_file_io(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(content.as_bytes())
}

fn write_file(path: &Path, content: &str) -> Result<(), DelegateError> {
    write_file_io(path, content)
        .map_err(|e| DelegateError::io(format!("write {content:?} to {}", path.display()), e))
}

fn write_if_present(path: &Path, content: &str) -> Result<(), DelegateError> {
    match write_file_io(path, content) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other
            .map_err(|e| DelegateError::io(format!("write {content:?} to {}", path.display()), e)),
    }
}
