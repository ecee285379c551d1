//! One instance as this host sees it: its service's current revision and graph, where it
//! lives on this host, and what it is told about itself.

use crate::agent::Agent;
use crate::workload::{self, InstancePaths};
use khutulun_graph::ServiceGraph;
use khutulun_state::ServiceRecord;
use std::collections::BTreeMap;
use std::path::Path;

pub fn load_current(
    agent: &Agent,
    ns: &str,
    svc: &str,
) -> Result<(ServiceRecord, ServiceGraph), String> {
    let record = agent
        .store
        .require_service(ns, svc)
        .map_err(|e| e.to_string())?;
    let graph = agent
        .store
        .read_graph::<ServiceGraph>(ns, svc, record.revision)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("revision {} of {ns}/{svc} has no graph", record.revision))?;
    Ok((record, graph))
}

pub fn paths_for(
    agent: &Agent,
    ns: &str,
    svc: &str,
    node: &str,
    index: u32,
    package: &Path,
) -> InstancePaths {
    InstancePaths {
        instance_dir: workload::instance_dir(&agent.config.data_dir, ns, svc, node, index),
        package_dir: package.to_owned(),
        default_volume: workload::volume_dir(&agent.config.data_dir, ns, svc, node, index),
        cgroup: workload::cgroup_name(&agent.cgroup_prefix, ns, svc, node, index),
        systemd_scope: agent.systemd_scopes.then(|| {
            format!(
                "khutulun-{}-{ns}-{svc}-{node}-{index}-{}",
                agent.host.name,
                chrono::Utc::now().timestamp_millis()
            )
        }),
    }
}

pub fn identity(
    agent: &Agent,
    ns: &str,
    svc: &str,
    node: &str,
    index: u32,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("KHUTULUN_NAMESPACE".to_owned(), ns.to_owned()),
        ("KHUTULUN_SERVICE".to_owned(), svc.to_owned()),
        ("KHUTULUN_NODE".to_owned(), node.to_owned()),
        ("KHUTULUN_INDEX".to_owned(), index.to_string()),
        ("KHUTULUN_HOST".to_owned(), agent.host.name.clone()),
    ])
}
