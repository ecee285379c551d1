//! Several "hosts" on one machine: each host is a network namespace, all of them on one
//! bridge, so cluster tests run real agents that reach each other over real (virtual)
//! links, can be partitioned, healed and killed wholesale. Needs root and iproute2.
//!
//! Layout of lab `<id>` (ids 1..=250, handed out under flock, so parallel test processes
//! never share one):
//!
//! ```text
//!  root namespace               switch namespace kh<id>sw          host namespaces
//!  kh<id>up 10.201.<id>.254 ──── uplink ─┐
//!                                        khbr<id> (bridge)
//!                             kh<id>v0 ──┼── eth0 in kh<id>h0   10.201.<id>.1
//!                             kh<id>v1 ──┘── eth0 in kh<id>h1   10.201.<id>.2 ...
//! ```
//!
//! Every host has `lo` up and a default route via .254, so multicast (224.0.0.0/4) has a
//! route out of `eth0`; the bridge floods multicast (snooping off). The test process in
//! the root namespace reaches every host through `kh<id>up`.
//!
//! Why the bridge lives in a namespace of its own: with `br_netfilter` loaded (Docker loads
//! it) and `net.bridge.bridge-nf-call-iptables = 1`, bridged frames traverse the iptables
//! FORWARD chain of the bridge's namespace, and Docker sets that chain's policy to DROP in
//! the root namespace: host-to-host traffic (multicast included) would vanish. A fresh
//! namespace has no rules, so the lab works whatever the machine's firewall says, and the
//! lab never changes a host-wide sysctl. Traffic between the test process and the hosts is
//! local (INPUT/OUTPUT of the root namespace), never forwarded by the root namespace.
//!
//! Cleanup: `Drop` kills every process in the lab's namespaces and deletes the namespaces
//! (which takes their veths and the bridge along) and the uplink, also when the test
//! panics. A run killed before its `Drop` leaves names behind; every `NetLab::new` sweeps
//! the leftovers of labs whose id lock (`/tmp/khutulun-netlab-<id>.lock`, held for a lab's
//! whole life) is free.
#![allow(dead_code)]

use super::labs::{ip, IdPool};
use super::{http_get, kill, BIN};
use serde_json::Value;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The port every host's agent API listens on (hosts have addresses of their own).
pub const API_PORT: u16 = 8181;
/// The `--port-range` `spawn_agent` gives every agent (each host has its own ports).
pub const PORT_RANGE: &str = "20000-20099";
/// Lab ids (the third octet of 10.201.<id>.0/24) run from 1 to this.
const MAX_ID: u32 = 250;
const IDS: IdPool = IdPool {
    what: "netlab",
    counter: COUNTER_FILE,
    lock_prefix: "/tmp/khutulun-netlab-",
    max: MAX_ID,
};
const COUNTER_FILE: &str = "/tmp/khutulun-test-netlab";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(20);
const LOG_TAIL_LINES: usize = 80;

extern "C" {
    fn geteuid() -> u32;
    fn setns(fd: i32, nstype: i32) -> i32;
}
const CLONE_NEWNET: i32 = 0x4000_0000;

/// True when this process may create network namespaces: it runs as root and
/// `ip netns add` works (probed once per process with a throwaway namespace).
pub fn netns_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if unsafe { geteuid() } != 0 {
            return false;
        }
        let probe = format!("khp{}", std::process::id());
        let added = ip(&["netns", "add", &probe]).is_ok();
        if added {
            let _ = ip(&["netns", "del", &probe]);
        }
        added
    })
}

/// Names (namespaces, root-namespace links) that lab `id` owns and that exist right now.
/// Empty after the lab is dropped.
pub fn lab_leftovers(id: u32) -> Vec<String> {
    let mut names: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|(lab, _)| *lab == id)
        .map(|(_, name)| name)
        .collect();
    names.extend(
        lab_uplinks()
            .into_iter()
            .filter(|(lab, _)| *lab == id)
            .map(|(_, name)| name),
    );
    names
}

/// One host of a lab: a network namespace with `eth0` on the lab's bridge.
#[derive(Debug, Clone)]
pub struct NetHost {
    index: usize,
    name: String,
    address: String,
    netns: String,
    veth: String,
    switch: String,
}

impl NetHost {
    pub fn index(&self) -> usize {
        self.index
    }

    /// The host name `spawn_agent` gives its agent: `h<i>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address, `10.201.<id>.<i+1>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The network namespace's name, `kh<id>h<i>`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The bridge-side end of the host's veth pair (in the switch namespace).
    pub fn veth(&self) -> &str {
        &self.veth
    }

    /// `<address>:8181`, where `spawn_agent`'s agent serves its API.
    pub fn api(&self) -> String {
        format!("{}:{API_PORT}", self.address)
    }

    /// `http://<address>:8181`.
    pub fn url(&self) -> String {
        format!("http://{}", self.api())
    }

    /// `ip netns exec <netns> <program>`: add arguments, environment, stdio as usual. The
    /// child's pid is the program's own (`ip netns exec` execs it).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns]).arg(program);
        command
    }

    /// Runs `f` on a thread that has entered this host's network namespace: sockets it
    /// opens are the host's (e.g. `http_get` from inside the host). Only the network
    /// namespace changes; the filesystem is the test's.
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.netns);
        let ns = File::open(&path).unwrap_or_else(|e| panic!("netlab: open {path}: {e}"));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if unsafe { setns(ns.as_raw_fd(), CLONE_NEWNET) } != 0 {
                        panic!(
                            "netlab: setns into {}: {}",
                            self.netns,
                            std::io::Error::last_os_error()
                        );
                    }
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

/// N hosts as network namespaces on one bridge; everything is removed on drop.
pub struct NetLab {
    id: u32,
    hosts: Vec<NetHost>,
    token: String,
    dir: tempfile::TempDir,
    /// flock on /tmp/khutulun-netlab-<id>.lock, held while the lab lives.
    _id_lock: File,
}

impl NetLab {
    /// Creates a lab of `n` hosts (1..=253). Panics, naming the failing `ip` command and its
    /// stderr, when a step fails (what was created is removed again).
    pub fn new(n: usize) -> NetLab {
        assert!((1..=253).contains(&n), "a lab has 1 to 253 hosts, not {n}");
        let (id, id_lock) = allocate_id();
        // Leftovers of an earlier run that had this id and was killed before its Drop.
        remove_lab(id);
        let switch = format!("kh{id}sw");
        let hosts = (0..n)
            .map(|i| NetHost {
                index: i,
                name: format!("h{i}"),
                address: format!("10.201.{id}.{}", i + 1),
                netns: format!("kh{id}h{i}"),
                veth: format!("kh{id}v{i}"),
                switch: switch.clone(),
            })
            .collect();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let lab = NetLab {
            id,
            hosts,
            token: format!("netlab-{id}-{}-{nanos:x}", std::process::id()),
            dir: tempfile::tempdir().expect("netlab: temp dir"),
            _id_lock: id_lock,
        };
        // From here on a panic drops `lab`, which removes whatever was created.
        lab.build();
        lab
    }

    fn build(&self) {
        let id = self.id;
        let switch = self.switch_netns();
        let bridge = format!("khbr{id}");
        let uplink = self.uplink();
        let gateway = self.gateway();
        must(&["netns", "add", &switch]);
        must(&["-n", &switch, "link", "set", "dev", "lo", "up"]);
        must(&[
            "-n",
            &switch,
            "link",
            "add",
            &bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        must(&["-n", &switch, "link", "set", "dev", &bridge, "up"]);
        must(&[
            "link", "add", &uplink, "type", "veth", "peer", "name", "uplink", "netns", &switch,
        ]);
        must(&[
            "-n", &switch, "link", "set", "dev", "uplink", "master", &bridge, "up",
        ]);
        must(&["addr", "add", &format!("{gateway}/24"), "dev", &uplink]);
        must(&["link", "set", "dev", &uplink, "up"]);
        for host in &self.hosts {
            let ns = host.netns.as_str();
            must(&["netns", "add", ns]);
            must(&[
                "-n", &switch, "link", "add", &host.veth, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            must(&[
                "-n", &switch, "link", "set", "dev", &host.veth, "master", &bridge, "up",
            ]);
            must(&["-n", ns, "link", "set", "dev", "lo", "up"]);
            must(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", host.address),
                "dev",
                "eth0",
            ]);
            must(&["-n", ns, "link", "set", "dev", "eth0", "up"]);
            must(&["-n", ns, "route", "add", "default", "via", &gateway]);
        }
    }

    /// The lab id: the third octet of the lab's subnet, part of every name.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub fn host(&self, i: usize) -> &NetHost {
        self.hosts
            .get(i)
            .unwrap_or_else(|| panic!("lab has {} hosts, no host {i}", self.hosts.len()))
    }

    pub fn hosts(&self) -> &[NetHost] {
        &self.hosts
    }

    /// `10.201.<id>.0/24`.
    pub fn subnet(&self) -> String {
        format!("10.201.{}.0/24", self.id)
    }

    /// `10.201.<id>.254`: the root namespace's address on the lab network, every host's
    /// default route.
    pub fn gateway(&self) -> String {
        format!("10.201.{}.254", self.id)
    }

    /// The namespace holding the bridge, `kh<id>sw`.
    pub fn switch_netns(&self) -> String {
        format!("kh{}sw", self.id)
    }

    /// The root-namespace end of the uplink to the bridge, `kh<id>up`.
    pub fn uplink(&self) -> String {
        format!("kh{}up", self.id)
    }

    /// The API token of every agent `spawn_agent` starts and of `cli`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lab's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Host i's own directory: `data/` (its agent's data dir) and `agent.log`.
    pub fn host_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(self.host(i).name())
    }

    /// Cuts host i off the network (its bridge port goes down; its `eth0` loses carrier).
    /// Nothing is killed; processes in the host keep running.
    pub fn partition(&self, i: usize) {
        let host = self.host(i);
        must(&["-n", &host.switch, "link", "set", "dev", &host.veth, "down"]);
    }

    /// Undoes `partition(i)`.
    pub fn heal(&self, i: usize) {
        let host = self.host(i);
        must(&["-n", &host.switch, "link", "set", "dev", &host.veth, "up"]);
    }

    /// SIGKILLs every process in host i's namespace (its agent and the agent's workloads),
    /// until none is left.
    pub fn kill_all_in(&self, i: usize) {
        kill_netns_processes(self.host(i).netns());
    }

    /// Pids of the processes in host i's namespace.
    pub fn pids_in(&self, i: usize) -> Vec<u32> {
        netns_pids(self.host(i).netns())
    }

    /// True when a TCP connection from the root namespace to host i's API port is answered
    /// within a second (accepted or refused: either way the host is reachable).
    pub fn reachable(&self, i: usize) -> bool {
        tcp_answers(&self.host(i).api())
    }

    /// Like `reachable`, from inside host `from`'s namespace to host `to`.
    pub fn reachable_from(&self, from: usize, to: usize) -> bool {
        let target = self.host(to).api();
        self.host(from).in_netns(|| tcp_answers(&target))
    }

    /// Starts `khutulun agent` in host i's namespace: `--state-dir <state_dir> --data-dir
    /// <host_dir>/data --host h<i> --api <addr>:8181 --address <addr> --port-range
    /// 20000-20099`, the lab token (as KHUTULUN_TOKEN, as `common::Agent` does), then
    /// `extra_args`. Output goes to `<host_dir>/agent.log` (appended across restarts).
    /// Waits until `GET /v1/health` answers from the root namespace (20 s, then panics
    /// with the log's tail).
    pub fn spawn_agent(&self, i: usize, state_dir: &Path, extra_args: &[&str]) -> NetAgent {
        use std::io::Write;
        let host = self.host(i);
        let dir = self.host_dir(i);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("netlab: create host data dir");
        let log_path = dir.join("agent.log");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("netlab: open agent log");
        let _ = writeln!(
            log,
            "==== netlab: agent {} in {} at {}, extra args {extra_args:?} ====",
            host.name, host.netns, host.address
        );
        let mut command = host.command(BIN);
        command
            .arg("agent")
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--data-dir")
            .arg(&data)
            .args(["--host", &host.name])
            .args(["--api", &host.api()])
            .args(["--address", &host.address])
            .args(["--port-range", PORT_RANGE])
            .args(extra_args)
            .env("KHUTULUN_TOKEN", &self.token)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("netlab: clone log handle"))
            .stderr(log);
        for var in [
            "KHUTULUN_AGENT",
            "KHUTULUN_STATE_DIR",
            "KHUTULUN_DATA_DIR",
            "KHUTULUN_HOST",
            "KHUTULUN_API",
            "KHUTULUN_SYSTEMD_SCOPES",
        ] {
            command.env_remove(var);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("netlab: cannot start {BIN} in {}: {e}", host.netns));
        let mut agent = NetAgent {
            host: i,
            name: host.name.clone(),
            url: host.url(),
            token: self.token.clone(),
            log_path,
            child: Some(child),
            log_shown: false,
        };
        agent.wait_healthy(HEALTH_TIMEOUT);
        agent
    }

    /// Runs the CLI from the root namespace against host i's agent
    /// (`--agent http://<addr>:8181`, the lab token as KHUTULUN_TOKEN).
    pub fn cli(&self, i: usize, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        self.cli_command(&mut command, i, args);
        command.output().expect("netlab: run the CLI")
    }

    /// Runs the CLI inside host `from`'s namespace against host `to`'s agent.
    pub fn cli_from(&self, from: usize, to: usize, args: &[&str]) -> Output {
        let mut command = self.host(from).command(BIN);
        self.cli_command(&mut command, to, args);
        command.output().expect("netlab: run the CLI")
    }

    fn cli_command(&self, command: &mut Command, i: usize, args: &[&str]) {
        command
            .args(["--agent", &self.host(i).url()])
            .args(args)
            .env("KHUTULUN_TOKEN", &self.token)
            .env_remove("KHUTULUN_AGENT")
            .stdin(Stdio::null());
        // The lab's addresses are never behind a proxy.
        for var in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            command.env_remove(var);
        }
    }

    /// Runs the CLI against host i and expects success; returns stdout.
    pub fn ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.cli(i, args);
        assert!(
            out.status.success(),
            "khutulun {args:?} against {} failed ({}):\nstdout: {}\nstderr: {}",
            self.host(i).name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        String::from_utf8(out.stdout).expect("CLI printed UTF-8")
    }

    /// Runs the CLI against host i with `-o json` and parses what it prints.
    pub fn json(&self, i: usize, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ok(i, &all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    }

    /// The tail of host i's agent log (all agents started there, in order).
    pub fn log_tail(&self, i: usize) -> String {
        tail(&self.host_dir(i).join("agent.log"), LOG_TAIL_LINES)
    }

    /// Prints the tail of every host's agent log to stderr.
    pub fn print_logs(&self) {
        for host in &self.hosts {
            eprintln!(
                "---- agent log of {} ({}) ----\n{}",
                host.name,
                host.address,
                self.log_tail(host.index)
            );
        }
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        remove_lab(self.id);
        let left = lab_leftovers(self.id);
        if !left.is_empty() {
            eprintln!("netlab {}: could not remove {left:?}", self.id);
        }
        // The id lock is released when `_id_lock` drops, after this.
    }
}

/// An agent (or any program) running in a lab host; SIGKILLed when dropped. When dropped
/// during a panic, it prints its log's tail first.
pub struct NetAgent {
    host: usize,
    name: String,
    url: String,
    token: String,
    log_path: PathBuf,
    child: Option<Child>,
    log_shown: bool,
}

impl NetAgent {
    /// Index of the lab host it runs in.
    pub fn host(&self) -> usize {
        self.host
    }

    /// `http://<addr>:8181`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log_path, LOG_TAIL_LINES)
    }

    pub fn print_log_tail(&self) {
        eprintln!(
            "---- agent log of {} ({}) ----\n{}",
            self.name,
            self.log_path.display(),
            self.log_tail()
        );
    }

    /// The exit status, once it exited (reaped here); None while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits until `GET /v1/health` answers 200 from the root namespace; panics with the
    /// log's tail when it exits first or the timeout passes.
    pub fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/v1/health", self.url);
        loop {
            if let Some(status) = self.exited() {
                self.log_shown = true;
                panic!(
                    "agent {} exited ({status}) before answering {url}; log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if http_get(&url, Some(&self.token)).map(|(s, _)| s) == Some(200) {
                return;
            }
            if Instant::now() >= deadline {
                self.log_shown = true;
                panic!(
                    "agent {} did not answer {url} within {timeout:?}; log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(child.id(), 9);
            let _ = child.wait();
        }
    }

    /// SIGTERM (a clean stop), then reap; SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            kill(child.id(), 15);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            kill(child.id(), 9);
            let _ = child.wait();
        }
    }
}

impl Drop for NetAgent {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.log_shown {
            self.print_log_tail();
        }
        self.kill();
    }
}

// ---- internals ----

/// `ip ARGS`, panicking with the command and its stderr when it fails.
fn must(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("netlab setup: {e}"))
}

fn allocate_id() -> (u32, File) {
    IDS.allocate(sweep_dead_labs)
}

fn id_lock_file(id: u32) -> File {
    IDS.lock_file(id)
}

/// Removes what labs left behind whose id lock is free (their process is gone). Runs under
/// the counter lock, and a live lab holds its id lock from allocation on, so no live lab
/// is touched.
fn sweep_dead_labs() {
    let mut ids: Vec<u32> = lab_namespaces()
        .into_iter()
        .map(|(id, _)| id)
        .chain(lab_uplinks().into_iter().map(|(id, _)| id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let lock = id_lock_file(id);
        if lock.try_lock().is_ok() {
            remove_lab(id);
            let _ = lock.unlock();
        }
    }
}

/// Kills the processes in lab `id`'s namespaces, deletes the uplink and the namespaces
/// (their veths and the bridge go with them). Best effort, whatever exists.
fn remove_lab(id: u32) {
    let namespaces: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|(lab, _)| *lab == id)
        .map(|(_, name)| name)
        .collect();
    for ns in &namespaces {
        kill_netns_processes(ns);
    }
    let uplink = format!("kh{id}up");
    if lab_uplinks().iter().any(|(_, name)| *name == uplink) {
        if let Err(e) = ip(&["link", "del", "dev", &uplink]) {
            eprintln!("netlab cleanup: {e}");
        }
    }
    for ns in &namespaces {
        if let Err(e) = ip(&["netns", "del", ns]) {
            eprintln!("netlab cleanup: {e}");
        }
    }
}

/// The lab id of a name `kh<id><suffix>` when the rest matches `suffix_ok`.
fn parse_lab_name(name: &str, suffix_ok: impl Fn(&str) -> bool) -> Option<u32> {
    let rest = name.strip_prefix("kh")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let id = rest[..digits].parse().ok()?;
    suffix_ok(&rest[digits..]).then_some(id)
}

/// Existing namespaces of any lab: (id, name) for `kh<id>sw` and `kh<id>h<i>`.
fn lab_namespaces() -> Vec<(u32, String)> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|name| {
            parse_lab_name(name, |suffix| {
                suffix == "sw"
                    || suffix
                        .strip_prefix('h')
                        .is_some_and(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|id| (id, name.to_owned()))
        })
        .collect()
}

/// Existing root-namespace uplinks of any lab: (id, `kh<id>up`).
fn lab_uplinks() -> Vec<(u32, String)> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or_default())
        .filter_map(|name| parse_lab_name(name, |s| s == "up").map(|id| (id, name.to_owned())))
        .collect()
}

fn netns_pids(ns: &str) -> Vec<u32> {
    ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs every process in the namespace until none is left (new ones may be forked
/// while we kill). Zombies have left their namespace and are not listed.
fn kill_netns_processes(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = netns_pids(ns);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("netlab: processes {pids:?} in {ns} survive SIGKILL");
            return;
        }
        for pid in pids {
            kill(pid, 9);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when a TCP connect to `addr` is accepted or refused within a second.
fn tcp_answers(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("an IP:port");
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
