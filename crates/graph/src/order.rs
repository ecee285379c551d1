//! Dependency order: a node starts after the nodes it requires, and stops before them.

use crate::model::ServiceGraph;

/// A requirement cycle: no start order exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("requirement cycle: {}", cycle_text(.nodes))]
pub struct CycleError {
    /// The nodes of the cycle, each requiring the next, the last requiring the first.
    pub nodes: Vec<String>,
}

fn cycle_text(nodes: &[String]) -> String {
    let mut parts: Vec<&str> = nodes.iter().map(String::as_str).collect();
    if let Some(first) = nodes.first() {
        parts.push(first);
    }
    parts.join(" requires ")
}

/// The nodes `node` requires (targets of its relationships), each once, in requirement order.
pub fn dependencies_of(graph: &ServiceGraph, node: &str) -> Vec<String> {
    let mut dependencies: Vec<String> = Vec::new();
    for relationship in graph.requirements_of(node) {
        if !dependencies.contains(&relationship.target) {
            dependencies.push(relationship.target.clone());
        }
    }
    dependencies
}

/// Node names such that every node comes after the nodes it requires. Among nodes free to go,
/// template order is kept.
pub fn start_order(graph: &ServiceGraph) -> Result<Vec<String>, CycleError> {
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    let dependencies: Vec<Vec<usize>> = names
        .iter()
        .map(|name| {
            dependencies_of(graph, name)
                .iter()
                .filter_map(|target| names.iter().position(|n| n == target))
                .collect()
        })
        .collect();
    let mut placed = vec![false; names.len()];
    let mut order = Vec::with_capacity(names.len());
    while order.len() < names.len() {
        let ready =
            (0..names.len()).find(|&i| !placed[i] && dependencies[i].iter().all(|&d| placed[d]));
        match ready {
            Some(i) => {
                placed[i] = true;
                order.push(names[i].to_string());
            }
            None => {
                return Err(CycleError {
                    nodes: find_cycle(&dependencies, &placed)
                        .into_iter()
                        .map(|i| names[i].to_string())
                        .collect(),
                })
            }
        }
    }
    Ok(order)
}

/// The reverse of [`start_order`]: every node stops before the nodes it requires.
pub fn stop_order(graph: &ServiceGraph) -> Result<Vec<String>, CycleError> {
    let mut order = start_order(graph)?;
    order.reverse();
    Ok(order)
}

/// A cycle among the nodes not placed (every one of them waits on another one of them).
fn find_cycle(dependencies: &[Vec<usize>], placed: &[bool]) -> Vec<usize> {
    let Some(mut current) = (0..placed.len()).find(|&i| !placed[i]) else {
        return Vec::new();
    };
    let mut path: Vec<usize> = Vec::new();
    loop {
        if let Some(start) = path.iter().position(|&p| p == current) {
            return path[start..].to_vec();
        }
        path.push(current);
        match dependencies[current].iter().find(|&&d| !placed[d]) {
            Some(&next) => current = next,
            None => return path,
        }
    }
}

impl ServiceGraph {
    /// See [`start_order`].
    pub fn start_order(&self) -> Result<Vec<String>, CycleError> {
        start_order(self)
    }

    /// See [`stop_order`].
    pub fn stop_order(&self) -> Result<Vec<String>, CycleError> {
        stop_order(self)
    }

    /// See [`dependencies_of`].
    pub fn dependencies_of(&self, node: &str) -> Vec<String> {
        dependencies_of(self, node)
    }
}
