//! Exposure: the reserved ports of endpoints marked for it are opened in the host firewall
//! (firewalld, through `firewall-cmd`) while their instance runs on this host.
//!
//! An endpoint is exposed when its `TcpEndpoint` capability says `expose: true`, or when a
//! `ConnectsTo` relationship with `expose: true` targets it. Its port is opened when the
//! instance reaches `running` (start, restart, adoption after an agent restart) and closed
//! when the instance is stopped for good on this host (`local::stop_here`: delete,
//! redeploy, a move to another host). A workload that exits and is restarted by its policy
//! keeps its port open; so does one left running when the agent stops.
//!
//! What this host opened for an instance is noted in `<instance dir>/exposed.json`, so
//! closing needs neither the graph (a redeploy may have replaced it) nor the agent that
//! opened it (the note survives restarts). A port firewalld already had open before
//! Khutulun asked (an administrator's) is noted apart and left open.
//!
//! Without firewalld (not running, not installed, no system bus) nothing is opened: the
//! agent logs one note per port and instance, emits `port_not_opened` saying why, and the
//! instance runs all the same. Exposure never fails an instance.

use crate::agent::Agent;
use khutulun_delegates::firewall::{Change, Firewall, FirewallError, FirewallState};
use khutulun_graph::{Expr, Node, ServiceGraph};
use khutulun_profile as profile;
use khutulun_state::{EventKind, InstanceRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// The agent's handle on the host firewall.
pub struct Exposure {
    firewall: Firewall,
    /// (instance, port) pairs whose "not opened" note was given in this agent's life, so a
    /// workload that restarts again and again does not repeat it.
    noted: Mutex<HashSet<(InstanceRef, u16)>>,
}

impl Exposure {
    pub fn new() -> Exposure {
        Exposure {
            firewall: Firewall::new(),
            noted: Mutex::new(HashSet::new()),
        }
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, HashSet<(InstanceRef, u16)>> {
        self.noted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// True when endpoint `endpoint` of `node` is to be opened in the host firewall: a
/// `TcpEndpoint` with `expose: true`, or one a `ConnectsTo` with `expose: true` targets.
pub fn is_exposed(graph: &ServiceGraph, node: &Node, endpoint: &str) -> bool {
    let p = profile::PROFILE_PREFIX;
    let Some(capability) = node.capabilities.get(endpoint) else {
        return false;
    };
    if !capability.is_a(p, profile::TCP_ENDPOINT) {
        return false;
    }
    is_true(capability.properties.get("expose"))
        || graph.dependants_of(&node.name).any(|r| {
            r.capability == endpoint
                && r.is_a(p, profile::CONNECTS_TO)
                && is_true(r.properties.get("expose"))
        })
}

fn is_true(value: Option<&Expr>) -> bool {
    matches!(value, Some(Expr::Value(Value::Bool(true))))
}

/// `<instance dir>/exposed.json`: what this host's firewall holds for the instance.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Note {
    /// Ports this host opened, by endpoint: closed when the instance goes.
    #[serde(default)]
    opened: BTreeMap<String, u16>,
    /// Ports firewalld had open before Khutulun asked, by endpoint: left open.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    found_open: BTreeMap<String, u16>,
}

fn note_path(agent: &Agent, instance: &InstanceRef) -> PathBuf {
    crate::workload::instance_dir(
        &agent.config.data_dir,
        &instance.namespace,
        &instance.service,
        &instance.node,
        instance.index,
    )
    .join("exposed.json")
}

/// The endpoints of `node` to open in the host firewall (computed with its workload, from
/// the graph already at hand).
pub fn exposed_endpoints(graph: &ServiceGraph, node: &Node) -> Vec<String> {
    node.capabilities
        .keys()
        .filter(|endpoint| is_exposed(graph, node, endpoint))
        .cloned()
        .collect()
}

/// The reserved ports of an instance's exposed endpoints, from its record.
fn exposed_ports(
    agent: &Agent,
    instance: &InstanceRef,
    exposed: &[String],
) -> Result<Vec<(String, u16)>, String> {
    let record = agent
        .store
        .instance(
            &instance.namespace,
            &instance.service,
            &instance.node,
            instance.index,
        )
        .map_err(|e| e.to_string())?;
    Ok(record
        .map(|r| {
            r.ports
                .into_iter()
                .filter(|(endpoint, _)| exposed.contains(endpoint))
                .collect()
        })
        .unwrap_or_default())
}

/// Opens the exposed ports of an instance that now runs on this host. Never fails it: a
/// port that cannot be opened is logged and announced (`port_not_opened`).
pub async fn open(agent: &Agent, instance: &InstanceRef, exposed: &[String]) {
    if exposed.is_empty() {
        return;
    }
    let wanted = match exposed_ports(agent, instance, exposed) {
        Ok(wanted) => wanted,
        Err(e) => {
            tracing::warn!("cannot tell which ports of {instance} to expose: {e}");
            return;
        }
    };
    if wanted.is_empty() {
        return;
    }
    let path = note_path(agent, instance);
    let mut note: Note = khutulun_state::read_json(&path)
        .ok()
        .flatten()
        .unwrap_or_default();
    let firewall = &agent.exposure.firewall;
    let state = firewall.state().await;
    for (endpoint, port) in wanted {
        let result = match &state {
            FirewallState::Running => firewall.open_tcp_port(port).await,
            FirewallState::NotRunning(why) => Err(FirewallError::NotRunning(why.clone())),
            FirewallState::NotInstalled => Err(FirewallError::NotInstalled),
        };
        let ours = note.opened.get(&endpoint) == Some(&port);
        let theirs = note.found_open.get(&endpoint) == Some(&port);
        match result {
            Ok(Change::Done) => {
                note.found_open.remove(&endpoint);
                note.opened.insert(endpoint.clone(), port);
                agent.exposure.noted().remove(&(instance.clone(), port));
                tracing::info!(
                    "{instance}: opened port {port}/tcp (endpoint {endpoint}) in the host firewall"
                );
                agent.emit(EventKind::PortOpened {
                    instance: instance.clone(),
                    endpoint,
                    port,
                    already_open: false,
                });
            }
            // Opened before this start (a restart, an adoption): nothing new.
            Ok(Change::Already) if ours || theirs => {
                tracing::debug!("{instance}: port {port}/tcp is open in the host firewall");
            }
            Ok(Change::Already) => {
                note.found_open.insert(endpoint.clone(), port);
                tracing::info!(
                    "{instance}: port {port}/tcp (endpoint {endpoint}) was already open in the host firewall; it stays open when the instance goes"
                );
                agent.emit(EventKind::PortOpened {
                    instance: instance.clone(),
                    endpoint,
                    port,
                    already_open: true,
                });
            }
            Err(e) => not_opened(agent, instance, &endpoint, port, &e),
        }
    }
    if note.opened.is_empty() && note.found_open.is_empty() {
        return;
    }
    if let Err(e) = khutulun_state::write_json(&path, &note) {
        tracing::warn!(
            "{instance}: cannot note the ports opened in the host firewall ({e}); close them by hand when it goes: {}",
            note.opened
                .values()
                .map(|p| format!("firewall-cmd --remove-port={p}/tcp"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// Says once per instance and port (in this agent's life) that the port was not opened.
fn not_opened(agent: &Agent, instance: &InstanceRef, endpoint: &str, port: u16, e: &FirewallError) {
    if !agent.exposure.noted().insert((instance.clone(), port)) {
        return;
    }
    let message = not_opened_message(port, e);
    tracing::warn!("{instance} (endpoint {endpoint}): {message}");
    agent.emit(EventKind::PortNotOpened {
        instance: instance.clone(),
        endpoint: endpoint.to_owned(),
        port,
        message,
    });
}

fn not_opened_message(port: u16, e: &FirewallError) -> String {
    match e {
        FirewallError::NotRunning(why) => format!(
            "port {port}/tcp was not opened in the host firewall because firewalld is not running ({why}); the instance runs all the same"
        ),
        FirewallError::NotInstalled => format!(
            "port {port}/tcp was not opened in the host firewall because firewalld is not running (firewall-cmd is not installed); the instance runs all the same"
        ),
        FirewallError::Failed { .. } => format!(
            "port {port}/tcp could not be opened in the host firewall: {e}; the instance runs all the same"
        ),
    }
}

/// Closes what this host opened for an instance that is stopped for good here. Ports that
/// were open before Khutulun asked stay open.
pub async fn close(agent: &Agent, instance: &InstanceRef) {
    let path = note_path(agent, instance);
    agent.exposure.noted().retain(|(i, _)| i != instance);
    let Some(note) = khutulun_state::read_json::<Note>(&path).ok().flatten() else {
        return;
    };
    let firewall = &agent.exposure.firewall;
    for (endpoint, port) in note.opened {
        match firewall.close_tcp_port(port).await {
            Ok(Change::Done) => {
                tracing::info!(
                    "{instance}: closed port {port}/tcp (endpoint {endpoint}) in the host firewall"
                );
                agent.emit(EventKind::PortClosed {
                    instance: instance.clone(),
                    endpoint,
                    port,
                });
            }
            Ok(Change::Already) => tracing::info!(
                "{instance}: port {port}/tcp was no longer open in the host firewall (firewalld restarted or reloaded since)"
            ),
            // firewalld's runtime rules go with it: nothing is left open.
            Err(FirewallError::NotRunning(why)) => tracing::info!(
                "{instance}: port {port}/tcp not closed: firewalld no longer runs ({why})"
            ),
            Err(e) => tracing::warn!(
                "{instance}: cannot close port {port}/tcp in the host firewall: {e}; close it with firewall-cmd --remove-port={port}/tcp"
            ),
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_graph::{Capability, Relationship, TypeRef};

    fn types(name: &str) -> Vec<TypeRef> {
        vec![
            TypeRef {
                name: name.into(),
                profile: Some(profile::PROFILE_NAME.into()),
            },
            TypeRef {
                name: profile::ROOT.into(),
                profile: Some(profile::PROFILE_NAME.into()),
            },
        ]
    }

    fn node(name: &str, expose: Option<bool>) -> Node {
        let mut properties = BTreeMap::new();
        if let Some(expose) = expose {
            properties.insert("expose".into(), Expr::Value(Value::Bool(expose)));
        }
        Node {
            name: name.into(),
            types: types(profile::PROCESS),
            count: 1,
            properties: BTreeMap::new(),
            attributes: BTreeMap::new(),
            kinds: BTreeMap::new(),
            capabilities: BTreeMap::from([(
                "endpoint".into(),
                Capability {
                    types: types(profile::TCP_ENDPOINT),
                    properties,
                    attributes: BTreeMap::new(),
                    kinds: BTreeMap::new(),
                },
            )]),
            interfaces: BTreeMap::new(),
            artifacts: BTreeMap::new(),
        }
    }

    fn connection(expose: bool) -> Relationship {
        Relationship {
            source: "client".into(),
            requirement: "connection".into(),
            target: "server".into(),
            capability: "endpoint".into(),
            types: types(profile::CONNECTS_TO),
            properties: BTreeMap::from([("expose".into(), Expr::Value(Value::Bool(expose)))]),
            attributes: BTreeMap::new(),
            kinds: BTreeMap::new(),
            interfaces: BTreeMap::new(),
        }
    }

    fn graph(nodes: Vec<Node>, relationships: Vec<Relationship>) -> ServiceGraph {
        ServiceGraph {
            inputs: BTreeMap::new(),
            nodes,
            relationships,
            outputs: BTreeMap::new(),
            policies: Vec::new(),
            functions: BTreeMap::new(),
            input_kinds: BTreeMap::new(),
        }
    }

    #[test]
    fn an_endpoint_is_exposed_by_its_own_flag_or_by_an_exposing_connection() {
        let g = graph(vec![node("server", Some(true))], vec![]);
        assert!(is_exposed(&g, &g.nodes[0], "endpoint"));
        assert!(!is_exposed(&g, &g.nodes[0], "other"));

        let g = graph(vec![node("server", Some(false))], vec![]);
        assert!(!is_exposed(&g, &g.nodes[0], "endpoint"));
        let g = graph(vec![node("server", None)], vec![connection(false)]);
        assert!(!is_exposed(&g, &g.nodes[0], "endpoint"));

        let g = graph(
            vec![node("server", Some(false)), node("client", None)],
            vec![connection(true)],
        );
        assert!(is_exposed(&g, &g.nodes[0], "endpoint"));
        // The connection exposes its target, not its source.
        assert!(!is_exposed(&g, &g.nodes[1], "endpoint"));
    }

    #[test]
    fn the_note_says_why_a_port_was_not_opened() {
        let e = FirewallError::NotRunning("firewall-cmd says: not running".into());
        let text = not_opened_message(20001, &e);
        assert!(text.contains("port 20001/tcp was not opened"), "{text}");
        assert!(text.contains("because firewalld is not running"), "{text}");
        let text = not_opened_message(20001, &FirewallError::NotInstalled);
        assert!(text.contains("because firewalld is not running"), "{text}");
        assert!(text.contains("not installed"), "{text}");
    }
}
