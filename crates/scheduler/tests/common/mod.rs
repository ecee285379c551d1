//! Builders shared by the scheduler's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use khutulun_scheduler::{
    HostState, InstanceId, InstanceRequest, Placement, Policy, Request, Resources, Rule,
};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

pub fn res(cpu_millis: u64, memory_bytes: u64) -> Resources {
    Resources {
        cpu_millis,
        memory_bytes,
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A host with plenty of room and nothing on it.
pub fn host(name: &str) -> HostState {
    HostState {
        name: name.to_string(),
        labels: BTreeMap::new(),
        capacity: res(64_000, 256 * GIB),
        committed: Resources::ZERO,
        instances: 0,
    }
}

pub fn labelled(name: &str, pairs: &[(&str, &str)]) -> HostState {
    HostState {
        labels: labels(pairs),
        ..host(name)
    }
}

pub fn sized(name: &str, capacity: Resources, committed: Resources) -> HostState {
    HostState {
        capacity,
        committed,
        ..host(name)
    }
}

pub fn hosts(names: &[&str]) -> Vec<HostState> {
    names.iter().map(|n| host(n)).collect()
}

pub fn id(node: &str, index: u32) -> InstanceId {
    InstanceId::new(node, index)
}

pub fn inst(node: &str, index: u32, resources: Resources) -> InstanceRequest {
    InstanceRequest {
        id: id(node, index),
        resources,
    }
}

/// `count` instances of `node` that need nothing.
pub fn node(name: &str, count: u32) -> Vec<InstanceRequest> {
    (0..count).map(|i| inst(name, i, Resources::ZERO)).collect()
}

pub fn placement(name: &str, targets: &[&str], hosts: &[&str], pairs: &[(&str, &str)]) -> Policy {
    Policy {
        name: name.to_string(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        rule: Rule::Placement {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            labels: labels(pairs),
        },
    }
}

pub fn colocation(name: &str, targets: &[&str]) -> Policy {
    Policy {
        name: name.to_string(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        rule: Rule::Colocation,
    }
}

pub fn separation(name: &str, targets: &[&str], strict: bool) -> Policy {
    Policy {
        name: name.to_string(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        rule: Rule::Separation { strict },
    }
}

pub fn request(instances: Vec<InstanceRequest>, policies: Vec<Policy>) -> Request {
    Request {
        instances,
        policies,
        fixed: Vec::new(),
    }
}

/// The host of an instance named like "web-0".
pub fn host_of<'a>(placement: &'a Placement, instance: &str) -> &'a str {
    placement
        .assignments
        .iter()
        .find(|a| a.id.to_string() == instance)
        .map(|a| a.host.as_str())
        .unwrap_or_else(|| panic!("{instance} is not assigned"))
}

pub fn reasons_of<'a>(placement: &'a Placement, instance: &str) -> &'a [String] {
    &placement
        .assignments
        .iter()
        .find(|a| a.id.to_string() == instance)
        .unwrap_or_else(|| panic!("{instance} is not assigned"))
        .reasons
}
