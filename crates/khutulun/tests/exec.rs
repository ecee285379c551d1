//! `khutulun exec` beside a bare process through the real CLI and an agent that requires a
//! token: the process's environment, directory and user; exit codes passed through; standard
//! input with -i; a pseudo-terminal with -t; Khutulun's own failures as 125 with a reason.
//! Containers, pods and system containers are exec'd into in their lifecycle tests.

mod common;

use common::{port_range, template_dir, Agent};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const TOKEN: &str = "exec-s3cret";

fn template() -> &'static str {
    r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    store:
      type: Directory
    worker:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'echo ready; exec sleep 600' ]
        environment: { COLOUR: teal }
      requirements:
        - directory: store
"#
}

/// The CLI with `input` on its standard input and `token` as its token.
fn exec(agent: &Agent, token: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_khutulun"))
        .args(["--agent", &agent.url, "exec"])
        .args(args)
        .env("KHUTULUN_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn exec_beside_a_process_passes_streams_and_exit_codes() {
    let agent = Agent::start_with(Some(TOKEN), port_range(5));
    let dir = template_dir(&[("service.yaml", template())]);
    agent.ok(&["deploy", "ex", dir.path().to_str().unwrap(), "--wait"]);
    let worker = agent.instance("ex", "worker");
    let pid = worker["pid"].as_u64().unwrap();
    let store = agent.instance("ex", "store");
    let store_path = store["attributes"]["path"].as_str().unwrap().to_owned();

    // The process's environment (its own and the relationship's) and directory; the
    // command's stdout, stderr and exit code.
    let out = exec(
        &agent,
        TOKEN,
        &[
            "ex",
            "worker",
            "--",
            "sh",
            "-c",
            "echo $COLOUR $STORE_DIR; pwd; id -u; echo to-stderr >&2; exit 7",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let stdout = text(&out.stdout);
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|r| r.split_whitespace().next().unwrap().to_owned())
        })
        .unwrap();
    assert_eq!(
        stdout,
        format!("teal {store_path}\n{}\n{uid}\n", cwd.display()),
        "{out:?}"
    );
    assert_eq!(text(&out.stderr), "to-stderr\n");

    // -i passes standard input, and its end.
    let out = exec(
        &agent,
        TOKEN,
        &[
            "-i",
            "ex",
            "worker/0",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ],
        b"piped through\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "PIPED THROUGH\ndone\n");
    // Without -i the command reads nothing.
    let out = exec(&agent, TOKEN, &["ex", "worker", "--", "cat"], b"ignored");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );

    // -t: a terminal of the classic size when the client has none; a signal's code.
    let out = exec(
        &agent,
        TOKEN,
        &[
            "-t",
            "ex",
            "worker",
            "--",
            "sh",
            "-c",
            "test -t 0 && test -t 1 && stty size",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout).trim(), "24 80");
    let out = exec(
        &agent,
        TOKEN,
        &["ex", "worker", "--", "sh", "-c", "kill -9 $$"],
        b"",
    );
    assert_eq!(out.status.code(), Some(128 + 9), "{out:?}");

    // A command that is not there: 127, as a shell says.
    let out = exec(
        &agent,
        TOKEN,
        &["ex", "worker", "--", "no-such-command"],
        b"",
    );
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(text(&out.stderr).contains("no-such-command"), "{out:?}");

    // Khutulun's own failures: 125 and a reason.
    let out = exec(&agent, "wrong", &["ex", "worker", "--", "true"], b"");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("wrong bearer token"), "{out:?}");
    let out = exec(&agent, TOKEN, &["ex", "nobody", "--", "true"], b"");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        text(&out.stderr).contains("no instance nobody/0"),
        "{out:?}"
    );
    let out = exec(&agent, TOKEN, &["ex", "store", "--", "true"], b"");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        text(&out.stderr).contains("runs no program to execute commands in"),
        "{out:?}"
    );

    // The process itself was never disturbed.
    assert_eq!(agent.instance("ex", "worker")["pid"].as_u64(), Some(pid));
}

/// Over the agent's Unix socket (a local agent without a token, as most users run it) exec
/// works the same: the session's WebSocket runs over the socket.
#[test]
fn exec_works_over_the_agent_s_unix_socket() {
    let agent = Agent::start();
    assert!(agent.url.starts_with("unix:"), "{}", agent.url);
    let dir = template_dir(&[("service.yaml", template())]);
    agent.ok(&["deploy", "ex", dir.path().to_str().unwrap(), "--wait"]);
    let out = exec(
        &agent,
        "",
        &[
            "-i",
            "ex",
            "worker",
            "--",
            "sh",
            "-c",
            "read line; echo got $line $COLOUR; exit 3",
        ],
        b"hello\n",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(text(&out.stdout), "got hello teal\n");
    agent.ok(&["delete", "ex", "--wait"]);
}
