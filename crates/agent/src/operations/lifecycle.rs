//! The lifecycle operations a template defines, run at the matching points of a start and
//! a stop (see ARCHITECTURE.md, "Operations"):
//!
//! start: `Standard.create`, then per requirement `Configure.pre_configure_source` (on the
//! source's host) and `Configure.pre_configure_target` (on the target's host),
//! `Standard.configure`, `Configure.post_configure_source`/`_target`, then the workload
//! starts, then `Standard.start`. stop: `Standard.stop` before the workload stops,
//! `Standard.delete` after it when the instance goes for good.

use super::protocol::{OperationRequest, RelationshipEnds};
use crate::agent::Agent;
use khutulun_graph::{Operation, ServiceGraph};
use khutulun_state::{InstanceRecord, InstanceRef};

pub const STANDARD: &str = "Standard";
pub const CONFIGURE: &str = "Configure";

/// Where in a start or stop a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the workload starts: create and configure (with the relationships' steps).
    BeforeStart,
    /// The workload runs: start.
    AfterStart,
    /// Before the workload is stopped: stop.
    BeforeStop,
    /// The instance goes for good: delete.
    Removed,
}

/// One operation to run: on which instance (its host runs it) and for which relationship.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub operation: String,
    pub runs_on: (String, u32),
    pub relationship: Option<RelationshipEnds>,
}

fn runnable(operation: Option<&Operation>) -> bool {
    operation.is_some_and(|o| o.implementation.is_some())
}

/// The steps of `phase` for representation `index` of `node`, in order. Pure: the graph
/// says what exists; `target_count` gives how many representations a target node has.
pub fn steps(graph: &ServiceGraph, node: &str, index: u32, phase: Phase) -> Vec<Step> {
    let Some(this) = graph.node(node) else {
        return Vec::new();
    };
    let own = |name: &str| -> Option<Step> {
        runnable(this.operation(STANDARD, name)).then(|| Step {
            operation: format!("{STANDARD}.{name}"),
            runs_on: (node.to_owned(), index),
            relationship: None,
        })
    };
    let relationship_steps = |prefix: &str| -> Vec<Step> {
        let mut steps = Vec::new();
        for relationship in graph.requirements_of(node) {
            let target_count = graph
                .node(&relationship.target)
                .map(|t| t.count.max(1))
                .unwrap_or(1);
            let ends = RelationshipEnds {
                source: node.to_owned(),
                source_index: index,
                requirement: relationship.requirement.clone(),
                target: relationship.target.clone(),
                target_index: index % target_count,
            };
            for (end, runs_on) in [
                ("source", (ends.source.clone(), ends.source_index)),
                ("target", (ends.target.clone(), ends.target_index)),
            ] {
                let name = format!("{prefix}_configure_{end}");
                if runnable(relationship.operation(CONFIGURE, &name)) {
                    steps.push(Step {
                        operation: format!("{CONFIGURE}.{name}"),
                        runs_on,
                        relationship: Some(ends.clone()),
                    });
                }
            }
        }
        steps
    };
    match phase {
        Phase::BeforeStart => own("create")
            .into_iter()
            .chain(relationship_steps("pre"))
            .chain(own("configure"))
            .chain(relationship_steps("post"))
            .collect(),
        Phase::AfterStart => own("start").into_iter().collect(),
        Phase::BeforeStop => own("stop").into_iter().collect(),
        Phase::Removed => own("delete").into_iter().collect(),
    }
}

/// Runs the steps of `phase` in order; the first that fails stops the sequence, and its
/// reason is returned (`operation Standard.configure failed: exited with code 3: ...`).
pub async fn run_phase(
    agent: &Agent,
    instance: &InstanceRef,
    graph: &ServiceGraph,
    instances: &[InstanceRecord],
    phase: Phase,
) -> Result<(), String> {
    for step in steps(graph, &instance.node, instance.index, phase) {
        let runs_on = crate::names::instance_ref(
            &instance.namespace,
            &instance.service,
            &step.runs_on.0,
            step.runs_on.1,
        );
        let host = instances
            .iter()
            .find(|r| r.node == runs_on.node && r.index == runs_on.index)
            .map(|r| r.host.clone())
            .unwrap_or_else(|| agent.host.name.clone());
        let request = OperationRequest {
            instance: runs_on,
            operation: step.operation.clone(),
            inputs: Default::default(),
            relationship: step.relationship.clone(),
            event: None,
            cause: Some("lifecycle".into()),
        };
        let failed = match super::run_on(agent, &host, &request, None).await {
            Ok(end) if end.code == 0 => None,
            Ok(end) => Some(end.failure()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(why) = failed {
            return Err(format!("operation {} failed: {why}", step.operation));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_graph::{Artifact, Implementation, Interface, Node, Relationship};
    use std::collections::BTreeMap;

    fn operation() -> Operation {
        Operation {
            implementation: Some(Implementation {
                primary: Artifact {
                    file: "x.sh".into(),
                    types: Vec::new(),
                },
                dependencies: Vec::new(),
            }),
            ..Operation::default()
        }
    }

    fn interface(names: &[&str]) -> BTreeMap<String, Interface> {
        let mut operations: BTreeMap<String, Operation> =
            names.iter().map(|n| (n.to_string(), operation())).collect();
        // Defined without an implementation: nothing to run.
        operations.entry("stop".into()).or_default();
        BTreeMap::from([(
            "Standard".to_owned(),
            Interface {
                types: Vec::new(),
                operations,
                notifications: BTreeMap::new(),
            },
        )])
    }

    fn node(name: &str, count: u32, operations: &[&str]) -> Node {
        Node {
            name: name.into(),
            types: Vec::new(),
            count,
            properties: BTreeMap::new(),
            attributes: BTreeMap::new(),
            kinds: BTreeMap::new(),
            capabilities: BTreeMap::new(),
            interfaces: interface(operations),
            artifacts: BTreeMap::new(),
        }
    }

    fn graph() -> ServiceGraph {
        let configure = Interface {
            types: Vec::new(),
            operations: ["pre_configure_target", "post_configure_source"]
                .iter()
                .map(|n| (n.to_string(), operation()))
                .collect(),
            notifications: BTreeMap::new(),
        };
        ServiceGraph {
            inputs: BTreeMap::new(),
            nodes: vec![
                node("app", 2, &["create", "configure", "start", "delete"]),
                node("db", 1, &["create"]),
            ],
            relationships: vec![Relationship {
                source: "app".into(),
                requirement: "database".into(),
                target: "db".into(),
                capability: "endpoint".into(),
                types: Vec::new(),
                properties: BTreeMap::new(),
                attributes: BTreeMap::new(),
                kinds: BTreeMap::new(),
                interfaces: BTreeMap::from([("Configure".to_owned(), configure)]),
            }],
            outputs: BTreeMap::new(),
            policies: Vec::new(),
            functions: BTreeMap::new(),
            input_kinds: BTreeMap::new(),
        }
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{}@{}/{}", s.operation, s.runs_on.0, s.runs_on.1))
            .collect()
    }

    #[test]
    fn a_start_runs_create_then_the_relationships_and_configure_in_order() {
        let g = graph();
        assert_eq!(
            names(&steps(&g, "app", 1, Phase::BeforeStart)),
            vec![
                "Standard.create@app/1",
                "Configure.pre_configure_target@db/0",
                "Standard.configure@app/1",
                "Configure.post_configure_source@app/1",
            ]
        );
        assert_eq!(
            names(&steps(&g, "app", 0, Phase::AfterStart)),
            vec!["Standard.start@app/0"]
        );
    }

    #[test]
    fn operations_without_an_implementation_are_not_steps() {
        let g = graph();
        assert!(steps(&g, "app", 0, Phase::BeforeStop).is_empty());
        assert_eq!(
            names(&steps(&g, "app", 0, Phase::Removed)),
            vec!["Standard.delete@app/0"]
        );
        assert_eq!(
            names(&steps(&g, "db", 0, Phase::BeforeStart)),
            vec!["Standard.create@db/0"]
        );
        assert!(steps(&g, "nope", 0, Phase::BeforeStart).is_empty());
    }
}
