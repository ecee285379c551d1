//! One instance as this host sees it: its service's current revision and graph, where it
//! lives on this host, and what it is told about itself.

use crate::agent::Agent;
use crate::workload::{self, InstancePaths};
use khutulun_graph::ServiceGraph;
use khutulun_state::ServiceRecord;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A service's current record and its revision's graph. The graph of a committed revision
/// never changes, so it is parsed once and shared (`Agent::graphs`).
pub fn load_current(
    agent: &Agent,
    ns: &str,
    svc: &str,
) -> Result<(ServiceRecord, Arc<ServiceGraph>), String> {
    let record = agent
        .store
        .require_service(ns, svc)
        .map_err(|e| e.to_string())?;
    let graph = agent.graphs.get_or_read(&record, || {
        agent
            .store
            .read_graph::<ServiceGraph>(ns, svc, record.revision)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("revision {} of {ns}/{svc} has no graph", record.revision))
    })?;
    Ok((record, graph))
}

/// Parsed graphs of committed revisions. A key holds the service's creation time besides
/// its revision: a service deleted and deployed again counts its revisions from 1 again.
#[derive(Default)]
pub struct GraphCache {
    graphs: Mutex<HashMap<GraphKey, Arc<ServiceGraph>>>,
}

type GraphKey = (String, String, u64, i64);

/// Past this many graphs the cache starts over (a rare sweep beats bookkeeping).
const GRAPHS_KEPT: usize = 256;

impl GraphCache {
    pub fn get_or_read(
        &self,
        record: &ServiceRecord,
        read: impl FnOnce() -> Result<ServiceGraph, String>,
    ) -> Result<Arc<ServiceGraph>, String> {
        let key = (
            record.namespace.clone(),
            record.name.clone(),
            record.revision,
            record.created_at.timestamp_nanos_opt().unwrap_or_default(),
        );
        if let Some(graph) = self.lock().get(&key) {
            return Ok(graph.clone());
        }
        let graph = Arc::new(read()?);
        let mut graphs = self.lock();
        if graphs.len() >= GRAPHS_KEPT {
            graphs.clear();
        }
        graphs.insert(key, graph.clone());
        Ok(graph)
    }

    /// Drops the graphs of a deleted service.
    pub fn forget(&self, ns: &str, svc: &str) {
        self.lock()
            .retain(|(namespace, service, _, _), _| !(namespace == ns && service == svc));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GraphKey, Arc<ServiceGraph>>> {
        self.graphs.lock().unwrap_or_else(|e| e.into_inner())
    }
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
