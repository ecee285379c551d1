//! A real NFS lab: Linux's own NFS server and clients in User-Mode Linux guests, for tests
//! that need a shared state directory on NFS (locks held by one host, lost with it, expired
//! by the server's lease). The test machine's kernel may have no NFS at all: each guest is a
//! Linux kernel running as an ordinary process (Debian's `user-mode-linux`, modules in
//! /usr/lib/uml/modules/<version>). Needs root, /dev/net/tun and `scripts/setup`'s packages.
//!
//! Layout of lab `<id>` (ids 1..=250, handed out under flock, so parallel test processes
//! never share one; the names differ from netns.rs's `kh<id>…` labs):
//!
//! ```text
//!  root namespace              namespace ku<id>                     guests (UML processes,
//!                                                                   run in namespace ku<id>)
//!  ku<id>up 10.202.<id>.254 ── uplink ─ br0 ─┬─ tap0 ─ vec0 of server 10.202.<id>.1
//!                                            ├─ tap1 ─ vec0 of c1     10.202.<id>.2 ...
//!  ku<id>ct 10.203.<id>.254 ── ctlup  ─ brc ─┬─ ctap0 ─ vec1 of server 10.203.<id>.1
//!                                            └─ ctap1 ─ vec1 of c1     10.203.<id>.2 ...
//! ```
//!
//! `vec0` is the lab network: NFS, agents (their APIs on port 8181 are reached from the test
//! process through `ku<id>up`), what `partition` cuts (the tap leaves the bridge; the guest's
//! NIC keeps its carrier and sees nothing). `vec1` is the control network: the harness talks
//! to guestd (scripts/lab/uml-nfs/guestd.py, port 7000) there, so `exec` works on a
//! partitioned guest too. The bridges live in a namespace of their own for the reason
//! netns.rs gives (no host firewall rules apply there).
//!
//! Guests boot the host's root read-write through hostfs (so the khutulun binary and every
//! program are at the same paths as on the host) with scripts/lab/uml-nfs/init as PID 1,
//! which gives each guest private tmpfs mounts on /tmp, /run, /mnt, /root, /var/tmp,
//! /var/lib/nfs and /srv: per-guest data belongs there (anything else a guest writes lands
//! on the host). Guest 0 is the server (`SERVER`): it exports an ext4 image (its disk
//! `ubd0`, kept across `reboot`) with the kernel's nfsd (scripts/lab/uml-nfs/nfs-server).
//! Guests 1..=N are the clients `c1`..`cN`; each mounts the export at `/mnt/state` with
//! `LabConfig::mount_options` (scripts/lab/uml-nfs/nfs-mount) and is an NFS client of its
//! own, with its own lock state. Guests have one slow vCPU each.
//!
//! The lab's files (console logs, the disk image, UML's runtime directories) are in
//! `<target>/tmp/uml-lab-<id>/`, which guests see at the same path (`UmlLab::dir`).
//!
//! Cleanup: `Drop` SIGKILLs every guest, deletes the namespace (taps and bridges go with it)
//! and the uplinks, and removes the lab's directory, also when the test panics (it prints
//! every guest's console tail first). A run killed before its `Drop` leaves things behind;
//! every `UmlLab::new` sweeps the leftovers of labs whose id lock
//! (`/tmp/khutulun-umllab-<id>.lock`, held for a lab's whole life) is free.
#![allow(dead_code)]

use super::labs::{ip, IdPool};
use super::{http_get, repo_root, BIN};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The server's guest index; clients are 1..=N.
pub const SERVER: usize = 0;
/// Where every client mounts the export.
pub const MOUNT_POINT: &str = "/mnt/state";
/// The port `spawn_agent`'s agents serve their API on (each guest has its own address).
pub const API_PORT: u16 = 8181;
/// The `--port-range` `spawn_agent` gives every agent.
pub const PORT_RANGE: &str = "20000-20099";
/// A client's agent files: `data/` (its data dir) and `agent.log`, on the guest's own tmpfs.
pub const AGENT_DIR: &str = "/tmp/khutulun";
/// guestd's port on the control network.
pub const GUESTD_PORT: u16 = 7000;

const UML: &str = "/usr/bin/linux.uml";
const UML_MODULES: &str = "/usr/lib/uml/modules";
const MAX_ID: u32 = 250;
const IDS: IdPool = IdPool {
    what: "uml lab",
    counter: COUNTER_FILE,
    lock_prefix: "/tmp/khutulun-umllab-",
    max: MAX_ID,
};
const COUNTER_FILE: &str = "/tmp/khutulun-test-umllab";
/// Generous: guests boot in ~3 s, but on a loaded 2-core machine everything is slower.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
const AGENT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
const CONSOLE_TAIL_LINES: usize = 40;

/// Why the lab cannot run here, or None when it can: root, /dev/net/tun, the UML kernel and
/// its NFS modules, the NFS and other programs the guests run, and a working `ip netns`.
pub fn uml_unavailable_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            if unsafe { libc::geteuid() } != 0 {
                return Some("the UML NFS lab needs root (taps, network namespaces)".into());
            }
            if !Path::new("/dev/net/tun").exists() {
                return Some("the UML NFS lab needs /dev/net/tun".into());
            }
            let needed: &[&[&str]] = &[
                &[UML],
                &["/usr/sbin/rpc.nfsd"],
                &["/usr/sbin/exportfs"],
                &["/usr/sbin/rpcbind", "/sbin/rpcbind"],
                &["/sbin/mount.nfs", "/usr/sbin/mount.nfs"],
                &["/sbin/modprobe", "/usr/sbin/modprobe"],
                &["/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4"],
                &["/usr/bin/python3"],
                &["/usr/bin/flock"],
            ];
            let missing: Vec<&str> = needed
                .iter()
                .filter(|alternatives| !alternatives.iter().any(|p| Path::new(p).exists()))
                .map(|alternatives| alternatives[0])
                .collect();
            if !missing.is_empty() {
                return Some(format!(
                    "the UML NFS lab needs {}: run scripts/setup as root",
                    missing.join(", ")
                ));
            }
            if uml_modules().is_none() {
                return Some(format!(
                    "no UML kernel modules with nfsd under {UML_MODULES} (reinstall user-mode-linux)"
                ));
            }
            if !super::netns::netns_available() {
                return Some("`ip netns add` does not work here".into());
            }
            None
        })
        .clone()
}

/// True when the lab can run here (see `uml_unavailable_reason`).
pub fn uml_available() -> bool {
    uml_unavailable_reason().is_none()
}

/// What to build.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Client guests `c1`..`cN` (at least 1).
    pub clients: usize,
    /// The server's NFSv4 lease (and grace period), seconds; nfsd's minimum is 10.
    pub server_lease_secs: u32,
    /// `mount -o` options of every client's `/mnt/state`; they choose the NFS version:
    /// `vers=4.2`, `vers=4.1`, `vers=4.0` or `vers=3`.
    pub mount_options: String,
    /// Memory of each guest, MiB.
    pub guest_memory_mb: u32,
    /// Size of the server's ext4 disk (a sparse file), MiB.
    pub export_size_mb: u32,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            clients: 3,
            server_lease_secs: 10,
            mount_options: "vers=4.2,lookupcache=positive".into(),
            guest_memory_mb: 256,
            export_size_mb: 512,
        }
    }
}

/// One guest: its names, addresses and taps, and its UML process.
struct Guest {
    name: String,
    ip: String,
    control_ip: String,
    tap: String,
    control_tap: String,
    state: Mutex<GuestState>,
}

#[derive(Default)]
struct GuestState {
    /// The UML process (a session leader: its helpers share its session id).
    child: Option<Child>,
    boots: u32,
    partitioned: bool,
}

/// A server and N clients, booted and mounted; everything is removed on drop. Methods take
/// `&self`: a lab can be shared by threads (e.g. to watch one guest while crashing another).
pub struct UmlLab {
    id: u32,
    config: LabConfig,
    dir: PathBuf,
    token: String,
    guests: Vec<Guest>,
    /// flock on /tmp/khutulun-umllab-<id>.lock, held while the lab lives.
    _id_lock: File,
}

impl UmlLab {
    /// Builds the network, boots every guest in parallel, starts the NFS server and mounts
    /// the export on every client; prints how long that took. Panics (printing the consoles'
    /// tails) when a step fails; what was created is removed again.
    pub fn new(config: LabConfig) -> UmlLab {
        assert!(
            (1..=200).contains(&config.clients),
            "a lab has 1 to 200 clients"
        );
        assert!(
            config.server_lease_secs >= 10,
            "nfsd's lease is at least 10 s, not {}",
            config.server_lease_secs
        );
        if let Some(reason) = uml_unavailable_reason() {
            panic!("uml lab: {reason}");
        }
        let (id, id_lock) = allocate_id();
        // Leftovers of an earlier run that had this id and was killed before its Drop.
        remove_lab(id);
        let dir = lab_dir(id);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("uml lab: create {}: {e}", dir.display()));
        let guests = (0..=config.clients)
            .map(|i| Guest {
                name: if i == SERVER {
                    "server".into()
                } else {
                    format!("c{i}")
                },
                ip: format!("10.202.{id}.{}", i + 1),
                control_ip: format!("10.203.{id}.{}", i + 1),
                tap: format!("tap{i}"),
                control_tap: format!("ctap{i}"),
                state: Mutex::new(GuestState::default()),
            })
            .collect();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let lab = UmlLab {
            id,
            config,
            dir,
            token: format!("umllab-{id}-{}-{nanos:x}", std::process::id()),
            guests,
            _id_lock: id_lock,
        };
        // From here on a panic drops `lab`, which removes whatever was created.
        lab.build_network();
        lab.make_disk();
        lab.start();
        lab
    }

    // ---- names and addresses ----

    /// The lab id: the third octet of the lab's subnets, part of every name.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// Guest indexes of the clients: 1..=N.
    pub fn clients(&self) -> RangeInclusive<usize> {
        1..=self.config.clients
    }

    /// `server`, `c1`, `c2`, ...: also the guest's host name.
    pub fn name(&self, guest: usize) -> &str {
        &self.guest(guest).name
    }

    /// The guest's address on the lab network, `10.202.<id>.<guest+1>`.
    pub fn guest_ip(&self, guest: usize) -> &str {
        &self.guest(guest).ip
    }

    pub fn server_ip(&self) -> &str {
        self.guest_ip(SERVER)
    }

    /// The guest's address on the control network (guestd), `10.203.<id>.<guest+1>`.
    pub fn control_ip(&self, guest: usize) -> &str {
        &self.guest(guest).control_ip
    }

    /// `10.202.<id>.254`: the root namespace's address on the lab network, every guest's
    /// default route.
    pub fn gateway(&self) -> String {
        format!("10.202.{}.254", self.id)
    }

    /// `http://<guest_ip>:8181`, where `spawn_agent`'s agent serves its API.
    pub fn api_url(&self, guest: usize) -> String {
        format!("http://{}:{API_PORT}", self.guest_ip(guest))
    }

    /// The namespace holding the bridges and taps (and the UML processes), `ku<id>`.
    pub fn netns(&self) -> String {
        format!("ku{}", self.id)
    }

    /// The lab's directory on the host, `<target>/tmp/uml-lab-<id>`: guests see it at the
    /// same path (it is not under their tmpfs mounts), so it is the place for files a test
    /// hands to guests. Removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API token of `spawn_agent`'s agents and of `cli`.
    pub fn token(&self) -> &str {
        &self.token
    }

    // ---- commands in guests ----

    /// Runs `/bin/sh -c COMMAND` in the guest (stdin /dev/null) and waits for it (up to
    /// 120 s, then its session is SIGKILLed and the status says signal 9). Works on a
    /// partitioned guest; panics when the guest is down or guestd does not answer. A command
    /// that leaves a background process holding its stdout would make this wait: use
    /// `spawn` for long-running processes.
    pub fn exec(&self, guest: usize, command: &str) -> Output {
        self.exec_timeout(guest, command, EXEC_TIMEOUT)
    }

    pub fn exec_timeout(&self, guest: usize, command: &str, timeout: Duration) -> Output {
        let request = json!({"op": "run", "cmd": command, "timeout": timeout.as_secs_f64()});
        let (reply, payload) = self
            .request(
                guest,
                &request,
                Duration::from_secs(15),
                timeout + Duration::from_secs(30),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "uml lab: `{command}` on {}: {e}\nconsole tail:\n{}",
                    self.name(guest),
                    self.console_tail(guest, CONSOLE_TAIL_LINES)
                )
            });
        let stdout_len = reply["stdout_len"].as_u64().unwrap_or(0) as usize;
        let stdout = payload[..stdout_len].to_vec();
        let mut stderr = payload[stdout_len..].to_vec();
        let status = match (reply["code"].as_i64(), reply["signal"].as_i64()) {
            (Some(code), _) => ExitStatus::from_raw((code as i32) << 8),
            (None, Some(signal)) => ExitStatus::from_raw(signal as i32),
            _ => ExitStatus::from_raw(9),
        };
        if reply["timed_out"] == true {
            stderr.extend_from_slice(
                format!("\n[uml lab: timed out after {timeout:?}; killed]\n").as_bytes(),
            );
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// `exec`, expecting success: returns stdout; panics with both outputs otherwise.
    pub fn ok(&self, guest: usize, command: &str) -> String {
        let out = self.exec(guest, command);
        assert!(
            out.status.success(),
            "uml lab: `{command}` on {} failed ({}):\nstdout: {}\nstderr: {}",
            self.name(guest),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `/bin/sh -c COMMAND` in the background in a session of its own (stdin
    /// /dev/null, stdout and stderr appended to `/tmp/lab/spawn-<n>.log` in the guest) and
    /// returns at once with its pid in the guest: the shell's, or the program's when the
    /// command is `exec PROGRAM ...`.
    pub fn spawn(&self, guest: usize, command: &str) -> u32 {
        self.spawn_request(guest, json!({"op": "spawn", "cmd": command}))
    }

    /// `spawn` with stdout and stderr appended to `log` (a path in the guest).
    pub fn spawn_logged(&self, guest: usize, command: &str, log: &str) -> u32 {
        self.spawn_request(guest, json!({"op": "spawn", "cmd": command, "log": log}))
    }

    fn spawn_request(&self, guest: usize, request: Value) -> u32 {
        let (reply, _) = self
            .request(
                guest,
                &request,
                Duration::from_secs(15),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|e| panic!("uml lab: spawn {request} on {}: {e}", self.name(guest)));
        reply["pid"].as_u64().expect("guestd answers a pid") as u32
    }

    /// Whether a process `spawn` started still runs (false once it exited).
    pub fn spawned_running(&self, guest: usize, pid: u32) -> bool {
        let (reply, _) = self
            .request(
                guest,
                &json!({"op": "status", "pid": pid}),
                Duration::from_secs(15),
                Duration::from_secs(30),
            )
            .unwrap_or_else(|e| panic!("uml lab: status of {pid} on {}: {e}", self.name(guest)));
        reply["running"] == true
    }

    /// Pids of the guest's processes whose command line (arguments joined by spaces)
    /// matches the regular expression `pattern` (Python's `re.search`, like `pgrep -f`),
    /// zombies and guestd left out. One round trip to guestd, no process started: a few
    /// tens of milliseconds, fine to call every 100 ms.
    pub fn pids_matching(&self, guest: usize, pattern: &str) -> Vec<u32> {
        self.try_pids_matching(guest, pattern)
            .unwrap_or_else(|e| panic!("uml lab: pids on {}: {e}", self.name(guest)))
    }

    /// For samplers: the pids matching each of `patterns`, in one round trip, with short
    /// timeouts (1 s to connect, 1 s to answer) and an error instead of a panic when the
    /// guest does not answer (it crashed a moment ago, say).
    pub fn sample_pids(&self, guest: usize, patterns: &[&str]) -> Result<Vec<Vec<u32>>, String> {
        let (reply, _) = self.request(
            guest,
            &json!({"op": "pids", "patterns": patterns}),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )?;
        let lists = reply["pids"]
            .as_array()
            .ok_or_else(|| format!("guestd answered {reply}"))?;
        Ok(lists
            .iter()
            .map(|list| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_u64().map(|p| p as u32))
                    .collect()
            })
            .collect())
    }

    /// `pids_matching`, with an error instead of a panic when the guest does not answer
    /// (it crashed a moment ago, say).
    pub fn try_pids_matching(&self, guest: usize, pattern: &str) -> Result<Vec<u32>, String> {
        let (reply, _) = self
            .request(
                guest,
                &json!({"op": "pids", "pattern": pattern}),
                Duration::from_secs(15),
                Duration::from_secs(30),
            )
            .map_err(|e| e.to_string())?;
        Ok(reply["pids"]
            .as_array()
            .map(|pids| {
                pids.iter()
                    .filter_map(|p| p.as_u64().map(|p| p as u32))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Mounts the lab's export in a client at `mountpoint` with `mount -o options` (any NFS
    /// version the server serves: 3, 4.0, 4.1, 4.2). Panics when the mount fails.
    pub fn mount(&self, guest: usize, options: &str, mountpoint: &str) {
        self.ok(
            guest,
            &format!(
                "{} {} {} {}",
                shell_quote(&script("nfs-mount")),
                self.server_ip(),
                shell_quote(options),
                shell_quote(mountpoint)
            ),
        );
    }

    // ---- failures ----

    /// SIGKILLs the guest's UML process (and its helpers): the machine stops dead, no
    /// process in it gets to clean up, its TCP connections are never closed. It stays down
    /// until `reboot`. Idempotent.
    pub fn crash(&self, guest: usize) {
        let mut state = self.state(guest);
        if let Some(mut child) = state.child.take() {
            kill_session(child.id());
            let _ = child.wait();
        }
    }

    /// Boots a guest again (crashing it first when it is up): the server serves its disk
    /// again (clients get a grace period of a lease to reclaim their state); a client
    /// mounts `/mnt/state` again (with nothing else running: it starts from its init).
    pub fn reboot(&self, guest: usize) {
        self.crash(guest);
        let started = Instant::now();
        self.boot(guest);
        self.wait_up(guest);
        let up = started.elapsed();
        if guest == SERVER {
            self.serve_nfs();
        } else {
            self.mount(guest, &self.config.mount_options, MOUNT_POINT);
        }
        eprintln!(
            "uml lab {}: {} rebooted: up in {:.1} s, {} in {:.1} s",
            self.id,
            self.name(guest),
            up.as_secs_f64(),
            if guest == SERVER {
                "serving NFS"
            } else {
                "mounted"
            },
            started.elapsed().as_secs_f64()
        );
    }

    /// True while the guest's UML process runs.
    pub fn is_up(&self, guest: usize) -> bool {
        let mut state = self.state(guest);
        match state.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Cuts the guest off the lab network: its tap leaves the bridge. The guest's NIC keeps
    /// its carrier (it cannot tell), its packets go nowhere, nothing reaches it (its agent's
    /// API neither); `exec` still works (control network). Nothing is killed.
    pub fn partition(&self, guest: usize) {
        let mut state = self.state(guest);
        must(&[
            "-n",
            &self.netns(),
            "link",
            "set",
            "dev",
            &self.guest(guest).tap,
            "nomaster",
        ]);
        state.partitioned = true;
    }

    /// Undoes `partition`.
    pub fn heal(&self, guest: usize) {
        let mut state = self.state(guest);
        must(&[
            "-n",
            &self.netns(),
            "link",
            "set",
            "dev",
            &self.guest(guest).tap,
            "master",
            "br0",
        ]);
        state.partitioned = false;
    }

    pub fn is_partitioned(&self, guest: usize) -> bool {
        self.state(guest).partitioned
    }

    // ---- consoles ----

    /// The guest's console on the host: kernel messages (NFS complaints such as "server ...
    /// not responding" or "lost 1 locks" among them), init's and guestd's output; every
    /// boot appended after a `==== uml lab ... boot N ====` line.
    pub fn console_path(&self, guest: usize) -> PathBuf {
        self.dir.join(format!("{}.console.log", self.name(guest)))
    }

    pub fn console_log(&self, guest: usize) -> String {
        std::fs::read_to_string(self.console_path(guest)).unwrap_or_default()
    }

    /// The console's lines that contain `needle`.
    pub fn console_lines(&self, guest: usize, needle: &str) -> Vec<String> {
        self.console_log(guest)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    pub fn console_tail(&self, guest: usize, lines: usize) -> String {
        tail(&self.console_log(guest), lines)
    }

    /// Prints the tail of every guest's console to stderr.
    pub fn print_consoles(&self) {
        for (i, guest) in self.guests.iter().enumerate() {
            eprintln!(
                "---- console of {} ({}) ----\n{}",
                guest.name,
                guest.ip,
                self.console_tail(i, CONSOLE_TAIL_LINES)
            );
        }
    }

    // ---- agents ----

    /// Starts `khutulun agent` in a client guest, in the background:
    /// `--state-dir /mnt/state` (the NFS mount, shared by every client) `--data-dir
    /// /tmp/khutulun/data` (the guest's own tmpfs) `--host c<i> --api <ip>:8181 --address
    /// <ip> --port-range 20000-20099`, then `extra_args`; the lab token as KHUTULUN_TOKEN;
    /// output appended to /tmp/khutulun/agent.log in the guest (`agent_log`). Waits until
    /// `GET /v1/health` answers from the test process (60 s, then panics with the log's
    /// tail). Returns the agent's pid in the guest.
    pub fn spawn_agent(&self, guest: usize, extra_args: &[&str]) -> u32 {
        self.spawn_agent_with(BIN, guest, extra_args)
    }

    /// `spawn_agent` with another khutulun binary (one the guests can see: under the lab's
    /// directory, say), e.g. an older build to compare with.
    pub fn spawn_agent_with(&self, bin: &str, guest: usize, extra_args: &[&str]) -> u32 {
        assert_ne!(guest, SERVER, "agents run in clients");
        let ip = self.guest_ip(guest);
        let mut command = format!(
            "mkdir -p {AGENT_DIR}/data && KHUTULUN_TOKEN={} exec {} agent --state-dir {MOUNT_POINT} \
             --data-dir {AGENT_DIR}/data --host {} --api {ip}:{API_PORT} --address {ip} \
             --port-range {PORT_RANGE}",
            shell_quote(&self.token),
            shell_quote(bin),
            self.name(guest),
        );
        for arg in extra_args {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        let pid = self.spawn_logged(guest, &command, &format!("{AGENT_DIR}/agent.log"));
        let url = format!("{}/v1/health", self.api_url(guest));
        let deadline = Instant::now() + AGENT_HEALTH_TIMEOUT;
        loop {
            if http_get(&url, Some(&self.token)).map(|(s, _)| s) == Some(200) {
                return pid;
            }
            if !self.spawned_running(guest, pid) || Instant::now() >= deadline {
                panic!(
                    "uml lab: the agent in {} did not answer {url} (running: {}); log tail:\n{}",
                    self.name(guest),
                    self.spawned_running(guest, pid),
                    tail(&self.agent_log(guest), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The client's agent log (every agent started there, in order).
    pub fn agent_log(&self, guest: usize) -> String {
        String::from_utf8_lossy(
            &self
                .exec(guest, &format!("cat {AGENT_DIR}/agent.log"))
                .stdout,
        )
        .into_owned()
    }

    /// Runs the CLI from the test process against a client's agent (`--agent
    /// http://<ip>:8181`, the lab token as KHUTULUN_TOKEN).
    pub fn cli(&self, guest: usize, args: &[&str]) -> Output {
        self.cli_with(BIN, guest, args)
    }

    /// `cli` with another khutulun binary.
    pub fn cli_with(&self, bin: &str, guest: usize, args: &[&str]) -> Output {
        let mut command = Command::new(bin);
        command
            .args(["--agent", &self.api_url(guest)])
            .args(args)
            .env("KHUTULUN_TOKEN", &self.token)
            .env_remove("KHUTULUN_AGENT")
            .stdin(Stdio::null());
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
        command.output().expect("uml lab: run the CLI")
    }

    // ---- internals ----

    fn guest(&self, guest: usize) -> &Guest {
        self.guests.get(guest).unwrap_or_else(|| {
            panic!(
                "uml lab has guests 0..={} (0 is the server), no {guest}",
                self.config.clients
            )
        })
    }

    /// The guest's state, also after a panic elsewhere poisoned the lock (Drop must work).
    fn state(&self, guest: usize) -> MutexGuard<'_, GuestState> {
        self.guest(guest)
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn disk(&self) -> PathBuf {
        self.dir.join("export.ext4")
    }

    fn build_network(&self) {
        let id = self.id;
        let ns = self.netns();
        must(&["netns", "add", &ns]);
        must(&["-n", &ns, "link", "set", "dev", "lo", "up"]);
        for (bridge, uplink, peer, address) in [
            ("br0", format!("ku{id}up"), "uplink", self.gateway()),
            (
                "brc",
                format!("ku{id}ct"),
                "ctlup",
                format!("10.203.{id}.254"),
            ),
        ] {
            must(&[
                "-n",
                &ns,
                "link",
                "add",
                bridge,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ]);
            must(&["-n", &ns, "link", "set", "dev", bridge, "up"]);
            must(&[
                "link", "add", &uplink, "type", "veth", "peer", "name", peer, "netns", &ns,
            ]);
            must(&[
                "-n", &ns, "link", "set", "dev", peer, "master", bridge, "up",
            ]);
            must(&["addr", "add", &format!("{address}/24"), "dev", &uplink]);
            must(&["link", "set", "dev", &uplink, "up"]);
        }
        for guest in &self.guests {
            for (tap, bridge) in [(&guest.tap, "br0"), (&guest.control_tap, "brc")] {
                must(&["-n", &ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
                must(&["-n", &ns, "link", "set", "dev", tap, "master", bridge, "up"]);
            }
        }
    }

    /// The server's disk: a sparse file with a fresh ext4 (milliseconds; nothing cached).
    fn make_disk(&self) {
        let disk = self.disk();
        let file = File::create(&disk)
            .unwrap_or_else(|e| panic!("uml lab: create {}: {e}", disk.display()));
        file.set_len(u64::from(self.config.export_size_mb) << 20)
            .expect("uml lab: size the disk image");
        drop(file);
        let out = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "khutulun-lab"])
            .arg(&disk)
            .env(
                "PATH",
                "/usr/sbin:/usr/bin:/sbin:/bin", // mkfs.ext4 is in sbin
            )
            .output()
            .expect("uml lab: run mkfs.ext4");
        assert!(
            out.status.success(),
            "uml lab: mkfs.ext4 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Boots every guest in parallel; the server serves NFS as soon as it is up, the clients
    /// mount when it does.
    fn start(&self) {
        let started = Instant::now();
        for guest in 0..self.guests.len() {
            self.boot(guest);
        }
        let (server_up, serving, clients_up) = std::thread::scope(|scope| {
            let server = scope.spawn(|| {
                self.wait_up(SERVER);
                let up = started.elapsed();
                self.serve_nfs();
                (up, started.elapsed())
            });
            let clients: Vec<_> = self
                .clients()
                .map(|c| {
                    scope.spawn(move || {
                        self.wait_up(c);
                        started.elapsed()
                    })
                })
                .collect();
            let (up, serving) = join(server);
            let clients_up: Vec<Duration> = clients.into_iter().map(join).collect();
            (up, serving, clients_up)
        });
        let booted = started.elapsed();
        std::thread::scope(|scope| {
            let mounts: Vec<_> = self
                .clients()
                .map(|c| {
                    scope.spawn(move || self.mount(c, &self.config.mount_options, MOUNT_POINT))
                })
                .collect();
            mounts.into_iter().for_each(join);
        });
        let mounted = started.elapsed();
        // A fresh server's lockd has a grace period of its own (3 s; it holds back NFSv4
        // locks too): the first lock waits it out, so tests' lock timings start clean.
        let ready = self.exec(1, &format!("flock -n {MOUNT_POINT}/.lab-ready -c true"));
        if !ready.status.success() {
            eprintln!(
                "uml lab {}: the first lock on c1 failed: {}",
                self.id,
                String::from_utf8_lossy(&ready.stderr).trim()
            );
        }
        let secs = |d: Duration| format!("{:.1}", d.as_secs_f64());
        eprintln!(
            "uml lab {}: {} guests booted in {} s (server up {} s, nfsd serving {} s; clients up {} s), \
             {} clients mounted {} ({}) at {} s, first lock at {} s",
            self.id,
            self.guests.len(),
            secs(booted),
            secs(server_up),
            secs(serving),
            clients_up.iter().map(|d| secs(*d)).collect::<Vec<_>>().join("/"),
            self.config.clients,
            MOUNT_POINT,
            self.config.mount_options,
            secs(mounted),
            secs(started.elapsed()),
        );
    }

    /// Starts the guest's UML process in the lab's namespace, in a session of its own.
    fn boot(&self, guest: usize) {
        let g = self.guest(guest);
        let mut state = self.state(guest);
        assert!(state.child.is_none(), "uml lab: {} is already up", g.name);
        state.boots += 1;
        let console = self.console_path(guest);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console)
            .unwrap_or_else(|e| panic!("uml lab: open {}: {e}", console.display()));
        let _ = writeln!(
            log,
            "==== uml lab {}: boot {} of {} ({}, control {}) ====",
            self.id, state.boots, g.name, g.ip, g.control_ip
        );
        let uml_dir = self.dir.join("uml");
        let _ = std::fs::create_dir_all(&uml_dir);
        let mut args = vec![
            // UML's runtime directory (pid file, mconsole socket): uml_dir/umid.
            format!("umid={}-{}", g.name, state.boots),
            format!("uml_dir={}", uml_dir.display()),
            format!("mem={}M", self.config.guest_memory_mb),
            "root=/dev/root".into(),
            "rootfstype=hostfs".into(),
            "rootflags=/".into(),
            "rw".into(),
            format!("init={}", script("init")),
            format!(
                "vec0:transport=tap,ifname={},mac=52:54:00:{:02x}:00:{:02x}",
                g.tap, self.id, guest
            ),
            format!(
                "vec1:transport=tap,ifname={},mac=52:54:00:{:02x}:01:{:02x}",
                g.control_tap, self.id, guest
            ),
            // The console (kernel messages, init, guestd) goes to the UML process's stdout.
            "con=null".into(),
            "con0=null,fd:1".into(),
            "ssl=null".into(),
            // For init (scripts/lab/uml-nfs/init).
            format!("lab_name={}", g.name),
            format!("lab_ip={}", g.ip),
            format!("lab_gw={}", self.gateway()),
            format!("lab_ctl={}", g.control_ip),
            format!("lab_port={GUESTD_PORT}"),
            // What the guest must see of the host even where its private tmpfs mounts
            // cover it (a checkout under /tmp): the repository, the binary, the lab's files.
            format!(
                "lab_keep={}:{}:{}",
                repo_root().display(),
                Path::new(BIN)
                    .parent()
                    .expect("the binary's directory")
                    .display(),
                self.dir.display()
            ),
        ];
        if guest == SERVER {
            args.push(format!("ubd0={}", self.disk().display()));
        }
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.netns(), UML])
            .args(&args)
            .current_dir(&self.dir)
            // Guest memory is a file UML maps from TMPDIR: keep it in memory.
            .env("TMPDIR", "/dev/shm")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("uml lab: clone console handle"))
            .stderr(log);
        // A session of its own: `crash` kills it and every helper process by session id.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("uml lab: cannot start {UML} for {}: {e}", g.name));
        state.child = Some(child);
    }

    /// Waits until guestd answers; panics with the console's tail when the guest exits or
    /// the boot timeout passes.
    fn wait_up(&self, guest: usize) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            {
                let mut state = self.state(guest);
                let exited = match state.child.as_mut() {
                    Some(child) => child.try_wait().ok().flatten(),
                    None => panic!("uml lab: {} is not running", self.name(guest)),
                };
                if let Some(status) = exited {
                    state.child = None;
                    drop(state);
                    panic!(
                        "uml lab: {} exited while booting ({status}); console tail:\n{}",
                        self.name(guest),
                        self.console_tail(guest, CONSOLE_TAIL_LINES)
                    );
                }
            }
            if self
                .request(
                    guest,
                    &json!({"op": "ping"}),
                    Duration::ZERO,
                    Duration::from_secs(10),
                )
                .is_ok()
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "uml lab: {} did not come up within {BOOT_TIMEOUT:?}; console tail:\n{}",
                    self.name(guest),
                    self.console_tail(guest, CONSOLE_TAIL_LINES)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn serve_nfs(&self) {
        self.ok(
            SERVER,
            &format!(
                "{} {}",
                shell_quote(&script("nfs-server")),
                self.config.server_lease_secs
            ),
        );
    }

    /// One request to the guest's guestd: (its JSON reply, the bytes that follow it).
    /// Connecting is retried for `connect_for` (a guest that just booted may not answer
    /// ARP yet; short attempts keep TCP's SYN backoff out of it).
    fn request(
        &self,
        guest: usize,
        request: &Value,
        connect_for: Duration,
        read_timeout: Duration,
    ) -> Result<(Value, Vec<u8>), String> {
        if self.state(guest).child.is_none() {
            return Err(format!("{} is down (crashed)", self.name(guest)));
        }
        let ip = self.control_ip(guest);
        let addr: SocketAddr = format!("{ip}:{GUESTD_PORT}").parse().expect("an address");
        let deadline = Instant::now() + connect_for;
        let stream = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("guestd at {addr} does not answer: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(read_timeout))
            .map_err(|e| e.to_string())?;
        let mut line = serde_json::to_vec(request).expect("JSON");
        line.push(b'\n');
        (&stream)
            .write_all(&line)
            .map_err(|e| format!("send to guestd: {e}"))?;
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| format!("read from guestd: {e}"))?;
        if header.is_empty() {
            return Err("guestd closed the connection without answering".into());
        }
        let reply: Value = serde_json::from_str(&header)
            .map_err(|e| format!("guestd answered no JSON ({e}): {header}"))?;
        if let Some(error) = reply.get("error") {
            return Err(format!("guestd: {error}"));
        }
        let len =
            reply["stdout_len"].as_u64().unwrap_or(0) + reply["stderr_len"].as_u64().unwrap_or(0);
        let mut payload = vec![0; len as usize];
        reader
            .read_exact(&mut payload)
            .map_err(|e| format!("read output from guestd: {e}"))?;
        Ok((reply, payload))
    }
}

impl Drop for UmlLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_consoles();
        }
        for guest in 0..self.guests.len() {
            self.crash(guest);
        }
        remove_lab(self.id);
        let left = lab_leftovers(self.id);
        if !left.is_empty() {
            eprintln!("uml lab {}: could not remove {left:?}", self.id);
        }
        // The id lock is released when `_id_lock` drops, after this.
    }
}

/// Names (namespace, root-namespace links, directory) that lab `id` owns and that exist
/// right now. Empty after the lab is dropped.
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
    if lab_dir(id).exists() {
        names.push(lab_dir(id).display().to_string());
    }
    names
}

/// `'text'` for /bin/sh.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A script of scripts/lab/uml-nfs (guests see the repository at the same path).
pub fn script(name: &str) -> String {
    repo_root()
        .join("scripts/lab/uml-nfs")
        .join(name)
        .display()
        .to_string()
}

fn lab_dir(id: u32) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("uml-lab-{id}"))
}

/// The version directory of the UML kernel's modules that has nfsd.
fn uml_modules() -> Option<PathBuf> {
    std::fs::read_dir(UML_MODULES)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|dir| dir.join("kernel/fs/nfsd/nfsd.ko").exists())
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn must(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("uml lab: {e}"))
}

fn allocate_id() -> (u32, File) {
    IDS.allocate(sweep_dead_labs)
}

fn id_lock_file(id: u32) -> File {
    IDS.lock_file(id)
}

/// Removes what labs left behind whose id lock is free (their process is gone). Runs under
/// the counter lock; a live lab holds its id lock from allocation on.
fn sweep_dead_labs() {
    let mut ids: Vec<u32> = lab_namespaces()
        .into_iter()
        .map(|(id, _)| id)
        .chain(lab_uplinks().into_iter().map(|(id, _)| id))
        .chain(lab_dirs())
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

/// Kills every process in lab `id`'s namespace (its UML guests), deletes the uplinks and
/// the namespace (taps and bridges go with it) and the lab's directory. Best effort.
fn remove_lab(id: u32) {
    let ns = format!("ku{id}");
    let has_ns = lab_namespaces().iter().any(|(_, name)| *name == ns);
    if has_ns {
        kill_netns_processes(&ns);
    }
    for (lab, uplink) in lab_uplinks() {
        if lab == id {
            if let Err(e) = ip(&["link", "del", "dev", &uplink]) {
                eprintln!("uml lab cleanup: {e}");
            }
        }
    }
    if has_ns {
        if let Err(e) = ip(&["netns", "del", &ns]) {
            eprintln!("uml lab cleanup: {e}");
        }
    }
    let dir = lab_dir(id);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("uml lab cleanup: remove {}: {e}", dir.display());
        }
    }
}

/// The lab id of `ku<id><suffix>` when the rest matches `suffix_ok`.
fn parse_lab_name(name: &str, suffix_ok: impl Fn(&str) -> bool) -> Option<u32> {
    let rest = name.strip_prefix("ku")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let id = rest[..digits].parse().ok()?;
    suffix_ok(&rest[digits..]).then_some(id)
}

/// Existing lab namespaces: (id, `ku<id>`).
fn lab_namespaces() -> Vec<(u32, String)> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|name| parse_lab_name(name, str::is_empty).map(|id| (id, name.to_owned())))
        .collect()
}

/// Existing root-namespace uplinks: (id, `ku<id>up` or `ku<id>ct`).
fn lab_uplinks() -> Vec<(u32, String)> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or_default())
        .filter_map(|name| {
            parse_lab_name(name, |s| s == "up" || s == "ct").map(|id| (id, name.to_owned()))
        })
        .collect()
}

/// Ids of existing lab directories, `<target>/tmp/uml-lab-<id>`.
fn lab_dirs() -> Vec<u32> {
    std::fs::read_dir(env!("CARGO_TARGET_TMPDIR"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_prefix("uml-lab-")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs every process in the namespace until none is left.
fn kill_netns_processes(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<u32> = ip(&["netns", "pids", ns])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("uml lab: processes {pids:?} in {ns} survive SIGKILL");
            return;
        }
        for pid in pids {
            super::kill(pid, 9);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs every live process of session `sid` (a UML kernel and its helpers) until none
/// is left.
fn kill_session(sid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = session_pids(sid);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("uml lab: processes {pids:?} of session {sid} survive SIGKILL");
            return;
        }
        for pid in pids {
            super::kill(pid, 9);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of the processes in session `sid` that are not zombies.
fn session_pids(sid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command's ")": state ppid pgrp session ...
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.len() > 3
                && !matches!(fields[0], "Z" | "X")
                && fields[3].parse::<u32>() == Ok(sid)
        })
        .collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
