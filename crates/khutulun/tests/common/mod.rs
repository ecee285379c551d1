//! Test harness: real agents as child processes on loopback, driven by the real CLI.
#![allow(dead_code)]

pub mod freezefs;
pub mod labs;
pub mod netns;
pub mod uml;

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_khutulun");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A port range of its own for every agent, so tests run in parallel (nextest runs each
/// test in its own process): a counter in /tmp under flock hands out blocks of 30000-39999.
pub fn port_range(size: u16) -> (u16, u16) {
    use std::io::{Read, Seek, Write};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open("/tmp/khutulun-test-ports")
        .unwrap();
    file.lock().unwrap();
    let mut text = String::new();
    (&file).read_to_string(&mut text).unwrap();
    let next: u16 = text.trim().parse().unwrap_or(0);
    let first = if next < 30000 || next + size > 39999 {
        30000
    } else {
        next
    };
    (&file).seek(std::io::SeekFrom::Start(0)).unwrap();
    file.set_len(0).unwrap();
    write!(&file, "{}", first + size).unwrap();
    file.unlock().unwrap();
    (first, first + size - 1)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One agent with its own state and data directories, stopped when dropped.
pub struct Agent {
    pub dir: tempfile::TempDir,
    /// `unix:<data>/agent.sock` without a token, else `http://127.0.0.1:<port>`.
    pub url: String,
    /// The TCP address, served only with a token.
    pub api: Option<String>,
    pub token: Option<String>,
    pub port_range: String,
    pub extra_args: Vec<String>,
    /// Extra environment of the agent process (e.g. a crash point).
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
    /// A state directory elsewhere than `<dir>/state` (e.g. on a test filesystem).
    pub state_override: Option<PathBuf>,
}

impl Agent {
    pub fn start() -> Agent {
        Agent::start_with(None, port_range(20))
    }

    pub fn start_with(token: Option<&str>, range: (u16, u16)) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        // Without a token an agent serves only its Unix socket (as a user's would).
        let api = token.map(|_| format!("127.0.0.1:{}", free_port()));
        let url = match &api {
            Some(api) => format!("http://{api}"),
            None => format!("unix:{}", dir.path().join("data/agent.sock").display()),
        };
        let mut agent = Agent {
            dir,
            url,
            api,
            token: token.map(str::to_owned),
            port_range: format!("{}-{}", range.0, range.1),
            extra_args: Vec::new(),
            env: Vec::new(),
            child: None,
            state_override: None,
        };
        agent.spawn();
        agent
    }

    /// An agent whose state directory is `state`, started with extra `agent` arguments.
    pub fn start_on_state(state: &Path, args: &[&str]) -> Agent {
        let mut agent = Agent::start();
        agent.stop();
        agent.state_override = Some(state.to_owned());
        agent.extra_args = args.iter().map(|a| a.to_string()).collect();
        agent.spawn();
        agent
    }

    /// An agent started with extra `agent` arguments.
    pub fn start_with_args(args: &[&str]) -> Agent {
        let mut agent = Agent::start();
        agent.stop();
        agent.extra_args = args.iter().map(|a| a.to_string()).collect();
        agent.spawn();
        agent
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state_override
            .clone()
            .unwrap_or_else(|| self.dir.path().join("state"))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("agent")
            .args(self.api.iter().flat_map(|api| ["--api", api]))
            .args([
                "--host",
                "test-host",
                "--port-range",
                &self.port_range,
                // Tests run many agents at once: each gossips on a port of its own.
                "--gossip",
                "127.0.0.1:0",
            ])
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra_args)
            .env_remove("KHUTULUN_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(token) = &self.token {
            command.env("KHUTULUN_TOKEN", token);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(command.spawn().unwrap());
        self.wait_healthy();
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(&format!("{}/v1/health", self.url), None).map(|(s, _)| s) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("agent did not become healthy; log:\n{}", self.log());
    }

    /// Waits for the agent process to end by itself (e.g. at a crash point): its status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the agent with SIGTERM, as a service manager would; workloads keep running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc_kill(child.id() as i32, 15) };
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Runs the CLI against this agent.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(["--agent", &self.url])
            .args(args)
            .env_remove("KHUTULUN_TOKEN");
        if let Some(token) = &self.token {
            command.env("KHUTULUN_TOKEN", token);
        }
        command.output().unwrap()
    }

    /// Runs the CLI and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "khutulun {args:?} failed ({}):\nstdout: {}\nstderr: {}\nagent log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    }

    pub fn instances(&self, service: &str) -> Vec<Value> {
        self.json(&["instances", service])
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn instance(&self, service: &str, node: &str) -> Value {
        self.instances(service)
            .into_iter()
            .find(|i| i["node"] == node)
            .unwrap_or_else(|| panic!("no instance {node} in {service}"))
    }

    pub fn events(&self) -> Vec<Value> {
        self.json(&["events"]).as_array().unwrap().clone()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Leave nothing running: delete every service, then stop the agent.
        if self.child.is_some() {
            if let Some(services) =
                self.cli(&["services", "-o", "json"])
                    .status
                    .success()
                    .then(|| {
                        serde_json::from_slice::<Value>(
                            &self.cli(&["services", "-o", "json"]).stdout,
                        )
                        .unwrap_or(Value::Null)
                    })
            {
                for s in services.as_array().into_iter().flatten() {
                    let _ = self.cli(&[
                        "delete",
                        s["name"].as_str().unwrap_or_default(),
                        "--wait",
                        "--timeout",
                        "30",
                    ]);
                }
            }
        }
        self.stop();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub fn kill(pid: u32, signal: i32) {
    unsafe { libc_kill(pid as i32, signal) };
}

/// Live (not zombie) processes whose command line, arguments joined by spaces, is `line`.
pub fn pids_with_cmdline(line: &str) -> Vec<u32> {
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
            }) && process_alive(*pid)
        })
        .collect()
}

/// True when a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// A minimal HTTP/1.0 GET over std (no client crate needed): (status, body).
pub fn http_get(url: &str, token: Option<&str>) -> Option<(u16, String)> {
    http_request("GET", url, token, None)
}

/// A stream to an agent, TCP or Unix.
pub trait Connection: std::io::Read + std::io::Write {}
impl Connection for std::net::TcpStream {}
impl Connection for std::os::unix::net::UnixStream {}

/// Opens a connection for `url` (`http://host:port/path` or `unix:/dir/agent.sock/v1/...`)
/// with `budget` to connect and to read: (stream, Host header, request path).
pub fn connect(
    url: &str,
    budget: Duration,
) -> std::io::Result<(Box<dyn Connection>, String, String)> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, url.to_owned());
    if let Some(rest) = url.strip_prefix("unix:") {
        let at = rest.find("/v1").unwrap_or(rest.len());
        let (socket, path) = rest.split_at(at);
        let stream = std::os::unix::net::UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(budget))?;
        let path = if path.is_empty() { "/" } else { path };
        return Ok((Box::new(stream), "localhost".into(), path.to_owned()));
    }
    let rest = url.strip_prefix("http://").ok_or_else(invalid)?;
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)?
        .next()
        .ok_or_else(invalid)?;
    let stream = std::net::TcpStream::connect_timeout(&address, budget)?;
    stream.set_read_timeout(Some(budget))?;
    Ok((Box::new(stream), authority.to_owned(), path))
}

/// One HTTP/1.0 request, with a JSON body when given: (status, body).
pub fn http_request(
    method: &str,
    url: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let (mut stream, host, path) = connect(url, Duration::from_secs(10)).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = json
        .map(|j| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{j}",
                j.len()
            )
        })
        .unwrap_or_else(|| "\r\n".into());
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{auth}Connection: close\r\n{body}"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Polls `check` until it returns Some or the timeout passes (tests only: the product never polls).
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes a template (and any extra files) into a fresh directory.
pub fn template_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// A plugin built by `scripts/build-plugins` (`target/plugins/<name>.wasm`). Missing is a
/// failure, not a skip: CI builds them before the tests.
pub fn plugin_file(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-plugins first (CI's scripts/test does)",
        path.display()
    );
    path
}

/// A service of one node, `app`: a `Process` running `sh -c '<script>'`, with `extra`
/// (more property lines, or what follows the node) after its arguments.
pub fn shell_service(script: &str, extra: &str) -> String {
    format!(
        r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    app:
      type: Process
      properties:
        command: sh
        arguments: [ -c, '{script}' ]
{extra}"#
    )
}

/// Shell commands that move the running shell into the root cgroup (root can): what a
/// daemon does to escape its instance's cgroup. Escaped for an outer shell that sees it
/// in double quotes.
pub const LEAVE_CGROUP: &str = r"for f in /sys/fs/cgroup/unified/cgroup.procs /sys/fs/cgroup/cgroup.procs; do echo \$\$ > \$f; done 2>/dev/null";
