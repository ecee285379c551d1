//! What the agent benches share: a guarded agent of their own ([`BenchAgent`]) and small
//! helpers (/proc readings, process and cgroup cleanup, plain-text tables, env lists).
//!
//! Included from each bench with `#[path = "support/mod.rs"] mod support;`, next to
//! `#[path = "../tests/common/mod.rs"] mod common;`, which it uses.
// Not every bench uses every helper.
#![allow(dead_code)]

use crate::common;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Ports the agent hands out (`--port-range`).
pub const AGENT_PORTS: (u16, u16) = (21000, 22999);

// ---- generated templates ----

/// The start of a generated service template; its nodes follow.
pub const TEMPLATE_HEAD: &str = "tosca_definitions_version: tosca_2_0\n\
     imports:\n  - profile: io.khutulun:0.1\n\
     service_template:\n  node_templates:\n";

/// Node `n<i>` of a generated template: a `Process` running `sleep 3600`.
pub fn sleep_node(i: usize) -> String {
    format!(
        "    n{i}:\n      type: Process\n      properties:\n        \
         command: sleep\n        arguments: [ \"3600\" ]\n"
    )
}

// ---- the agent and its guard ----

/// A bench's agent (this build's release `khutulun agent`, host `bench`, no token: the API
/// only on `<data>/agent.sock`) and its temporary directory. Dropping it deletes the
/// services left, stops the agent (SIGTERM), kills whatever an instance left running,
/// removes the agent's empty `bench-*` instance cgroups and the directory.
pub struct BenchAgent {
    /// The bench's name, the prefix of its progress messages (`<name> bench: ...`).
    pub name: &'static str,
    /// `state/`, `data/`, `agent.log` and whatever the bench puts there.
    pub root: tempfile::TempDir,
    child: Option<Child>,
    /// `unix:<data>/agent.sock`
    pub url: String,
    /// The agent's cgroup v2 directory (where its instance cgroups go, below `khutulun/`).
    agent_cgroup: Option<PathBuf>,
}

impl BenchAgent {
    /// Starts the agent in a fresh temporary directory (`khutulun-<name>-bench*`) and waits
    /// until it answers `/v1/health`.
    pub fn start(name: &'static str) -> BenchAgent {
        let root = tempfile::Builder::new()
            .prefix(&format!("khutulun-{name}-bench"))
            .tempdir()
            .expect("a temporary directory");
        let url = format!("unix:{}", root.path().join("data/agent.sock").display());
        let mut agent = BenchAgent {
            name,
            root,
            child: None,
            url,
            agent_cgroup: None,
        };
        let log = std::fs::File::create(agent.root.path().join("agent.log")).unwrap();
        let child = Command::new(common::BIN)
            .arg("agent")
            .args(["--host", "bench"])
            .arg("--port-range")
            .arg(format!("{}-{}", AGENT_PORTS.0, AGENT_PORTS.1))
            // Not the default gossip port, which another agent on the machine may use.
            .args(["--gossip", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(agent.root.path().join("state"))
            .arg("--data-dir")
            .arg(agent.data_dir())
            .env_remove("KHUTULUN_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the agent");
        agent.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = common::http_get(&format!("{}/v1/health", agent.url), None);
            if health.map(|(status, _)| status) == Some(200) {
                break;
            }
            agent.check_alive();
            assert!(
                Instant::now() < deadline,
                "the agent did not become healthy in 30 s; log:\n{}",
                agent.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent.agent_cgroup = agent_cgroup_dir(agent.pid());
        agent
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The API's Unix socket (`<data>/agent.sock`).
    pub fn socket(&self) -> PathBuf {
        self.data_dir().join("agent.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent runs").id()
    }

    /// Panics (with the log's end) when the agent has exited.
    pub fn check_alive(&self) {
        let pid = self.pid();
        assert!(
            common::process_alive(pid),
            "the agent (pid {pid}) has exited; log:\n{}",
            self.log_tail()
        );
    }

    /// Whether the agent process still runs.
    pub fn is_alive(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| common::process_alive(c.id()))
    }

    /// The last 40 lines of the agent's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.root.path().join("agent.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Runs the CLI against the agent.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(common::BIN)
            .args(["--agent", &self.url])
            .args(args)
            .env_remove("KHUTULUN_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run the CLI")
    }

    /// Runs the CLI, panics unless it succeeds: its stdout.
    /// `khutulun deploy <name> <dir> --wait --timeout <timeout_secs>`, which must succeed.
    pub fn deploy_wait(&self, name: &str, dir: &Path, timeout_secs: usize) {
        let timeout = timeout_secs.to_string();
        self.cli_ok(&[
            "deploy",
            name,
            dir.to_str().expect("bench paths are UTF-8"),
            "--wait",
            "--timeout",
            &timeout,
        ]);
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "khutulun {} failed ({}): {}{}\nagent log (end):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Deletes (`delete --wait`) every service the agent lists.
    pub fn delete_all(&self) {
        let out = self.cli(&["services", "-o", "json"]);
        let services: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        for service in services.as_array().into_iter().flatten() {
            if let Some(name) = service["name"].as_str() {
                eprintln!("{} bench: cleanup: deleting service {name}", self.name);
                let _ = self.cli(&["delete", name, "--wait", "--timeout", "1200"]);
            }
        }
    }

    /// Instance cgroups (below the agent's `khutulun/bench-*`) that still exist.
    pub fn leftover_cgroups(&self) -> Vec<String> {
        let mut left = Vec::new();
        for dir in self.instance_cgroup_roots() {
            collect_leaves(&dir, &mut left);
        }
        left
    }

    /// The agent's `khutulun/bench-*` cgroup directories.
    fn instance_cgroup_roots(&self) -> Vec<PathBuf> {
        let Some(base) = &self.agent_cgroup else {
            return Vec::new();
        };
        std::fs::read_dir(base.join("khutulun"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("bench-"))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    }
}

impl Drop for BenchAgent {
    fn drop(&mut self) {
        let Some(mut agent) = self.child.take() else {
            return;
        };
        if common::process_alive(agent.id()) {
            self.delete_all();
        }
        // Stop the agent as a service manager would.
        unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                eprintln!(
                    "{} bench: cleanup: the agent ignored SIGTERM for 30 s; killing it",
                    self.name
                );
                let _ = agent.kill();
                let _ = agent.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever still carries an instance's mark.
        let left = marked_pids("KHUTULUN_INSTANCE_DIR=", &self.data_dir());
        if !left.is_empty() {
            eprintln!(
                "{} bench: cleanup: killing {} leftover processes",
                self.name,
                left.len()
            );
            kill_and_wait(self.name, &left);
        }
        // Empty instance cgroups of this agent (rmdir only removes empty ones).
        for dir in self.instance_cgroup_roots() {
            remove_cgroup_tree(&dir);
        }
        // The temporary directory goes with `root`.
    }
}

// ---- running ----

/// A comma-separated list from the environment, `default` when unset or blank.
pub fn list_env(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A number from the environment, `default` when unset or blank; panics when it is no number.
pub fn number_env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: a number, not {s:?}"))
        })
        .unwrap_or(default)
}

/// Runs `f`; a panic is reported on stderr (prefixed `<bench> bench:`) and becomes an
/// error, so that the other measurements still run.
pub fn attempt<T>(bench: &str, what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    eprintln!("{bench} bench: {what}");
    let started = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    });
    match &result {
        Ok(_) => eprintln!(
            "{bench} bench: {what}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "{bench} bench: {what}: FAILED: {}",
            e.lines().next().unwrap_or_default()
        ),
    }
    result.map_err(|e| e.lines().next().unwrap_or_default().to_owned())
}

// ---- /proc ----

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of [`cpu_ticks`].
pub fn clk_tck() -> f64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    assert!(ticks > 0.0, "sysconf(_SC_CLK_TCK) failed");
    ticks
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the agent's stat");
    // Fields after the command's closing parenthesis start at field 3 (state).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let utime: u64 = fields[11].parse().unwrap();
    let stime: u64 = fields[12].parse().unwrap();
    utime + stime
}

/// The number after `key` in a /proc status text.
pub fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// VmRSS of a process, in MiB.
pub fn rss_mb(pid: u32) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the agent's status");
    status_field(&status, "VmRSS:").expect("VmRSS") as f64 / 1024.0
}

/// Per thread id: (name, voluntary + nonvoluntary context switches).
pub fn thread_switches(pid: u32) -> BTreeMap<u32, (String, u64)> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let switches = status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0)
            + status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        threads.insert(tid, (name, switches));
    }
    threads
}

/// Live processes whose environment has `prefix` followed by `dir` (or a path below it).
pub fn marked_pids(prefix: &str, dir: &Path) -> Vec<u32> {
    let dir = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0).any(|var| {
                    String::from_utf8_lossy(var)
                        .strip_prefix(prefix)
                        .is_some_and(|value| value == dir || value.starts_with(&format!("{dir}/")))
                })
            }) && common::process_alive(*pid)
        })
        .collect()
}

/// SIGKILL to each process (its group too: session leaders take their children along),
/// then waits until none is alive; complains (prefixed `<bench> bench:`) after 30 s.
pub fn kill_and_wait(bench: &str, pids: &[u32]) {
    for &pid in pids {
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|p| common::process_alive(*p)) {
        if Instant::now() > deadline {
            eprintln!("{bench} bench: processes survived SIGKILL for 30 s: {pids:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---- cgroups ----

/// The process's cgroup v2 directory (`0::<path>` of /proc/<pid>/cgroup), on a pure or a
/// hybrid layout.
pub fn agent_cgroup_dir(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(|mount| Path::new(mount).join(path.trim_start_matches('/')))
        .find(|dir| dir.join("cgroup.procs").is_file())
}

/// The leaf directories below `dir` (`dir` itself when it has no subdirectory).
pub fn collect_leaves(dir: &Path, out: &mut Vec<String>) {
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    if children.is_empty() {
        out.push(dir.display().to_string());
    }
    for child in children {
        collect_leaves(&child, out);
    }
}

/// Removes `dir` and the cgroups below it, deepest first (only empty ones go).
pub fn remove_cgroup_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

// ---- text ----

/// `text` as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A plain-text table: the first column left-aligned, the others right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}
