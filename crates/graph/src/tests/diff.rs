//! A redeploy's plan: what differs between two revisions, node by node.

use super::{graph_of, HELLO};
use crate::{diff, FileDigests, NodeAction, NodeChange};
use serde_json::json;

fn none() -> FileDigests {
    FileDigests::new()
}

fn actions(changes: &[NodeChange]) -> Vec<(&str, NodeAction)> {
    changes
        .iter()
        .map(|c| (c.node.as_str(), c.action))
        .collect()
}

#[test]
fn the_same_template_changes_nothing() {
    let graph = graph_of(HELLO, &[]);
    let changes = diff(&graph, &graph.clone(), &none(), &none());
    assert_eq!(
        actions(&changes),
        [
            ("backend", NodeAction::Unchanged),
            ("frontend", NodeAction::Unchanged)
        ]
    );
    assert!(changes.iter().all(|c| c.reasons.is_empty()));
}

#[test]
fn an_input_that_reaches_one_property_changes_that_node_alone() {
    let old = graph_of(HELLO, &[]);
    let new = graph_of(HELLO, &[("greeting", json!("hi"))]);
    let changes = diff(&old, &new, &none(), &none());
    assert_eq!(
        actions(&changes),
        [
            ("backend", NodeAction::Change),
            ("frontend", NodeAction::Unchanged)
        ]
    );
    assert_eq!(changes[0].reasons, ["property environment changed"]);
}

#[test]
fn nodes_added_removed_counted_and_rewired_are_told_apart() {
    let old = graph_of(HELLO, &[]);
    let text = HELLO
        .replace("    frontend:\n", "    web:\n")
        .replace("      type: Process\n      properties:\n        command: python3\n        arguments: [ backend.py ]", "      type: Process\n      count: 2\n      properties:\n        command: python3\n        arguments: [ backend.py ]")
        .replace("frontend, address", "web, address")
        .replace("frontend, CAPABILITY", "web, CAPABILITY");
    let new = graph_of(&text, &[]);
    let changes = diff(&old, &new, &none(), &none());
    assert_eq!(
        actions(&changes),
        [
            ("backend", NodeAction::Change),
            ("web", NodeAction::Create),
            ("frontend", NodeAction::Remove)
        ]
    );
    assert_eq!(changes[0].reasons, ["count 1 → 2"]);
    assert_eq!((changes[0].count_before, changes[0].count_after), (1, 2));
    assert_eq!((changes[1].count_before, changes[1].count_after), (0, 1));
    assert_eq!((changes[2].count_before, changes[2].count_after), (1, 0));
}

const SCRIPTED: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    db:
      type: Process
      properties:
        command: sleep
        arguments: [ "3600" ]
    app:
      type: Process
      properties:
        command: sleep
        arguments: [ "3600" ]
      interfaces:
        Standard:
          operations:
            configure: scripts/configure.sh
      requirements:
        - connection: db
"#;

#[test]
fn a_script_whose_content_changed_changes_the_node_that_runs_it() {
    let graph = graph_of(SCRIPTED, &[]);
    let files = |digest: &str| -> FileDigests {
        [
            ("scripts/configure.sh".to_owned(), digest.to_owned()),
            ("service.yaml".to_owned(), "same".to_owned()),
        ]
        .into()
    };
    let changes = diff(&graph, &graph, &files("1"), &files("2"));
    assert_eq!(
        actions(&changes),
        [("db", NodeAction::Unchanged), ("app", NodeAction::Change)]
    );
    assert_eq!(changes[1].reasons, ["file scripts/configure.sh changed"]);
}

#[test]
fn a_requirement_to_another_target_is_a_change_of_its_source() {
    let text = SCRIPTED.replace(
        "    app:\n",
        "    db2:\n      type: Process\n      properties:\n        command: sleep\n        arguments: [ \"3600\" ]\n    app:\n",
    );
    let old = graph_of(&text, &[]);
    let new = graph_of(
        &text.replace("- connection: db\n", "- connection: db2\n"),
        &[],
    );
    let changes = diff(&old, &new, &none(), &none());
    let app = changes.iter().find(|c| c.node == "app").unwrap();
    assert_eq!(app.action, NodeAction::Change);
    assert_eq!(
        app.reasons,
        [
            "requirement connection to db.endpoint removed",
            "requirement connection to db2.endpoint added"
        ]
    );
    assert!(changes
        .iter()
        .filter(|c| c.node != "app")
        .all(|c| c.action == NodeAction::Unchanged));
}

#[test]
fn a_program_named_in_a_property_changes_the_node_that_runs_it() {
    let graph = graph_of(HELLO, &[]);
    let files = |digest: &str| -> FileDigests {
        [
            ("backend.py".to_owned(), digest.to_owned()),
            ("frontend.py".to_owned(), "same".to_owned()),
            ("notes.txt".to_owned(), digest.to_owned()),
        ]
        .into()
    };
    let changes = diff(&graph, &graph, &files("1"), &files("2"));
    assert_eq!(
        actions(&changes),
        [
            ("backend", NodeAction::Change),
            ("frontend", NodeAction::Unchanged)
        ]
    );
    assert_eq!(changes[0].reasons, ["file backend.py changed"]);
    assert_eq!(
        crate::changed_files(&files("1"), &files("2")),
        ["backend.py", "notes.txt"]
    );
    assert_eq!(
        crate::unnamed_changed_files(&graph, &graph, &files("1"), &files("2")),
        ["notes.txt"]
    );
    let backend = graph.node("backend").unwrap();
    assert_eq!(
        crate::files_of_node(&graph, backend, &files("1")),
        ["backend.py".to_owned()].into()
    );
}
