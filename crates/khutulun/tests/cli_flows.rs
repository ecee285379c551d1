//! The flows a user meets first: `up` on a machine with no agent, following events, logs,
//! and deploying a new revision over a running service.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn up_starts_a_local_agent_deploys_waits_and_prints_outputs() {
    let dir = tempfile::tempdir().unwrap();
    // No --agent: the CLI and the agent `up` starts meet at the socket in the data directory.
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env_remove("KHUTULUN_AGENT")
            .env("KHUTULUN_STATE_DIR", dir.path().join("state"))
            .env("KHUTULUN_DATA_DIR", dir.path().join("data"))
            .env_remove("KHUTULUN_TOKEN")
            .output()
            .unwrap()
    };
    let example = repo_root().join("examples/hello-world");
    let out = run(&["up", example.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let agent_log = std::fs::read_to_string(dir.path().join("data/agent.log")).unwrap_or_default();
    // Whatever happens, stop the agent `up` started (and its workloads) at the end.
    let hosts: Value =
        serde_json::from_slice(&run(&["hosts", "-o", "json"]).stdout).unwrap_or(Value::Null);
    let agent_pid = hosts[0]["agent_pid"].as_u64();
    let cleanup = scopeguard(move || {
        let _ = run(&["delete", "hello-world", "--wait", "--timeout", "30"]);
        if let Some(pid) = agent_pid {
            kill(pid as u32, 15);
        }
    });
    assert!(
        out.status.success(),
        "up failed:\n{stdout}\n{stderr}\n{agent_log}"
    );
    assert!(stderr.contains("started a local agent"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "unix:{}",
            dir.path().join("data/agent.sock").display()
        )),
        "{stderr}"
    );
    assert!(agent_pid.is_some(), "{hosts}");
    let url_line = stdout
        .lines()
        .find(|l| l.starts_with("url"))
        .unwrap_or_else(|| panic!("no url in {stdout}"));
    let service_url = url_line.split_whitespace().nth(1).unwrap();
    let (status, body) = http_get(service_url, None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"backend\""), "{body}");
    drop(cleanup);
}

/// Runs a closure when dropped (also when the test panics).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[test]
fn events_follow_streams_what_happens_as_json_lines() {
    let agent = Agent::start();
    let mut follower = Command::new(BIN)
        .args(["--agent", &agent.url, "events", "-f", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the stream a moment to subscribe before the deploy.
    std::thread::sleep(Duration::from_millis(300));
    let example = repo_root().join("examples/hello-world");
    agent.ok(&["deploy", "hello-world", example.to_str().unwrap(), "--wait"]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        seen.push(event["type"].as_str().unwrap_or_default().to_owned());
        if event["type"] == "service_deployed" {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(seen.contains(&"service_deploying".to_owned()), "{seen:?}");
    assert!(seen.contains(&"instance_running".to_owned()), "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("service_deployed"),
        "{seen:?}"
    );
}

#[test]
fn logs_show_what_the_process_wrote() {
    let agent = Agent::start();
    let example = repo_root().join("examples/hello-world");
    agent.ok(&["deploy", "hello-world", example.to_str().unwrap(), "--wait"]);
    let pid = agent.instance("hello-world", "backend")["pid"]
        .as_u64()
        .unwrap();
    let logs = agent.ok(&["logs", "hello-world", "backend"]);
    assert!(
        logs.contains(&format!("backend {pid} listening on port")),
        "{logs}"
    );
    let stderr_only = agent.ok(&["logs", "hello-world", "backend/0", "--stream", "stderr"]);
    assert!(!stderr_only.contains("listening"), "{stderr_only}");
    let out = agent.cli(&["logs", "hello-world", "nosuchnode"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no instance nosuchnode/0"));
}

#[test]
fn deploying_again_replaces_the_revision_and_its_processes() {
    let agent = Agent::start();
    let example = repo_root().join("examples/hello-world");
    let example = example.to_str().unwrap();
    agent.ok(&["deploy", "hello-world", example, "--wait"]);
    let old: Vec<u64> = agent
        .instances("hello-world")
        .iter()
        .map(|i| i["pid"].as_u64().unwrap())
        .collect();
    let view = agent.json(&[
        "deploy",
        "hello-world",
        example,
        "-i",
        "greeting=second",
        "--wait",
    ]);
    assert_eq!(view["revision"], 2);
    assert_eq!(view["status"], "deployed");
    for pid in old {
        assert!(!process_alive(pid as u32), "old process {pid} still runs");
    }
    let url = agent.json(&["outputs", "hello-world"])["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = http_get(&url, None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"greeting\": \"second\""), "{body}");
    let services = agent.json(&["services"]);
    assert_eq!(services.as_array().unwrap().len(), 1);
    assert_eq!(services[0]["revision"], 2);
}

#[test]
fn systemd_scopes_fall_back_to_direct_supervision_without_a_user_manager() {
    let user_manager = Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "running")
        .unwrap_or(false);
    let agent = Agent::start_with_args(&["--systemd-scopes"]);
    let example = repo_root().join("examples/hello-world");
    agent.ok(&["deploy", "hello-world", example.to_str().unwrap(), "--wait"]);
    let pid = agent.instance("hello-world", "backend")["pid"]
        .as_u64()
        .unwrap() as u32;
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if user_manager {
        assert!(
            cgroup.contains("khutulun-"),
            "not in a khutulun scope: {cgroup}"
        );
    } else {
        assert!(
            agent.log().contains("no systemd user manager answers"),
            "{}",
            agent.log()
        );
        assert!(!cgroup.contains("khutulun-"), "{cgroup}");
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            cmdline.starts_with("python3\0backend.py") || cmdline.contains("backend.py"),
            "{cmdline:?}"
        );
    }
}

#[test]
fn a_csar_deploys_like_a_directory() {
    let agent = Agent::start();
    let example = repo_root().join("examples/hello-world");
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("hello.csar");
    agent.ok(&[
        "csar",
        "create",
        example.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--entry",
        "service.yaml",
    ]);
    let view = agent.json(&["deploy", "packed", archive.to_str().unwrap(), "--wait"]);
    assert_eq!(view["status"], "deployed");
    let url = agent.json(&["outputs", "packed"])["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = http_get(&url, None).unwrap();
    assert_eq!(status, 200, "{body}");
}

/// `khutulun agent --state-dir state --data-dir data`, run from a directory of one's own:
/// the relative directories are taken from where the agent was started, for its whole life.
#[test]
fn an_agent_started_with_relative_directories_deploys() {
    let dir = tempfile::tempdir().unwrap();
    let templates = template_dir(&[("service.yaml", &shell_service("exec sleep 3600", ""))]);
    let ports = port_range(5);
    let mut agent = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "agent",
            "--host",
            "relative-host",
            "--gossip",
            "127.0.0.1:0",
        ])
        .args(["--port-range", &format!("{}-{}", ports.0, ports.1)])
        .args(["--state-dir", "state", "--data-dir", "data"])
        .env_remove("KHUTULUN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("unix:{}", dir.path().join("data/agent.sock").display());
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .arg("--agent")
            .arg(&url)
            .args(args)
            .env_remove("KHUTULUN_TOKEN")
            .output()
            .unwrap()
    };
    let agent_pid = agent.id();
    let _cleanup = scopeguard(move || {
        let _ = Command::new(BIN)
            .arg("--agent")
            .arg(format!(
                "unix:{}",
                dir.path().join("data/agent.sock").display()
            ))
            .args(["delete", "rel", "--wait", "--timeout", "30"])
            .output();
        kill(agent_pid, 15);
        let _ = agent.wait();
    });
    let healthy = eventually(Duration::from_secs(30), || {
        (http_get(&format!("{url}/v1/health"), None)?.0 == 200).then_some(())
    });
    assert!(healthy.is_some(), "the agent did not answer on {url}");
    let out = cli(&[
        "deploy",
        "rel",
        templates.path().to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `deploy --plan`: against the running revision, the same template changes nothing; an
/// edit of one property of one node names that node alone, and why. Nothing is deployed.
#[test]
fn a_plan_names_what_an_edit_changes_and_changes_nothing() {
    let agent = Agent::start();
    let node = |name: &str, seconds: &str| {
        format!(
            "    {name}:\n      type: Process\n      properties:\n        command: sleep\n        arguments: [ \"{seconds}\" ]\n"
        )
    };
    let template = |b_seconds: &str| {
        format!(
            "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\nservice_template:\n  node_templates:\n{}{}",
            node("a", "3600"),
            node("b", b_seconds)
        )
    };
    let dir = template_dir(&[("service.yaml", &template("3600")), ("data.txt", "one")]);
    let path = dir.path().to_str().unwrap();

    // A service that does not exist yet: every node is created.
    let fresh = agent.json(&["deploy", "plan-me", path, "--plan"]);
    assert_eq!(fresh["changes"], true, "{fresh}");
    assert!(fresh.get("current_revision").is_none(), "{fresh}");
    let actions = |plan: &Value| -> Vec<(String, String)> {
        plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["node"].as_str().unwrap().to_owned(),
                    n["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |n: &str, a: &str| (n.to_owned(), a.to_owned());
    assert_eq!(actions(&fresh), [pair("a", "create"), pair("b", "create")]);
    assert!(
        !agent.cli(&["service", "show", "plan-me"]).status.success(),
        "a plan created the service"
    );

    agent.ok(&["deploy", "plan-me", path, "--wait", "--timeout", "30"]);
    let same = agent.ok(&["deploy", "plan-me", path, "--plan"]);
    assert!(same.contains("no changes"), "{same}");
    assert!(same.contains("against revision 1"), "{same}");

    // A file no node names: said apart, and a change all the same.
    std::fs::write(dir.path().join("data.txt"), "two").unwrap();
    let data = agent.json(&["deploy", "plan-me", path, "--plan"]);
    assert_eq!(data["changes"], true, "{data}");
    assert_eq!(data["other_files_changed"], serde_json::json!(["data.txt"]));
    assert_eq!(
        actions(&data),
        [pair("a", "unchanged"), pair("b", "unchanged")]
    );
    std::fs::write(dir.path().join("data.txt"), "one").unwrap();

    std::fs::write(dir.path().join("service.yaml"), template("7200")).unwrap();
    let edited = agent.json(&["deploy", "plan-me", path, "--plan"]);
    assert_eq!(edited["changes"], true, "{edited}");
    assert_eq!(edited["current_revision"], 1, "{edited}");
    assert_eq!(
        actions(&edited),
        [pair("a", "unchanged"), pair("b", "change")]
    );
    assert_eq!(
        edited["nodes"][1]["reasons"],
        serde_json::json!(["property arguments changed"])
    );
    let table = agent.ok(&["deploy", "plan-me", path, "--plan"]);
    assert!(table.contains("property arguments changed"), "{table}");
    assert!(!table.contains("no changes"), "{table}");

    // Planning deployed nothing: still revision 1, its instances untouched.
    let service = agent.json(&["service", "show", "plan-me"]);
    assert_eq!(service["revision"], 1, "{service}");
    assert_eq!(service["running"], 2, "{service}");

    // The plan was made against revision 1: applied while it still is, refused after.
    let deploy_checked = |revision: &str| {
        agent.cli(&[
            "deploy",
            "plan-me",
            path,
            "--check-revision",
            revision,
            "--wait",
            "--timeout",
            "30",
        ])
    };
    let applied = deploy_checked("1");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let refused = deploy_checked("1");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is at revision 2, not revision 1")
            && stderr.contains("nothing was deployed"),
        "{stderr}"
    );
    let service = agent.json(&["service", "show", "plan-me"]);
    assert_eq!(service["revision"], 2, "{service}");
    assert_eq!(service["status"], "deployed", "{service}");
    agent.ok(&["delete", "plan-me", "--wait"]);
}
