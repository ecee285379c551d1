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

/// The agent's modules by layer, from the bottom up (ARCHITECTURE.md, "The agent in
/// layers"): 1 pure planning and parts without the agent, 2 this host, 3 flows, 4 serving.
/// `agent` (the shared handle every layer holds, and the start-up above them all) and the
/// tests' `testing` are outside the rule.
const AGENT_LAYERS: &[(u8, &[&str])] = &[
    (
        1,
        &[
            "bus",
            "compile",
            "config",
            "containers",
            "crash",
            "exec",
            "flow_error",
            "fscheck",
            "instance_error",
            "locks",
            "memory",
            "names",
            "package",
            "placement",
            "rate",
            "readiness",
            "restart",
            "runtime",
            "waves",
            "workload",
        ],
    ),
    (
        2,
        &[
            "adopt",
            "commit",
            "exposure",
            "handlers",
            "hosts",
            "instance",
            "lease",
            "local",
            "operations",
            "peers",
            "plugins",
            "registry",
            "supervisor",
        ],
    ),
    (
        3,
        &[
            "assign", "delete", "deploy", "drain", "failover", "relocate", "remote",
        ],
    ),
    (4, &["api", "membership"]),
];

/// Edges that still point up, each for a reason ARCHITECTURE.md gives. Any other upward
/// edge fails the test, and so does one listed here that is gone (the list only shrinks).
const UPWARD_EDGES: &[(&str, &str)] = &[
    // The adoption pass resumes the flows an earlier agent left under way.
    ("adopt", "delete"),
    ("adopt", "deploy"),
    // A node's spec carries which of its endpoints are exposed: exposure's pure choice.
    ("workload", "exposure"),
];

/// Every `crate::<module>` a module of the agent names, as (from, to) edges.
fn agent_edges(src: &std::path::Path) -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let target: String = text[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != module {
                    edges.insert((module.clone(), target));
                }
            }
        }
    }
    edges
}

fn layer_of(module: &str) -> Option<u8> {
    AGENT_LAYERS
        .iter()
        .find(|(_, modules)| modules.contains(&module))
        .map(|(layer, _)| *layer)
}

/// Upward edges not on the list, listed edges that are gone, and modules in no layer.
fn layer_problems(edges: &BTreeSet<(String, String)>, modules: &[String]) -> Vec<String> {
    let outside = |m: &str| m == "agent" || m == "testing" || m == "lib";
    let mut problems: Vec<String> = modules
        .iter()
        .filter(|m| !outside(m) && layer_of(m).is_none())
        .map(|m| format!("module {m} is in no layer (add it to AGENT_LAYERS and ARCHITECTURE.md)"))
        .collect();
    for (from, to) in edges {
        if outside(from) || outside(to) {
            continue;
        }
        let (Some(low), Some(high)) = (layer_of(from), layer_of(to)) else {
            continue;
        };
        if high > low && !UPWARD_EDGES.contains(&(from.as_str(), to.as_str())) {
            problems.push(format!(
                "{from} (layer {low}) uses {to} (layer {high}): a module uses only its own layer or below"
            ));
        }
    }
    for (from, to) in UPWARD_EDGES {
        if !edges.contains(&(from.to_string(), to.to_string())) {
            problems.push(format!(
                "{from} no longer uses {to}: take it off UPWARD_EDGES and ARCHITECTURE.md"
            ));
        }
    }
    problems
}

fn agent_modules(src: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect()
}

#[test]
fn modules_of_the_agent_use_only_their_own_layer_or_below() {
    let src = common::repo_root().join("crates/agent/src");
    let problems = layer_problems(&agent_edges(&src), &agent_modules(&src));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_layer_rule_catches_an_edge_that_points_up_and_a_module_in_no_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("names.rs"), "use crate::deploy::x;").unwrap();
    std::fs::write(
        dir.path().join("adopt.rs"),
        "crate::deploy::y(); crate::delete::z();",
    )
    .unwrap();
    std::fs::write(dir.path().join("workload.rs"), "crate::exposure::a();").unwrap();
    std::fs::write(dir.path().join("newcomer.rs"), "").unwrap();
    let problems = layer_problems(&agent_edges(dir.path()), &agent_modules(dir.path()));
    assert_eq!(
        problems,
        [
            "module newcomer is in no layer (add it to AGENT_LAYERS and ARCHITECTURE.md)",
            "names (layer 1) uses deploy (layer 3): a module uses only its own layer or below",
        ]
    );
}
