use super::*;
use crate::{dependencies_of, start_order, stop_order, CycleError, Node, Relationship};

fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        types: Vec::new(),
        count: 1,
        properties: BTreeMap::new(),
        attributes: BTreeMap::new(),
        kinds: BTreeMap::new(),
        capabilities: BTreeMap::new(),
        interfaces: BTreeMap::new(),
        artifacts: BTreeMap::new(),
    }
}

fn requires(source: &str, target: &str) -> Relationship {
    Relationship {
        source: source.into(),
        requirement: "r".into(),
        target: target.into(),
        capability: "c".into(),
        types: Vec::new(),
        properties: BTreeMap::new(),
        attributes: BTreeMap::new(),
        kinds: BTreeMap::new(),
        interfaces: BTreeMap::new(),
    }
}

fn graph(nodes: &[&str], edges: &[(&str, &str)]) -> ServiceGraph {
    ServiceGraph {
        inputs: BTreeMap::new(),
        nodes: nodes.iter().map(|n| node(n)).collect(),
        relationships: edges.iter().map(|(s, t)| requires(s, t)).collect(),
        outputs: BTreeMap::new(),
        policies: Vec::new(),
        functions: BTreeMap::new(),
        input_kinds: BTreeMap::new(),
    }
}

#[test]
fn nodes_start_after_what_they_require() {
    let g = graph(
        &["web", "cache", "db", "log"],
        &[("web", "db"), ("web", "cache"), ("cache", "db")],
    );
    assert_eq!(start_order(&g).unwrap(), ["db", "cache", "web", "log"]);
    assert_eq!(stop_order(&g).unwrap(), ["log", "web", "cache", "db"]);
    assert_eq!(dependencies_of(&g, "web"), ["db", "cache"]);
    assert_eq!(g.dependencies_of("db"), Vec::<String>::new());
}

#[test]
fn independent_nodes_keep_template_order() {
    let g = graph(&["c", "a", "b"], &[]);
    assert_eq!(g.start_order().unwrap(), ["c", "a", "b"]);
    let g = graph(&["c", "a", "b"], &[("c", "b"), ("c", "b")]);
    assert_eq!(g.start_order().unwrap(), ["a", "b", "c"]);
    assert_eq!(g.dependencies_of("c"), ["b"]);
}

#[test]
fn cycles_are_errors_naming_their_nodes() {
    let g = graph(
        &["ok", "a", "b", "c"],
        &[("a", "b"), ("b", "c"), ("c", "a")],
    );
    let error = start_order(&g).unwrap_err();
    assert_eq!(
        error,
        CycleError {
            nodes: vec!["a".into(), "b".into(), "c".into()]
        }
    );
    assert_eq!(
        error.to_string(),
        "requirement cycle: a requires b requires c requires a"
    );
    assert!(stop_order(&g).is_err());
    let g = graph(&["self"], &[("self", "self")]);
    assert_eq!(start_order(&g).unwrap_err().nodes, ["self"]);
}

#[test]
fn the_first_example_starts_the_backend_first() {
    let g = graph_of(HELLO, &[]);
    assert_eq!(g.start_order().unwrap(), ["backend", "frontend"]);
    assert_eq!(g.dependencies_of("frontend"), ["backend"]);
}
