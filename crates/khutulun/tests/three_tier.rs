//! The three-tier example end to end: a podman frontend, a bare-process application and an
//! nspawn database with storage directories. A note sent to the frontend's URL (from the
//! service's outputs) goes through all three tiers into the database's directory, and the
//! answer carries it back. Delete leaves no container and no database process.

mod common;

use common::{eventually, http_get, process_alive, repo_root, Agent};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A copy of the example with its artifacts built, so the test never writes into the
/// source tree.
fn built_example() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let source = repo_root().join("examples/three-tier");
    let status = Command::new("cp")
        .args(["-a", &format!("{}/.", source.display())])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.path().join("artifacts"));
    let out = Command::new(copy.path().join("build-artifacts"))
        .output()
        .unwrap();
    assert!(out.status.success(), "build-artifacts: {out:?}");
    copy
}

fn podman_names(filter: &str) -> String {
    let out = Command::new("podman")
        .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
        .args(["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
        .output()
        .expect("podman is installed (scripts/setup)");
    String::from_utf8(out.stdout).unwrap()
}

fn get_json(url: &str) -> Value {
    let (status, body) = eventually(Duration::from_secs(15), || {
        http_get(url, None).filter(|(status, _)| *status == 200)
    })
    .unwrap_or_else(|| panic!("{url} never answered 200: {:?}", http_get(url, None)));
    assert_eq!(status, 200);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_note_passes_through_all_three_tiers_into_storage_and_back() {
    let example = built_example();
    let agent = Agent::start();
    agent.ok(&[
        "deploy",
        "three-tier",
        example.path().to_str().unwrap(),
        "--wait",
    ]);

    let delegates: Vec<(String, String)> = agent
        .instances("three-tier")
        .iter()
        .map(|i| {
            assert_eq!(i["state"], "running", "{i}");
            (
                i["node"].as_str().unwrap().to_owned(),
                i["delegate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (node, delegate) in [
        ("frontend", "podman"),
        ("app", "process"),
        ("db", "nspawn"),
        ("db-data", "directory"),
        ("app-data", "directory"),
    ] {
        assert!(
            delegates.contains(&(node.to_owned(), delegate.to_owned())),
            "{node} by {delegate}: {delegates:?}"
        );
    }

    let url = agent.json(&["outputs", "three-tier"])["url"]
        .as_str()
        .expect("outputs has url")
        .to_owned();
    let token = format!("note-{}", std::process::id());
    let answer = get_json(&format!("{url}?note={token}"));
    assert_eq!(answer["tier"], "frontend", "{answer}");
    assert_eq!(answer["app"]["tier"], "app", "{answer}");
    let app_pid = agent.instance("three-tier", "app")["pid"].as_u64();
    assert_eq!(answer["app"]["pid"].as_u64(), app_pid, "{answer}");
    assert_eq!(
        answer["app"]["notes"],
        serde_json::json!([token]),
        "{answer}"
    );

    // The note is in the database's directory on the host, the counter in the app's.
    let db_data = agent.instance("three-tier", "db-data");
    let db_dir = Path::new(db_data["attributes"]["path"].as_str().expect("path"));
    assert_eq!(read(&db_dir.join("notes.txt")), format!("{token}\n"));
    let app_data = agent.instance("three-tier", "app-data");
    let app_dir = Path::new(app_data["attributes"]["path"].as_str().expect("path"));
    assert_eq!(read(&app_dir.join("requests")).trim(), "1");

    // A second request sees the first note: the state is the database's, not a cache.
    let again = get_json(&url);
    assert_eq!(again["app"]["notes"], serde_json::json!([token]), "{again}");
    assert_eq!(again["app"]["requests"], 2, "{again}");

    let db_pid = agent.instance("three-tier", "db")["pid"].as_u64().unwrap() as u32;
    agent.ok(&["delete", "three-tier", "--wait"]);
    assert_eq!(
        podman_names("label=io.khutulun.instance=default/three-tier/frontend/0").trim(),
        "",
        "the frontend container is gone"
    );
    assert!(
        eventually(Duration::from_secs(5), || (!process_alive(db_pid))
            .then_some(()))
        .is_some(),
        "the database's nspawn process {db_pid} is gone"
    );
    assert!(app_pid.is_some_and(|pid| !process_alive(pid as u32)));
    // Directories are kept by default, with their data.
    assert!(db_dir.join("notes.txt").exists());
}
