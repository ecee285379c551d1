//! What differs between two revisions of a service, node by node: the plan of a redeploy.
//!
//! Pure: the caller gives the digests of both packages' files ([`FileDigests`]), so that a
//! script whose content changed counts as a change of every node that runs it.

use crate::model::{Artifact, Interface, Node, Relationship, ServiceGraph};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A package's files: the path relative to the package root, and a digest of its content.
pub type FileDigests = BTreeMap<String, String>;

/// What a redeploy does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeAction {
    /// Only in the new revision.
    Create,
    /// Only in the current revision.
    Remove,
    /// In both, with differences (`NodeChange::reasons`).
    Change,
    /// In both, the same.
    Unchanged,
}

/// One node of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChange {
    pub node: String,
    pub action: NodeAction,
    /// Instances in the current revision (0 for a new node).
    pub count_before: u32,
    /// Instances in the new revision (0 for a removed node).
    pub count_after: u32,
    /// What differs, one line each, in a fixed order; empty unless `Change`.
    pub reasons: Vec<String>,
}

/// The files whose content differs between two packages (added, removed or changed), in
/// path order.
pub fn changed_files(old_files: &FileDigests, new_files: &FileDigests) -> Vec<String> {
    let paths: BTreeSet<&String> = old_files.keys().chain(new_files.keys()).collect();
    paths
        .into_iter()
        .filter(|p| old_files.get(*p) != new_files.get(*p))
        .cloned()
        .collect()
}

/// The files whose content differs between two packages and that no node of either
/// revision names ([`files_of_node`]): TOSCA files, data a program reads.
pub fn unnamed_changed_files(
    old: &ServiceGraph,
    new: &ServiceGraph,
    old_files: &FileDigests,
    new_files: &FileDigests,
) -> Vec<String> {
    let named: BTreeSet<String> = new
        .nodes
        .iter()
        .flat_map(|n| files_of_node(new, n, new_files))
        .chain(
            old.nodes
                .iter()
                .flat_map(|n| files_of_node(old, n, old_files)),
        )
        .collect();
    changed_files(old_files, new_files)
        .into_iter()
        .filter(|f| !named.contains(f))
        .collect()
}

/// The package files `node` uses as far as the graph can tell: its artifacts, the
/// implementations of its operations and those of its outgoing relationships, and any
/// property value that names a file of the package (`arguments: [ backend.py ]`).
pub fn files_of_node(graph: &ServiceGraph, node: &Node, files: &FileDigests) -> BTreeSet<String> {
    let mut used = files_used(graph, node);
    let mut strings = Vec::new();
    for value in node.properties.values() {
        if let Ok(json) = serde_json::to_value(value) {
            collect_strings(&json, &mut strings);
        }
    }
    for s in strings {
        let path = s.strip_prefix("./").unwrap_or(&s);
        if files.contains_key(path) {
            used.insert(path.to_owned());
        }
    }
    used
}

fn collect_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => into.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

/// The nodes of `new` in its order, then those only `old` has; each with what differs.
pub fn diff(
    old: &ServiceGraph,
    new: &ServiceGraph,
    old_files: &FileDigests,
    new_files: &FileDigests,
) -> Vec<NodeChange> {
    let mut changes: Vec<NodeChange> = new
        .nodes
        .iter()
        .map(|node| match old.node(&node.name) {
            None => NodeChange {
                node: node.name.clone(),
                action: NodeAction::Create,
                count_before: 0,
                count_after: node.count,
                reasons: Vec::new(),
            },
            Some(before) => {
                let reasons = node_differences(old, before, new, node, old_files, new_files);
                NodeChange {
                    node: node.name.clone(),
                    action: if reasons.is_empty() {
                        NodeAction::Unchanged
                    } else {
                        NodeAction::Change
                    },
                    count_before: before.count,
                    count_after: node.count,
                    reasons,
                }
            }
        })
        .collect();
    changes.extend(
        old.nodes
            .iter()
            .filter(|node| new.node(&node.name).is_none())
            .map(|node| NodeChange {
                node: node.name.clone(),
                action: NodeAction::Remove,
                count_before: node.count,
                count_after: 0,
                reasons: Vec::new(),
            }),
    );
    changes
}

fn node_differences(
    old_graph: &ServiceGraph,
    old: &Node,
    new_graph: &ServiceGraph,
    new: &Node,
    old_files: &FileDigests,
    new_files: &FileDigests,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if old.types.first() != new.types.first() {
        reasons.push(format!(
            "type {} → {}",
            type_name(old.types.first()),
            type_name(new.types.first())
        ));
    }
    if old.count != new.count {
        reasons.push(format!("count {} → {}", old.count, new.count));
    }
    keyed_differences("property", &old.properties, &new.properties, &mut reasons);
    keyed_differences(
        "capability",
        &old.capabilities,
        &new.capabilities,
        &mut reasons,
    );
    keyed_differences("interface", &old.interfaces, &new.interfaces, &mut reasons);
    keyed_differences("artifact", &old.artifacts, &new.artifacts, &mut reasons);
    relationship_differences(old_graph, new_graph, &new.name, &mut reasons);
    let policies = |graph: &ServiceGraph| -> BTreeMap<String, String> {
        graph
            .policies
            .iter()
            .filter(|p| p.targets.contains(&new.name))
            .map(|p| (p.name.clone(), serde_json::to_string(p).unwrap_or_default()))
            .collect()
    };
    keyed_differences(
        "policy",
        &policies(old_graph),
        &policies(new_graph),
        &mut reasons,
    );
    let old_used = files_of_node(old_graph, old, old_files);
    for file in files_of_node(new_graph, new, new_files) {
        let (before, after) = (old_files.get(&file), new_files.get(&file));
        if old_used.contains(&file) && before != after {
            reasons.push(format!("file {file} changed"));
        }
    }
    reasons
}

fn type_name(t: Option<&crate::model::TypeRef>) -> String {
    t.map_or_else(|| "(none)".to_owned(), |t| t.name.clone())
}

/// `<what> <key> added/removed/changed` for every key whose value differs.
fn keyed_differences<V: PartialEq>(
    what: &str,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    reasons: &mut Vec<String>,
) {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        match (old.get(key), new.get(key)) {
            (None, Some(_)) => reasons.push(format!("{what} {key} added")),
            (Some(_), None) => reasons.push(format!("{what} {key} removed")),
            (Some(a), Some(b)) if a != b => reasons.push(format!("{what} {key} changed")),
            _ => {}
        }
    }
}

/// The node's requirements, by requirement name and target.
fn relationship_differences(
    old: &ServiceGraph,
    new: &ServiceGraph,
    node: &str,
    reasons: &mut Vec<String>,
) {
    let outgoing = |graph: &ServiceGraph| -> BTreeMap<String, Relationship> {
        graph
            .relationships
            .iter()
            .filter(|r| r.source == node)
            .map(|r| {
                (
                    format!("{} to {}.{}", r.requirement, r.target, r.capability),
                    r.clone(),
                )
            })
            .collect()
    };
    keyed_differences("requirement", &outgoing(old), &outgoing(new), reasons);
}

/// The package files a node runs or carries: its artifacts, its operations' implementations
/// and those of its outgoing relationships.
fn files_used(graph: &ServiceGraph, node: &Node) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = node.artifacts.values().map(|a| a.file.clone()).collect();
    let mut add_interfaces = |interfaces: &BTreeMap<String, Interface>| {
        for interface in interfaces.values() {
            for operation in interface
                .operations
                .values()
                .chain(interface.notifications.values())
            {
                if let Some(implementation) = &operation.implementation {
                    let artifacts: Vec<&Artifact> = std::iter::once(&implementation.primary)
                        .chain(&implementation.dependencies)
                        .collect();
                    files.extend(artifacts.into_iter().map(|a| a.file.clone()));
                }
            }
        }
    };
    add_interfaces(&node.interfaces);
    for relationship in graph.relationships.iter().filter(|r| r.source == node.name) {
        add_interfaces(&relationship.interfaces);
    }
    files
}
