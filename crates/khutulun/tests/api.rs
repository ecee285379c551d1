//! The HTTP API's contract: OpenAPI document, JSON errors with stable codes, token auth.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[test]
fn openapi_document_lists_the_api() {
    let agent = Agent::start();
    let (status, body) = http_get(&format!("{}/v1/openapi.json", agent.url), None).unwrap();
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/namespaces/{ns}/services/{name}",
        "/v1/events",
        "/v1/hosts",
        "/v1/namespaces/{ns}/services/{name}/outputs",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
}

/// The document agrees with the routes: every `{param}` of a path is declared as a path
/// parameter of each of its operations and nothing else is; query parameters are declared
/// in the query; every operation behind the token documents 401, every one that takes a
/// body documents 400 and 415, every one with a name in its path documents 400.
#[test]
fn openapi_parameters_and_error_responses_match_the_routes() {
    let agent = Agent::start();
    let (_, body) = http_get(&format!("{}/v1/openapi.json", agent.url), None).unwrap();
    let doc: Value = serde_json::from_str(&body).unwrap();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let in_path: Vec<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for name in &template {
                if !in_path.contains(name) {
                    problems.push(format!("{method} {path}: {{{name}}} is not declared"));
                }
            }
            for name in &in_path {
                if !template.contains(name) {
                    problems.push(format!(
                        "{method} {path}: \"{name}\" declared in the path but not in it"
                    ));
                }
            }
            let responses = op["responses"].as_object().unwrap();
            let public = path == "/v1/health" || path == "/v1/openapi.json";
            if !public && !responses.contains_key("401") {
                problems.push(format!("{method} {path}: no 401"));
            }
            if !op["requestBody"].is_null() {
                for code in ["400", "415"] {
                    if !responses.contains_key(code) {
                        problems.push(format!("{method} {path}: takes a body, no {code}"));
                    }
                }
            }
            if !template.is_empty() && !responses.contains_key("400") {
                problems.push(format!("{method} {path}: names in its path, no 400"));
            }
        }
    }
    let events = &doc["paths"]["/v1/events"]["get"]["parameters"];
    for p in events.as_array().unwrap() {
        if p["in"] != "query" {
            problems.push(format!(
                "GET /v1/events: parameter {} is in {}",
                p["name"], p["in"]
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn errors_are_json_with_a_stable_code() {
    let agent = Agent::start();
    let (status, body) = http_get(
        &format!("{}/v1/namespaces/default/services/nope", agent.url),
        None,
    )
    .unwrap();
    assert_eq!(status, 404);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["code"], "not_found");
    assert!(error["message"].as_str().unwrap().contains("nope"));
    let (status, body) = http_get(
        &format!("{}/v1/namespaces/Bad%20Name/services", agent.url),
        None,
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
}

#[test]
fn a_token_is_required_when_configured() {
    let agent = Agent::start_with(Some("s3cret"), port_range(5));
    let (status, body) = http_get(&format!("{}/v1/hosts", agent.url), None).unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "unauthorized"
    );
    let (status, _) = http_get(&format!("{}/v1/hosts", agent.url), Some("wrong")).unwrap();
    assert_eq!(status, 401);
    let (status, _) = http_get(&format!("{}/v1/hosts", agent.url), Some("s3cret")).unwrap();
    assert_eq!(status, 200);
    // The CLI passes KHUTULUN_TOKEN (set by the harness).
    let hosts = agent.json(&["hosts"]);
    assert_eq!(hosts[0]["name"], "test-host");
    assert_eq!(hosts[0]["state"], "alive");
}

#[test]
fn an_agent_reachable_from_the_network_refuses_to_start_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["agent", "--api", &format!("0.0.0.0:{}", free_port())])
        .arg("--state-dir")
        .arg(dir.path().join("s"))
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .env_remove("KHUTULUN_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a token is required"), "{err}");
    assert!(
        !dir.path().join("s").exists(),
        "nothing is created when the agent refuses to start"
    );
}

#[test]
fn a_second_agent_for_the_same_host_refuses_to_start() {
    let agent = Agent::start();
    let out = Command::new(BIN)
        .args(["agent", "--host", "test-host"])
        // A socket of its own, so that it gets as far as the host's lock.
        .arg("--socket")
        .arg(agent.dir.path().join("second.sock"))
        .arg("--state-dir")
        .arg(agent.state_dir())
        .arg("--data-dir")
        .arg(agent.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already served by a running agent"), "{err}");
    assert!(
        !agent.dir.path().join("second.sock").exists(),
        "the refused agent left its socket behind"
    );
}

/// The internal API takes names from its body like the public API takes them from paths:
/// validated before anything is done. (A stop naming `..` used to delete a directory outside
/// the agent's data directory, answering 204.)
#[test]
fn internal_calls_refuse_names_that_leave_their_directory() {
    let agent = Agent::start();
    agent.ok(&["hosts"]);
    // data/instances/<ns>/<svc>/<node>-<index>: with `..` for both names this is a
    // directory beside the data directory.
    let victim = agent.dir.path().join("victim-0");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "precious").unwrap();
    let bodies = [
        r#"{"namespace":"..","service":"..","node":"victim","index":0,"remove":true}"#,
        r#"{"namespace":"default","service":"s","node":"../../../../victim","index":0,"remove":true}"#,
        r#"{"namespace":"default","service":"a/b","node":"n","index":0,"remove":true}"#,
    ];
    for body in bodies {
        for route in ["stop", "start"] {
            let (status, answer) = http_request(
                "POST",
                &format!("{}/v1/internal/instances/{route}", agent.url),
                None,
                Some(body),
            )
            .unwrap();
            assert_eq!(status, 400, "{route} {body}: {answer}");
            let error: Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(error["code"], "bad_request", "{answer}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("is not allowed"),
                "{answer}"
            );
        }
    }
    let (status, answer) = http_request(
        "POST",
        &format!("{}/v1/internal/operations", agent.url),
        None,
        Some(r#"{"namespace":"..","service":"..","node":"victim","index":0,"operation":"Standard.start"}"#),
    )
    .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
        "precious"
    );
}
