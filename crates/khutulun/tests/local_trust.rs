//! What a workload can learn of the agent that started it. An agent running as an ordinary
//! user (`nobody` here) starts a workload as that same user; the workload must not read the
//! agent's environment (where KHUTULUN_TOKEN lives). And a token given in a file is never
//! on the agent's command line. Needs root (to start the agent as `nobody`); skipped
//! otherwise.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const NOBODY: u32 = 65534;

fn owned_by_nobody(path: &std::path::Path) {
    std::fs::create_dir_all(path).unwrap();
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

#[test]
fn a_workload_of_the_agent_s_own_user_cannot_read_the_agent_s_environment() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to run an agent as nobody");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (state, data, out) = (
        dir.path().join("state"),
        dir.path().join("data"),
        dir.path().join("out"),
    );
    for d in [&state, &data, &out] {
        owned_by_nobody(d);
    }
    let token = format!("secret-{}", std::process::id());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    let (first, last) = port_range(5);
    let mut agent = std::process::Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            BIN,
            "agent",
        ])
        .args([
            "--api",
            &format!("127.0.0.1:{port}"),
            "--gossip",
            "127.0.0.1:0",
        ])
        .args(["--port-range", &format!("{first}-{last}")])
        .arg("--state-dir")
        .arg(&state)
        .arg("--data-dir")
        .arg(&data)
        .env("KHUTULUN_TOKEN", &token)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let cleanup = KillOnDrop(agent.id());
    let healthy = eventually(Duration::from_secs(20), || {
        http_get(&format!("{url}/v1/health"), None).filter(|(s, _)| *s == 200)
    });
    assert!(
        healthy.is_some(),
        "the agent did not start as nobody: {}",
        std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
    );
    let seen = out.join("seen");
    let template = format!(
        r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    app:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'id -u > {seen}; cat /proc/{agent}/environ >> {seen} 2>&1; echo end >> {seen}; exec sleep 600' ]
"#,
        seen = seen.display(),
        agent = agent.id()
    );
    let tdir = template_dir(&[("service.yaml", &template)]);
    let deployed = std::process::Command::new(BIN)
        .args(["--agent", &url, "--token-file"])
        .arg(&token_file)
        .args([
            "deploy",
            "t",
            tdir.path().to_str().unwrap(),
            "--wait",
            "--timeout",
            "60",
        ])
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let text = eventually(Duration::from_secs(20), || {
        std::fs::read_to_string(&seen)
            .ok()
            .filter(|t| t.contains("end"))
    })
    .expect("the workload did not report");
    assert!(
        text.starts_with("65534\n"),
        "the workload runs as nobody: {text}"
    );
    assert!(
        !text.contains(&token),
        "the workload read the agent's token: {text}"
    );
    assert!(text.contains("Permission denied"), "{text}");
    // Nor does a token from a file appear on anyone's command line.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", agent.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&token));

    let _ = std::process::Command::new(BIN)
        .args(["--agent", &url, "--token", &token, "delete", "t", "--wait"])
        .output();
    drop(cleanup);
    let _ = agent.wait();
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill(self.0, 15);
    }
}

/// A token typed on the command line is visible to every user: the CLI says so, and names
/// the ways that are not. A token file must hold a token.
#[test]
fn a_token_on_the_command_line_is_warned_about_and_token_files_are_checked() {
    let out = std::process::Command::new(BIN)
        .args(["--agent", "http://127.0.0.1:1", "--token", "abc", "hosts"])
        .env_remove("KHUTULUN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("visible to every user"), "{stderr}");
    assert!(stderr.contains("--token-file"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--agent", "http://127.0.0.1:1", "--token-file"])
        .arg(&empty)
        .arg("hosts")
        .env_remove("KHUTULUN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is empty"), "{stderr}");
}

/// The escalation that used to work: a workload running as `nobody` on a root agent without
/// a token asks that agent to deploy a process running as root. Now the agent serves no TCP
/// without a token, and its Unix socket refuses nobody — by the file's mode, and by the
/// peer's credentials should the mode ever be opened up.
#[test]
fn a_workload_running_as_nobody_cannot_use_a_root_agent_without_a_token() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to run an agent as root and a workload as nobody");
        return;
    }
    let agent = Agent::start();
    let socket = agent.data_dir().join("agent.sock");
    // Every directory on the way is open to nobody: only the socket itself guards it.
    for dir in [agent.dir.path(), &agent.data_dir()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket's mode");
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let pid = agent.child.as_ref().unwrap().id();
    assert!(
        !tcp_listeners_of(pid, &listening),
        "an agent without a token listens on TCP"
    );

    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let evil = template_dir(&[(
        "service.yaml",
        "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\nservice_template:\n  node_templates:\n    root:\n      type: Process\n      properties:\n        command: sleep\n        arguments: [ \"600\" ]\n",
    )]);
    std::fs::set_permissions(evil.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        evil.path().join("service.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // The attempt, from inside a workload running as nobody: once as the socket is, once
    // after someone opened its mode to everyone.
    let attempt = |report: &str| {
        format!(
            "{BIN} --agent unix:{socket} deploy evil {evil} --wait --timeout 20 > {out}/{report} 2>&1; echo exit=$? >> {out}/{report}",
            socket = socket.display(),
            evil = evil.path().display(),
            out = out.path().display(),
        )
    };
    let template = format!(
        r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    app:
      type: Process
      properties:
        command: sh
        arguments: [ -c, '{first}; while [ ! -e {out}/opened ]; do sleep 0.1; done; {second}; exec sleep 600' ]
        user: nobody
"#,
        first = attempt("closed"),
        second = attempt("opened-report"),
        out = out.path().display(),
    );
    let dir = template_dir(&[("service.yaml", &template)]);
    agent.ok(&["deploy", "t", dir.path().to_str().unwrap(), "--wait"]);
    let report = |name: &str| {
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(out.path().join(name))
                .ok()
                .filter(|t| t.contains("exit="))
        })
        .unwrap_or_else(|| panic!("the workload did not report {name}; {}", agent.log()))
    };
    let closed = report("closed");
    assert!(!closed.contains("exit=0"), "{closed}");
    assert!(closed.contains("Permission denied"), "{closed}");
    assert!(closed.contains("only for the agent's own user"), "{closed}");

    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::write(out.path().join("opened"), "").unwrap();
    let opened = report("opened-report");
    assert!(!opened.contains("exit=0"), "{opened}");
    assert!(
        agent
            .log()
            .contains("refused a connection on the API socket"),
        "{}",
        agent.log()
    );
    let services = agent.json(&["services"]);
    let names: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["t"], "only the test's own service exists");
    agent.ok(&["delete", "t", "--wait"]);
}

/// True when `pid` holds a listening TCP socket (state 0A in /proc/net/tcp).
fn tcp_listeners_of(pid: u32, table: &str) -> bool {
    let listening: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(3) == Some(&"0A")).then(|| fields.get(9).copied())?
        })
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .any(|inode| listening.contains(&inode.as_str()))
}
