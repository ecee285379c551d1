//! `khutulun tosca validate|compile`: offline, no agent, exit codes 0/1/2.

mod common;

use common::{repo_root, template_dir, BIN};
use serde_json::Value;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        // No agent anywhere: these commands must not need one.
        .env("KHUTULUN_AGENT", "http://127.0.0.1:9")
        .output()
        .unwrap()
}

const BROKEN: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Proces
      properties: { command: web }
    db:
      type: Process
      properties: { comand: db }
"#;

#[test]
fn validate_says_valid_invalid_or_unreadable_with_exit_codes() {
    let example = repo_root().join("examples/hello-world");
    let out = run(&["tosca", "validate", example.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid TOSCA"));

    let dir = template_dir(&[("service.yaml", BROKEN)]);
    let file = dir.path().join("service.yaml");
    let out = run(&["tosca", "validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Every error, each at its place, with the source line shown.
    assert!(err.contains("service.yaml:7:13"), "{err}");
    assert!(err.contains("service.yaml:11:21"), "{err}");
    assert!(err.contains("type: Proces"), "{err}");
    assert!(err.contains("3 errors"), "{err}");

    let out = run(&[
        "tosca",
        "validate",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let diagnostics: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = diagnostics
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [7, 9, 11], "{diagnostics:#}");
    assert!(diagnostics[0]["message"]
        .as_str()
        .unwrap()
        .contains("Proces"));

    let out = run(&["tosca", "validate", "/nonexistent/service.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn compile_prints_the_resolved_representation() {
    let example = repo_root().join("examples/hello-world");
    let out = run(&[
        "tosca",
        "compile",
        example.to_str().unwrap(),
        "-i",
        "greeting=Hi there",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["inputs"]["greeting"], "Hi there");
    let nodes = rep["nodes"].as_array().unwrap();
    let backend = nodes.iter().find(|n| n["node"] == "backend").unwrap();
    assert_eq!(backend["properties"]["environment"]["GREETING"], "Hi there");
    let frontend = nodes.iter().find(|n| n["node"] == "frontend").unwrap();
    let rel = &frontend["relationships"][0];
    assert_eq!(rel["target"], "backend");
    assert_eq!(rel["capability"], "endpoint");
    assert_eq!(rel["type"], "ConnectsTo");
    // What needs run time stays a call.
    assert!(rep["outputs"]["url"]["$concat"].is_array(), "{rep:#}");

    let out = run(&["tosca", "compile", example.to_str().unwrap(), "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("nodes:") && text.contains("node: frontend"),
        "{text}"
    );

    // An unknown input is an error of the template's use, reported like any other.
    let out = run(&[
        "tosca",
        "compile",
        example.to_str().unwrap(),
        "-i",
        "nope=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown input \"nope\""));
}

#[test]
fn a_csar_is_created_validated_and_compiled() {
    let example = repo_root().join("examples/hello-world");
    let out_dir = tempfile::tempdir().unwrap();
    for name in ["hello.csar", "hello.tar.gz"] {
        let archive = out_dir.path().join(name);
        let out = run(&[
            "csar",
            "create",
            example.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--entry",
            "service.yaml",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let out = run(&["tosca", "validate", archive.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
        let out = run(&["tosca", "compile", archive.to_str().unwrap()]);
        let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rep["nodes"].as_array().unwrap().len(), 2);
    }

    // A CSAR whose template is broken: diagnostics name the member inside the archive.
    let dir = template_dir(&[("service.yaml", BROKEN)]);
    let archive = out_dir.path().join("broken.csar");
    let out = run(&[
        "csar",
        "create",
        dir.path().to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run(&["tosca", "validate", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.csar/service.yaml:7:13"), "{err}");

    // Not an archive with an archive's name: refused clearly, nothing written.
    let out = run(&[
        "csar",
        "create",
        example.to_str().unwrap(),
        "-o",
        out_dir.path().join("hello.rar").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_dir.path().join("hello.rar").exists());
}

#[test]
fn profiles_are_found_on_the_profile_path_and_next_to_the_template() {
    let profile = "tosca_definitions_version: tosca_2_0\nprofile: com.example.web:1.2\nnode_types:\n  Site:\n    properties:\n      port: { type: integer }\n";
    let service = "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: com.example.web:1.2\n    namespace: web\nservice_template:\n  node_templates:\n    site:\n      type: web:Site\n      properties: { port: 8080 }\n";
    let profiles = template_dir(&[("com.example.web.yaml", profile)]);
    let project = template_dir(&[("service.yaml", service)]);
    let file = project.path().join("service.yaml");
    let file = file.to_str().unwrap();

    // Not built in, not next to the template: unknown, and the message says where it looked.
    let out = run(&["tosca", "validate", file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown profile \"com.example.web:1.2\""),
        "{err}"
    );
    assert!(err.contains("com.example.web.yaml"), "{err}");

    let dir = profiles.path().to_str().unwrap();
    let out = run(&["tosca", "validate", file, "--profile-path", dir]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = Command::new(BIN)
        .args(["tosca", "compile", file])
        .env("KHUTULUN_PROFILE_PATH", format!("/nonexistent:{dir}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let compiled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(compiled.to_string().contains("8080"), "{compiled}");

    // A copy next to the template is found without any path.
    std::fs::write(project.path().join("com.example.web.yaml"), profile).unwrap();
    let out = run(&["tosca", "validate", file]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
