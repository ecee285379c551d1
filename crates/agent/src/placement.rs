//! The bridge between a service graph and the scheduler: the Khutulun policies of a graph
//! (Redundancy applied to the counts at deploy, the others as scheduler rules), what each
//! instance asks of its host, and the hosts as the scheduler sees them.

use crate::workload::DelegateKind;
use khutulun_graph::{Expr, Policy, ServiceGraph};
use khutulun_profile::{COLOCATION, PLACEMENT, PROFILE_PREFIX, REDUNDANCY, RESOURCES, SEPARATION};
use khutulun_protocol::parse_size;
use khutulun_scheduler as scheduler;
use khutulun_state::{HostInfo, InstanceRecord};
use serde_json::Value;
use std::collections::BTreeMap;

/// Applies Redundancy policies to node counts and checks every Khutulun policy. Problems are
/// returned as messages that name the policy.
pub fn apply_policies(graph: &mut ServiceGraph) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut counts: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for policy in &graph.policies {
        for target in &policy.targets {
            if graph.node(target).is_none() {
                problems.push(format!(
                    "policy \"{}\" targets \"{target}\", which is not a node template of this service",
                    policy.name
                ));
            }
        }
        if policy.is_a(PROFILE_PREFIX, REDUNDANCY) {
            match integer(policy, "instances") {
                Some(n) if (1..=10_000).contains(&n) => {
                    for target in &policy.targets {
                        if let Some((other, by)) = counts.get(target) {
                            if *other != n as u32 {
                                problems.push(format!(
                                    "node \"{target}\" gets {other} instances from policy \"{by}\" and {n} from policy \"{}\"; make them agree",
                                    policy.name
                                ));
                            }
                        }
                        counts.insert(target.clone(), (n as u32, policy.name.clone()));
                    }
                }
                _ => problems.push(format!(
                    "policy \"{}\" (Redundancy): instances must be an integer from 1 to 10000",
                    policy.name
                )),
            }
        }
        if policy.is_a(PROFILE_PREFIX, RESOURCES) {
            if let Err(e) = resources_of(policy) {
                problems.push(e);
            }
        }
        if policy.is_a(PROFILE_PREFIX, PLACEMENT) {
            if let Err(e) = placement_rule(policy) {
                problems.push(e);
            }
        }
    }
    for (node_name, (instances, policy)) in &counts {
        if let Some(node) = graph.nodes.iter_mut().find(|n| &n.name == node_name) {
            if node.count != 1 && node.count != *instances {
                problems.push(format!(
                    "node \"{node_name}\" has count {} but policy \"{policy}\" asks for {instances} instances; leave count at 1 or make them agree",
                    node.count
                ));
            }
            node.count = *instances;
        }
    }
    let mut seen_resources: BTreeMap<&str, &str> = BTreeMap::new();
    for policy in graph
        .policies
        .iter()
        .filter(|p| p.is_a(PROFILE_PREFIX, RESOURCES))
    {
        for target in &policy.targets {
            if let Some(other) = seen_resources.insert(target, &policy.name) {
                problems.push(format!(
                    "node \"{target}\" is the target of two Resources policies (\"{other}\" and \"{}\"); keep one",
                    policy.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The scheduler's rules for the graph's policies (Redundancy and Resources are not rules).
pub fn rules(graph: &ServiceGraph) -> Vec<scheduler::Policy> {
    graph
        .policies
        .iter()
        .filter_map(|policy| {
            let rule = if policy.is_a(PROFILE_PREFIX, PLACEMENT) {
                placement_rule(policy).ok()?
            } else if policy.is_a(PROFILE_PREFIX, COLOCATION) {
                scheduler::Rule::Colocation
            } else if policy.is_a(PROFILE_PREFIX, SEPARATION) {
                scheduler::Rule::Separation {
                    strict: boolean(policy, "strict").unwrap_or(true),
                }
            } else {
                return None;
            };
            Some(scheduler::Policy {
                name: policy.name.clone(),
                targets: policy.targets.clone(),
                rule,
            })
        })
        .collect()
}

/// The label placement gives a host for each delegate it runs (never a user's label: the
/// `khutulun.io/` prefix is Khutulun's).
pub fn delegate_label(delegate: &str) -> String {
    format!("khutulun.io/delegate.{delegate}")
}

/// A feasibility rule per node whose delegate not every host runs (podman, docker,
/// nspawn): its instances go only to hosts that publish that delegate.
pub fn delegate_rules(graph: &ServiceGraph) -> Vec<scheduler::Policy> {
    let mut by_delegate: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for node in &graph.nodes {
        let kind = DelegateKind::of(graph, node);
        if kind.needs_a_capable_host() {
            by_delegate
                .entry(kind.name())
                .or_default()
                .push(node.name.clone());
        }
    }
    by_delegate
        .into_iter()
        .map(|(delegate, targets)| scheduler::Policy {
            name: format!("runs the {delegate} delegate (the host's agent can run {delegate})"),
            targets,
            rule: scheduler::Rule::Placement {
                hosts: Vec::new(),
                labels: BTreeMap::from([(delegate_label(delegate), "yes".to_owned())]),
            },
        })
        .collect()
}

/// What each instance of `node` asks of its host.
pub fn resources(graph: &ServiceGraph, node: &str) -> scheduler::Resources {
    graph
        .policies
        .iter()
        .filter(|p| p.is_a(PROFILE_PREFIX, RESOURCES) && p.targets.iter().any(|t| t == node))
        .find_map(|p| resources_of(p).ok())
        .unwrap_or_default()
}

/// The hosts as the scheduler sees them. `records` are the instance records of every service;
/// those for which `placing` is true are the ones being placed and do not count.
pub fn host_states(
    hosts: &[HostInfo],
    records: &[InstanceRecord],
    placing: &dyn Fn(&InstanceRecord) -> bool,
) -> Vec<scheduler::HostState> {
    hosts
        .iter()
        .map(|host| {
            let mut labels = host.labels.clone();
            // A host record that does not say what it runs (an older agent): anything.
            let runs: Vec<&str> = if host.delegates.is_empty() {
                DelegateKind::runnable().map(DelegateKind::name).collect()
            } else {
                host.delegates.iter().map(String::as_str).collect()
            };
            for delegate in runs {
                labels.insert(delegate_label(delegate), "yes".to_owned());
            }
            let mut state = scheduler::HostState {
                name: host.name.clone(),
                labels,
                capacity: scheduler::Resources {
                    cpu_millis: u64::from(host.cpus) * 1000,
                    memory_bytes: host.memory_bytes,
                },
                committed: scheduler::Resources::default(),
                instances: 0,
            };
            for record in records
                .iter()
                .filter(|r| r.host == host.name && !placing(r))
            {
                state.instances += 1;
                state.committed.cpu_millis += record.cpu_millis;
                state.committed.memory_bytes += record.memory_bytes;
            }
            state
        })
        .collect()
}

fn placement_rule(policy: &Policy) -> Result<scheduler::Rule, String> {
    let bad = |what: &str| format!("policy \"{}\" (Placement): {what}", policy.name);
    let hosts = match policy.properties.get("hosts") {
        None => Vec::new(),
        Some(Expr::Value(Value::Array(items))) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("hosts must be a list of host names"))?,
        Some(_) => return Err(bad("hosts must be a list of host names")),
    };
    let labels = match policy.properties.get("labels") {
        None => BTreeMap::new(),
        Some(Expr::Value(Value::Object(map))) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or_else(|| bad("labels must map label names to strings"))?,
        Some(_) => return Err(bad("labels must map label names to strings")),
    };
    Ok(scheduler::Rule::Placement { hosts, labels })
}

fn resources_of(policy: &Policy) -> Result<scheduler::Resources, String> {
    let cpu = match policy.properties.get("cpu") {
        None => 0.0,
        Some(Expr::Value(Value::Number(n))) => n.as_f64().unwrap_or(-1.0),
        Some(_) => -1.0,
    };
    if !(0.0..=100_000.0).contains(&cpu) {
        return Err(format!(
            "policy \"{}\" (Resources): cpu must be a number of cores, 0 or more (e.g. 0.5)",
            policy.name
        ));
    }
    let memory = match policy.properties.get("memory") {
        None => 0,
        Some(Expr::Value(Value::String(text))) => parse_size(text)
            .map_err(|e| format!("policy \"{}\" (Resources): memory {e}", policy.name))?,
        Some(Expr::Value(Value::Number(n))) if n.as_u64().is_some() => {
            n.as_u64().unwrap_or_default()
        }
        Some(_) => {
            return Err(format!(
                "policy \"{}\" (Resources): memory must be a size such as \"512 MiB\"",
                policy.name
            ))
        }
    };
    Ok(scheduler::Resources {
        cpu_millis: (cpu * 1000.0).round() as u64,
        memory_bytes: memory,
    })
}

fn integer(policy: &Policy, name: &str) -> Option<i64> {
    match policy.properties.get(name) {
        Some(Expr::Value(Value::Number(n))) => n.as_i64(),
        _ => None,
    }
}

fn boolean(policy: &Policy, name: &str) -> Option<bool> {
    match policy.properties.get(name) {
        Some(Expr::Value(Value::Bool(b))) => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, delegates: &[&str]) -> HostInfo {
        HostInfo {
            name: name.into(),
            address: "127.0.0.1".into(),
            api_url: String::new(),
            labels: BTreeMap::new(),
            cpus: 4,
            memory_bytes: 8 << 30,
            agent_pid: 1,
            started_at: chrono::Utc::now(),
            port_range: Default::default(),
            gossip_addr: None,
            delegates: delegates.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// Where each instance of `graph` goes on `hosts`, by the rules `assign` uses.
    fn place(graph: &ServiceGraph, hosts: &[HostInfo]) -> Result<BTreeMap<String, String>, String> {
        let request = scheduler::Request {
            instances: graph
                .nodes
                .iter()
                .map(|n| scheduler::InstanceRequest {
                    id: scheduler::InstanceId {
                        node: n.name.clone(),
                        index: 0,
                    },
                    resources: resources(graph, &n.name),
                })
                .collect(),
            policies: rules(graph)
                .into_iter()
                .chain(delegate_rules(graph))
                .collect(),
            fixed: Vec::new(),
        };
        let states = host_states(hosts, &[], &|_| false);
        scheduler::place(&request, &states)
            .map(|p| {
                p.assignments
                    .into_iter()
                    .map(|a| (a.id.node, a.host))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_instance_goes_only_to_a_host_that_runs_its_delegate() {
        let template = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Container
      properties: { image: "docker.io/library/busybox:1" }
    app:
      type: Process
      properties: { command: sleep, arguments: [ "60" ] }
  policies:
    - on-docker: { type: Delegation, properties: { delegate: docker }, targets: [ web ] }
"#;
        let compiled =
            khutulun_tosca::compile_text("s.yaml", template, &khutulun_profile::registry())
                .unwrap_or_else(|e| panic!("{e:?}"));
        let graph = khutulun_graph::instantiate(&compiled, &BTreeMap::new()).unwrap();
        let hosts = [
            host("podman-only", &["process", "directory", "podman"]),
            host("docker-too", &["process", "directory", "docker"]),
        ];
        for _ in 0..3 {
            let placed = place(&graph, &hosts).unwrap();
            assert_eq!(placed["web"], "docker-too", "{placed:?}");
        }
        // No live host runs docker: the deploy fails, naming why.
        let err = place(&graph, &hosts[..1]).unwrap_err();
        assert!(err.contains("runs the docker delegate"), "{err}");
        // A host record that does not say (an older agent) may run anything.
        assert_eq!(place(&graph, &[host("old", &[])]).unwrap()["web"], "old");
    }
}
