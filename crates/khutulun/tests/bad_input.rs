//! Bad input gets a clear error and changes nothing.

mod common;

use common::*;
use std::time::Duration;

const PROFILE_IMPORT: &str =
    "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_template_reports_every_diagnostic_with_position_and_stores_nothing() {
    let agent = Agent::start();
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            "{PROFILE_IMPORT}service_template:\n  node_templates:\n    web:\n      type: Procss\n    db:\n      type: Process\n      properties:\n        command: true\n        colour: blue\n"
        ),
    )]);
    let before = agent.ok(&["services", "-o", "json"]);
    let out = agent.cli(&["deploy", "broken", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // The unknown type is on line 7, column 13 (the value of `type`).
    assert!(
        err.contains("service.yaml:7:13"),
        "no position for the unknown type:\n{err}"
    );
    assert!(err.contains("Procss"), "{err}");
    assert!(
        err.contains("colour"),
        "the unknown property is reported too:\n{err}"
    );
    assert!(
        err.lines().filter(|l| l.contains("service.yaml:")).count() >= 2,
        "{err}"
    );
    assert_eq!(agent.ok(&["services", "-o", "json"]), before);
    assert!(!agent
        .state_dir()
        .join("namespaces/default/services/broken")
        .exists());
}

#[test]
fn missing_executable_is_refused_before_anything_starts() {
    let agent = Agent::start();
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            "{PROFILE_IMPORT}service_template:\n  node_templates:\n    first:\n      type: Process\n      properties:\n        command: sleep\n        arguments: [ '1000' ]\n    second:\n      type: Process\n      properties:\n        command: no-such-program-anywhere\n"
        ),
    )]);
    let out = agent.cli(&["deploy", "missing", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no-such-program-anywhere") && err.contains("not found on PATH"),
        "{err}"
    );
    assert!(err.contains("second"), "names the node:\n{err}");
    assert_eq!(agent.json(&["services"]).as_array().unwrap().len(), 0);
    assert!(agent
        .events()
        .iter()
        .all(|e| e["type"] != "instance_starting"));
}

#[test]
fn exhausted_port_range_is_a_clear_error_and_reserves_nothing() {
    let range = port_range(1);
    let agent = Agent::start_with(None, range);
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            "{PROFILE_IMPORT}service_template:\n  node_templates:\n    a:\n      type: Process\n      properties: {{ command: sleep, arguments: [ '1000' ] }}\n      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}\n    b:\n      type: Process\n      properties: {{ command: sleep, arguments: [ '1000' ] }}\n      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}\n"
        ),
    )]);
    let out = agent.cli(&["deploy", "ports", dir.path().to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no free port left in the range"), "{err}");
    assert_eq!(agent.json(&["services"]).as_array().unwrap().len(), 0);
    let ports = std::fs::read_to_string(agent.state_dir().join("hosts/test-host/ports.json"))
        .unwrap_or_default();
    assert!(
        !ports.contains(&range.0.to_string()),
        "a port stayed reserved: {ports}"
    );
}

#[test]
fn unknown_service_names_are_clear_errors() {
    let agent = Agent::start();
    for args in [
        vec!["service", "show", "nope"],
        vec!["outputs", "nope"],
        vec!["instances", "nope"],
        vec!["delete", "nope"],
        vec!["logs", "nope", "web"],
    ] {
        let out = agent.cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("\"default/nope\" not found"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_process_that_dies_at_start_fails_the_deploy_and_leaves_nothing_running() {
    let agent = Agent::start();
    let dir = template_dir(&[(
        "service.yaml",
        &format!(
            "{PROFILE_IMPORT}service_template:\n  node_templates:\n    db:\n      type: Process\n      properties: {{ command: sh, arguments: [ '-c', 'exec python3 -m http.server $PORT --bind 127.0.0.1' ] }}\n    web:\n      type: Process\n      properties: {{ command: sh, arguments: [ '-c', 'echo cannot start >&2; exit 4' ] }}\n      capabilities: {{ endpoint: {{ properties: {{ port: 0 }} }} }}\n      requirements:\n        - connection: db\n"
        ),
    )]);
    // db starts and listens; web dies before it listens on its port: the deploy fails and
    // db is stopped again.
    let out = agent.cli(&[
        "deploy",
        "dies",
        dir.path().to_str().unwrap(),
        "--wait",
        "--timeout",
        "120",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("failed"), "{err}");
    for i in agent.instances("dies") {
        if let Some(pid) = i["pid"].as_u64() {
            assert!(!process_alive(pid as u32), "{i}");
        }
        assert_ne!(i["state"], "running", "{i}");
    }
    let ports = std::fs::read_to_string(agent.state_dir().join("hosts/test-host/ports.json"))
        .unwrap_or_default();
    let reservations: serde_json::Value = serde_json::from_str(&ports).unwrap();
    assert_eq!(
        reservations["ports"].as_object().unwrap().len(),
        0,
        "{ports}"
    );
}

/// A deploy reads nothing outside its package: not as its entry (`/etc/...`, `../...`),
/// not through an import. (An entry of `/etc/shadow` used to be compiled, each of its lines
/// echoed back in the diagnostics.)
#[test]
fn a_deploy_reads_no_file_outside_its_package() {
    use base64::Engine;
    let agent = Agent::start();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    std::fs::write(
        &secret,
        "tosca_definitions_version: tosca_2_0\nsecret_line: hunter2\n",
    )
    .unwrap();
    let put = |entry: &str, service_yaml: &str| {
        let dir = template_dir(&[("service.yaml", service_yaml)]);
        let package = khutulun_agent::pack_directory(dir.path()).unwrap();
        let body = serde_json::json!({
            "entry": entry,
            "inputs": {},
            "package": base64::engine::general_purpose::STANDARD.encode(package),
        });
        http_request(
            "PUT",
            &format!("{}/v1/namespaces/default/services/leak", agent.url),
            None,
            Some(&body.to_string()),
        )
        .unwrap()
    };
    let plain = format!("{PROFILE_IMPORT}service_template:\n  node_templates: {{}}\n");
    for entry in [
        secret.to_str().unwrap().to_owned(),
        format!("../../../../../..{}", secret.display()),
        "../service.yaml".to_owned(),
    ] {
        let (status, answer) = put(&entry, &plain);
        assert_eq!(status, 400, "{entry}: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(error["code"], "bad_entry", "{answer}");
        assert!(!answer.contains("hunter2"), "{answer}");
    }
    for import in [
        format!("file://{}", secret.display()),
        format!("../../../../../..{}", secret.display()),
    ] {
        let template = format!(
            "tosca_definitions_version: tosca_2_0\nimports:\n  - url: {import}\nservice_template:\n  node_templates: {{}}\n"
        );
        let (status, answer) = put("service.yaml", &template);
        assert_eq!(status, 422, "{import}: {answer}");
        assert!(answer.contains("outside the package"), "{answer}");
        assert!(!answer.contains("hunter2"), "{answer}");
    }
    let services = agent.json(&["services"]);
    assert_eq!(services.as_array().map(Vec::len), Some(0), "{services}");
}

/// `--timeout` bounds the whole command, its calls to the agent included: against an agent
/// that accepts connections and never answers, `deploy --timeout 2` gives up by itself and
/// says so. (It used to wait for as long as the agent hung: over 10 minutes.)
#[test]
fn a_hung_agent_does_not_hang_a_command_past_its_timeout() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hung.local_addr().unwrap());
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = template_dir(&[(
        "service.yaml",
        &format!("{PROFILE_IMPORT}service_template:\n  node_templates: {{}}\n"),
    )]);
    for args in [
        vec![
            "deploy",
            "h",
            dir.path().to_str().unwrap(),
            "--timeout",
            "2",
        ],
        vec![
            "deploy",
            "h",
            dir.path().to_str().unwrap(),
            "--wait",
            "--timeout",
            "2",
        ],
        vec!["delete", "h", "--wait", "--timeout", "2"],
    ] {
        let mut child = std::process::Command::new(BIN)
            .args(["--agent", &url])
            .args(&args)
            .env_remove("KHUTULUN_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Far beyond the 2 s it was given: only a command that ignores --timeout gets here.
        let ended = eventually(Duration::from_secs(60), || child.try_wait().unwrap());
        if ended.is_none() {
            let _ = child.kill();
            panic!(
                "`{}` still waits on a hung agent after 60 s",
                args.join(" ")
            );
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let message = stderr(&out);
        assert!(
            message.contains("did not answer within 2 s"),
            "{args:?}: {message}"
        );
    }
}

/// User events go to the permanent log: their data is bounded (a 5 MB event used to be
/// stored), they come at a bounded rate, and a node they name is a valid name.
#[test]
fn user_events_are_bounded_in_size_and_rate() {
    let agent = Agent::start();
    let post = |body: String| {
        http_request(
            "POST",
            &format!("{}/v1/events", agent.url),
            None,
            Some(&body),
        )
        .unwrap()
    };
    let big = "x".repeat(5 << 20);
    let (status, answer) = post(format!(r#"{{"name":"big","data":"{big}"}}"#));
    assert_eq!(status, 400, "{}", &answer[..answer.len().min(300)]);
    assert!(answer.contains("limited to 16 KiB"), "{answer}");
    let (status, answer) = post(r#"{"name":"n","service":"s","node":"../x"}"#.into());
    assert_eq!(status, 400, "{answer}");
    let small = "y".repeat(15 << 10);
    let (status, answer) = post(format!(r#"{{"name":"fits","data":"{small}"}}"#));
    assert_eq!(status, 201, "{}", &answer[..answer.len().min(300)]);
    // A flood: the burst is taken, then refusals that say when to come back.
    let mut refused = None;
    for _ in 0..300 {
        let (status, answer) = post(r#"{"name":"flood"}"#.into());
        if status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(status, 201, "{answer}");
    }
    let refused = refused.expect("300 events at once were all accepted");
    let error: serde_json::Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(error["code"], "too_many_events");
    assert!(!agent.events().iter().any(|e| e["name"] == "big"));
}

/// A token of only whitespace (or with spaces in it) is refused at start, not accepted as a
/// secret that no client can send.
#[test]
fn an_agent_refuses_a_blank_token() {
    let dir = tempfile::tempdir().unwrap();
    for token in ["   ", "two words"] {
        let mut child = std::process::Command::new(BIN)
            .args(["agent", "--api", "127.0.0.1:0", "--token", token])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("KHUTULUN_TOKEN")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let ended = eventually(Duration::from_secs(20), || child.try_wait().unwrap());
        if ended.is_none() {
            let _ = child.kill();
            panic!("an agent started with the token {token:?}");
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(stderr(&out).contains("whitespace"), "{}", stderr(&out));
    }
}
