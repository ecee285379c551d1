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
