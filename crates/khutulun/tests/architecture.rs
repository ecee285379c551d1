//! The dependency rule of ARCHITECTURE.md ("Dependencies point one way"), checked against
//! every crate's Cargo.toml: a crate may depend only on the Khutulun crates listed for it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

/// crate directory → the Khutulun crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "khutulun",
        &[
            "agent", "plugins", "protocol", "state", "tosca", "graph", "profile", "csar",
        ],
    ),
    (
        "agent",
        &[
            "cluster",
            "delegates",
            "graph",
            "plugins",
            "profile",
            "protocol",
            "scheduler",
            "state",
            "tosca",
            "csar",
        ],
    ),
    ("graph", &["profile", "tosca"]),
    ("profile", &["tosca"]),
    ("tosca", &[]),
    ("state", &[]),
    ("delegates", &[]),
    ("cluster", &[]),
    ("scheduler", &[]),
    ("csar", &[]),
    ("plugins", &[]),
    ("protocol", &[]),
    ("freezefs", &[]),
];

/// The Khutulun crates a Cargo.toml names in its [dependencies] (not dev-dependencies).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if section != "[dependencies]" {
            continue;
        }
        if let Some(name) = line
            .split(['=', '.', ' '])
            .next()
            .and_then(|n| n.strip_prefix("khutulun-"))
        {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
fn crates_depend_only_on_what_the_architecture_allows() {
    let crates = common::repo_root().join("crates");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let manifest = entry.path().join("Cargo.toml");
        // The plugin SDK is built for wasm32 in a workspace of its own.
        if !manifest.is_file() || name == "plugin-sdk" {
            continue;
        }
        let Some(may) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "crates/{name} is not in ARCHITECTURE.md's dependency rule"
            ));
            continue;
        };
        for dependency in dependencies(&std::fs::read_to_string(&manifest).unwrap()) {
            if !may.contains(&dependency.as_str()) {
                problems.push(format!("crates/{name} depends on khutulun-{dependency}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_rule_catches_a_dependency_it_does_not_allow() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nkhutulun-agent.workspace = true\nserde = \"1\"\n[dev-dependencies]\nkhutulun-tosca = { path = \"..\" }\n";
    assert_eq!(dependencies(manifest), BTreeSet::from(["agent".to_owned()]));
}

/// Inside the agent: only the HTTP layer (`api/`) and the daemon's start-up (`agent.rs`,
/// which serves the router) know the HTTP server. Flows return `FlowError`, which only
/// `api::error` maps to a status. (ARCHITECTURE.md, "The agent in layers".)
const HTTP_SERVER_WORDS: &[&str] = &["axum", "ApiError", "StatusCode", "crate::api"];

/// The agent's source files outside `api/` and `agent.rs` that name the HTTP server.
fn http_outside_api(src: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                if relative != "api" {
                    stack.push(path);
                }
                continue;
            }
            if relative == "agent.rs" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for word in HTTP_SERVER_WORDS {
                if text.contains(word) {
                    found.push(format!("{relative} names {word}"));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn only_the_api_layer_of_the_agent_knows_the_http_server() {
    let src = common::repo_root().join("crates/agent/src");
    let found = http_outside_api(&src);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_layer_rule_catches_a_flow_that_names_the_http_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    std::fs::write(dir.path().join("api/mod.rs"), "use axum::Router;").unwrap();
    std::fs::write(dir.path().join("agent.rs"), "use crate::api;").unwrap();
    std::fs::write(
        dir.path().join("deploy.rs"),
        "use crate::api::error::ApiError;",
    )
    .unwrap();
    assert_eq!(
        http_outside_api(dir.path()),
        ["deploy.rs names ApiError", "deploy.rs names crate::api"]
    );
}
