//! Exposure in the host firewall, against the real firewalld: exposed endpoints' ports are
//! opened with firewall-cmd while their instances run and closed on delete; without
//! firewalld the deploy succeeds and the agent says why the port was not opened.
//!
//! firewalld must never run on the test machine itself (it would take over the host's
//! nftables/iptables and break podman's and docker's networking). Each test runs its own:
//! in a network namespace of its own (so its rules apply there only), on a private D-Bus
//! system bus (a `dbus-daemon` with a minimal config, listening on a socket in a temporary
//! directory), with a private system configuration (`--system-config`). The agent, the CLI
//! and the test's own firewall-cmd calls stay in the root namespace and reach that
//! firewalld through `DBUS_SYSTEM_BUS_ADDRESS`: firewall-cmd only talks D-Bus.

mod common;

use common::netns::netns_available;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The agent inherits DBUS_SYSTEM_BUS_ADDRESS from the test process: tests that set it
/// never overlap (nextest runs each test in a process of its own; `cargo test` in threads).
static ENV: Mutex<()> = Mutex::new(());

const NETNS_PREFIX: &str = "khfw";

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
      capabilities:
        # Exposed by its own flag: no `port`, so any free port is reserved.
        endpoint: { properties: { expose: true } }
      requirements:
        - connection: { node: db, relationship: { properties: { expose: true } } }
        - connection: cache
    db:
      # Exposed by the connection that targets it.
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
    cache:
      # Targeted by a plain connection: a port, but not exposed.
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
"#;

/// A firewalld of the test's own: private bus, own network namespace, own configuration.
/// Stopped (and its namespace removed) when dropped.
struct Firewalld {
    dir: tempfile::TempDir,
    netns: String,
    bus: Option<Child>,
    daemon: Option<Child>,
}

impl Firewalld {
    /// Starts it and waits until `firewall-cmd --state` says `running`; Err says why it
    /// could not start (the caller prints it and skips).
    fn start() -> Result<Firewalld, String> {
        for program in ["firewalld", "firewall-cmd", "dbus-daemon"] {
            if which(program).is_none() {
                return Err(format!(
                    "{program} is not installed (scripts/setup installs firewalld and dbus)"
                ));
            }
        }
        if !netns_available() {
            return Err("network namespaces need root and a working `ip netns`".into());
        }
        sweep_leftovers();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let netns = format!("{NETNS_PREFIX}{}", std::process::id());
        let mut fw = Firewalld {
            dir,
            netns,
            bus: None,
            daemon: None,
        };
        fw.spawn()?;
        Ok(fw)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path().to_owned();
        // A system bus that lets everyone own names and send to anyone: the test runs as
        // root, and firewalld then checks the caller's uid itself (no polkit on this bus).
        std::fs::write(
            dir.join("bus.conf"),
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={}</listen>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#,
                self.socket().display()
            ),
        )
        .map_err(|e| e.to_string())?;
        // The system configuration (normally /etc/firewalld): only firewalld.conf, so the
        // host's own settings (another default zone, another backend) do not matter.
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| e.to_string())?;
        std::fs::write(
            etc.join("firewalld.conf"),
            "DefaultZone=public\nFirewallBackend=nftables\nCleanupOnExit=yes\nLockdown=no\nIPv6_rpfilter=no\nLogDenied=off\n",
        )
        .map_err(|e| e.to_string())?;

        let bus_log = std::fs::File::create(dir.join("dbus.log")).map_err(|e| e.to_string())?;
        self.bus = Some(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", dir.join("bus.conf").display()))
                .arg("--nofork")
                .stdin(Stdio::null())
                .stdout(bus_log.try_clone().map_err(|e| e.to_string())?)
                .stderr(bus_log)
                .spawn()
                .map_err(|e| format!("cannot start dbus-daemon: {e}"))?,
        );
        if eventually(Duration::from_secs(10), || {
            self.socket().exists().then_some(())
        })
        .is_none()
        {
            return Err(format!(
                "dbus-daemon did not create {}; its log:\n{}",
                self.socket().display(),
                self.file("dbus.log")
            ));
        }

        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output();
            match out {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(format!(
                    "ip {args:?}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => Err(format!("ip {args:?}: {e}")),
            }
        };
        ip(&["netns", "add", &self.netns])?;
        ip(&["-n", &self.netns, "link", "set", "dev", "lo", "up"])?;

        let log = std::fs::File::create(dir.join("firewalld.log")).map_err(|e| e.to_string())?;
        self.daemon = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.netns, "firewalld"])
                .args(["--nofork", "--nopid", "--log-target", "console"])
                .arg("--system-config")
                .arg(&etc)
                .env("DBUS_SYSTEM_BUS_ADDRESS", self.address())
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start firewalld: {e}"))?,
        );
        let started = Instant::now();
        loop {
            let state = self.cmd(&["--state"]);
            if state.0 && state.1.trim() == "running" {
                eprintln!(
                    "firewalld running in netns {} on {} after {:?}",
                    self.netns,
                    self.address(),
                    started.elapsed()
                );
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "firewalld exited ({status}) before it ran; its log:\n{}",
                    self.file("firewalld.log")
                ));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "firewalld did not run within 30 s (firewall-cmd --state: {}); its log:\n{}",
                    state.1.trim(),
                    self.file("firewalld.log")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("bus")
    }

    /// The value of DBUS_SYSTEM_BUS_ADDRESS that reaches this firewalld.
    fn address(&self) -> String {
        format!("unix:path={}", self.socket().display())
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// firewall-cmd against this firewalld: (success, stdout + stderr).
    fn cmd(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("firewall-cmd")
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.address())
            .output()
            .expect("run firewall-cmd");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `firewall-cmd --list-ports` of the default zone: e.g. ["20001/tcp"].
    fn ports(&self) -> Vec<String> {
        let (ok, text) = self.cmd(&["--list-ports"]);
        assert!(ok, "firewall-cmd --list-ports failed: {text}");
        text.split_whitespace().map(str::to_owned).collect()
    }
}

impl Firewalld {
    /// Stops firewalld (SIGTERM, as a service manager would); its bus stays.
    fn stop_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            kill(daemon.id(), 15);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(daemon.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

impl Drop for Firewalld {
    fn drop(&mut self) {
        self.stop_daemon();
        if let Some(mut bus) = self.bus.take() {
            let _ = bus.kill();
            let _ = bus.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        if std::thread::panicking() {
            eprintln!(
                "---- firewalld log ----\n{}\n---- dbus-daemon log ----\n{}",
                self.file("firewalld.log"),
                self.file("dbus.log")
            );
        }
    }
}

/// Namespaces `khfw<pid>` of test processes that were killed before their Drop: what runs
/// in them (their firewalld) is stopped and the namespace removed.
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse() {
                    kill(pid, 9);
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn port_of(agent: &Agent, node: &str) -> u64 {
    agent.instance("exposed", node)["ports"]["endpoint"]
        .as_u64()
        .unwrap_or_else(|| panic!("{node} has a reserved port"))
}

fn events_of(agent: &Agent, kind: &str) -> Vec<Value> {
    agent
        .events()
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

/// "web 20001/tcp, db 20002/tcp" of port events.
fn summary(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("{} {}/tcp", e["node"].as_str().unwrap_or("?"), e["port"]))
        .collect::<Vec<_>>()
        .join(", ")
}

fn deploy(agent: &Agent) -> tempfile::TempDir {
    let dir = template_dir(&[("service.yaml", TEMPLATE)]);
    agent.ok(&["deploy", "exposed", dir.path().to_str().unwrap(), "--wait"]);
    dir
}

#[test]
fn exposed_ports_are_opened_in_firewalld_while_running_and_closed_on_delete() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let mut firewalld = match Firewalld::start() {
        Ok(f) => f,
        Err(why) => {
            eprintln!("SKIPPED: firewalld cannot start on this machine: {why}");
            return;
        }
    };
    assert!(firewalld.ports().is_empty(), "{:?}", firewalld.ports());
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", firewalld.address());
    let mut agent = Agent::start();

    let _package = deploy(&agent);
    let (web, db, cache) = (
        port_of(&agent, "web"),
        port_of(&agent, "db"),
        port_of(&agent, "cache"),
    );
    let open = firewalld.ports();
    assert!(open.contains(&format!("{web}/tcp")), "web: {open:?}");
    assert!(open.contains(&format!("{db}/tcp")), "db: {open:?}");
    assert!(
        !open.contains(&format!("{cache}/tcp")),
        "cache is not exposed: {open:?}"
    );
    let opened = events_of(&agent, "port_opened");
    for (node, port) in [("web", web), ("db", db)] {
        assert!(
            opened
                .iter()
                .any(|e| e["node"] == node && e["port"] == port && e["endpoint"] == "endpoint"),
            "no port_opened for {node}: {opened:?}"
        );
    }
    assert_eq!(opened.len(), 2, "{opened:?}");
    eprintln!("opened: {}", summary(&opened));
    assert!(events_of(&agent, "port_not_opened").is_empty());

    // firewalld loses the runtime rule (as on a reload) while the agent is down: the agent
    // that adopts the running instance opens it again.
    agent.stop();
    let (ok, said) = firewalld.cmd(&["--remove-port", &format!("{web}/tcp")]);
    assert!(ok, "{said}");
    agent.spawn();
    let reopened = eventually(Duration::from_secs(20), || {
        firewalld
            .ports()
            .contains(&format!("{web}/tcp"))
            .then_some(())
    });
    assert!(
        reopened.is_some(),
        "web's port not opened again after adoption: {:?}\n{}",
        firewalld.ports(),
        agent.log()
    );
    assert!(events_of(&agent, "instance_adopted").len() >= 3);

    agent.ok(&["delete", "exposed", "--wait"]);
    let open = firewalld.ports();
    assert!(
        !open.contains(&format!("{web}/tcp")) && !open.contains(&format!("{db}/tcp")),
        "still open after delete: {open:?}"
    );
    let closed = events_of(&agent, "port_closed");
    eprintln!("closed: {}", summary(&closed));
    for (node, port) in [("web", web), ("db", db)] {
        assert!(
            closed
                .iter()
                .any(|e| e["node"] == node && e["port"] == port),
            "no port_closed for {node}: {closed:?}"
        );
    }

    // firewalld stopped, its bus still there (a host whose firewalld is off): the deploy
    // succeeds and the agent says why the port stays closed.
    firewalld.stop_daemon();
    let (ok, said) = firewalld.cmd(&["--state"]);
    assert!(!ok && said.contains("not running"), "{said}");
    let _package = deploy(&agent);
    let web = port_of(&agent, "web");
    let notes = events_of(&agent, "port_not_opened");
    let note = notes
        .iter()
        .find(|e| e["node"] == "web" && e["port"] == web)
        .unwrap_or_else(|| panic!("no port_not_opened for web: {notes:?}"));
    let message = note["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("because firewalld is not running")
            && message.contains("firewall-cmd says: not running"),
        "{message}"
    );
    eprintln!("with firewalld stopped: {message}");
    agent.ok(&["delete", "exposed", "--wait"]);
    eprintln!("firewalld exposure test took {:?}", t0.elapsed());
}

#[test]
fn without_firewalld_the_deploy_succeeds_and_says_the_port_was_not_opened() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    // A system bus address where nothing listens: no firewalld can be running.
    let nowhere = tempfile::tempdir().unwrap();
    let socket: &Path = &nowhere.path().join("no-bus");
    std::env::set_var(
        "DBUS_SYSTEM_BUS_ADDRESS",
        format!("unix:path={}", socket.display()),
    );
    let agent = Agent::start();

    let _package = deploy(&agent);
    for i in agent.instances("exposed") {
        assert_eq!(i["state"], "running", "{i}");
    }
    let web = port_of(&agent, "web");
    let db = port_of(&agent, "db");
    let notes = events_of(&agent, "port_not_opened");
    for (node, port) in [("web", web), ("db", db)] {
        let note = notes
            .iter()
            .find(|e| e["node"] == node && e["port"] == port)
            .unwrap_or_else(|| panic!("no port_not_opened for {node}: {notes:?}"));
        let message = note["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("port {port}/tcp was not opened"))
                && message.contains("because firewalld is not running"),
            "{message}"
        );
    }
    assert_eq!(notes.len(), 2, "cache is not exposed: {notes:?}");
    eprintln!("note: {}", notes[0]["message"]);
    assert!(events_of(&agent, "port_opened").is_empty());
    let log = agent.log();
    assert!(
        log.contains(&format!(
            "port {web}/tcp was not opened in the host firewall because firewalld is not running"
        )),
        "{log}"
    );

    // A restart of the workload does not repeat the note.
    let pid = agent.instance("exposed", "web")["pid"].as_u64().unwrap() as u32;
    kill(pid, 9);
    eventually(Duration::from_secs(10), || {
        let i = agent.instance("exposed", "web");
        (i["state"] == "running" && i["pid"].as_u64() != Some(pid as u64)).then_some(())
    })
    .expect("web restarted");
    let again: Vec<Value> = events_of(&agent, "port_not_opened")
        .into_iter()
        .filter(|e| e["node"] == "web")
        .collect();
    assert_eq!(again.len(), 1, "{again:?}");

    agent.ok(&["delete", "exposed", "--wait"]);
    assert!(events_of(&agent, "port_closed").is_empty());
    eprintln!("no-firewalld test took {:?}", t0.elapsed());
}
