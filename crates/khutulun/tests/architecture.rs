//! The dependency rule of ARCHITECTURE.md ("Dependencies point one way"), checked against
//! every crate's Cargo.toml: a crate may depend only on the Khutulun crates listed for it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

/// crate directory → the Khutulun crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "khutulun",
        &[
            "agent", "plugins", "state", "tosca", "graph", "profile", "csar",
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
