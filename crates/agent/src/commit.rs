//! A revision's instance records, from its plan. A deploy stores the plan with the revision,
//! commits the revision (service.json names it), then writes the records; an agent that
//! starts finishes what a crash cut short: it removes revisions that were never committed,
//! writes the records the committed plan still lacks, and makes the port reservations match
//! the records.

use crate::agent::Agent;
use khutulun_state::{InstanceRecord, PortOwner, StateError};
use std::collections::{BTreeMap, BTreeSet};

/// Writes the plan's records and removes the records of instances the plan does not have.
/// With `replace`, every planned record is written (a deploy that just committed); without,
/// only those missing or left from an earlier revision (a restart after a crash: records of
/// this revision may have moved or started since).
pub fn materialize(
    agent: &Agent,
    ns: &str,
    svc: &str,
    plan: &[InstanceRecord],
    replace: bool,
) -> Result<usize, StateError> {
    let existing = agent.store.instances(ns, svc)?;
    let to_write: Vec<InstanceRecord> = plan
        .iter()
        .filter(|planned| {
            let current = existing
                .iter()
                .find(|r| r.node == planned.node && r.index == planned.index);
            replace || current.is_none_or(|r| r.revision < planned.revision)
        })
        .cloned()
        .collect();
    // One batch: the records' fsyncs are shared.
    agent.store.write_instances(&to_write, &mut |_| {
        crate::crash::point("deploy.instance-written")
    })?;
    let written = to_write.len();
    let planned: BTreeSet<(&str, u32)> = plan.iter().map(|r| (r.node.as_str(), r.index)).collect();
    for gone in existing
        .iter()
        .filter(|r| !planned.contains(&(r.node.as_str(), r.index)))
    {
        agent
            .store
            .remove_instance(ns, svc, &gone.node, gone.index)?;
    }
    Ok(written)
}

/// Makes every host's port reservations for the service match its instance records.
pub fn resync_ports(agent: &Agent, ns: &str, svc: &str) -> Result<(), StateError> {
    let records = agent.store.instances(ns, svc)?;
    let mut held: BTreeMap<String, Vec<(PortOwner, u16)>> = agent
        .store
        .hosts()?
        .into_iter()
        .map(|h| (h.name, Vec::new()))
        .collect();
    for record in &records {
        let owners = held.entry(record.host.clone()).or_default();
        for (endpoint, port) in &record.ports {
            owners.push((
                PortOwner {
                    namespace: ns.to_owned(),
                    service: svc.to_owned(),
                    node: record.node.clone(),
                    index: record.index,
                    endpoint: endpoint.clone(),
                },
                *port,
            ));
        }
    }
    for (host, owners) in held {
        for refused in agent.store.resync_service_ports(&host, ns, svc, &owners)? {
            tracing::warn!(
                "{ns}/{svc}: port of {}/{} endpoint {} on host {host} is now held by another service",
                refused.node,
                refused.index,
                refused.endpoint
            );
        }
    }
    Ok(())
}

/// At start, under the service lock the caller holds: what a crash left of a deploy of
/// `record`'s service is completed or undone. Returns true when it wrote records.
pub fn recover_locked(
    agent: &Agent,
    ns: &str,
    svc: &str,
    record: &khutulun_state::ServiceRecord,
) -> Result<bool, String> {
    let removed = agent
        .store
        .remove_uncommitted_revisions(ns, svc, record.revision)
        .map_err(|e| e.to_string())?;
    if !removed.is_empty() {
        tracing::info!("{ns}/{svc}: removed revision(s) {removed:?}, stored but never committed");
    }
    let Some(plan) = agent
        .store
        .revision_plan(ns, svc, record.revision)
        .map_err(|e| e.to_string())?
    else {
        // Stored before revisions kept their plan: nothing to compare with.
        return Ok(false);
    };
    let written = materialize(agent, ns, svc, &plan, false).map_err(|e| e.to_string())?;
    if written > 0 {
        tracing::info!(
            "{ns}/{svc}: wrote {written} instance record(s) of revision {} that a crash left unwritten",
            record.revision
        );
    }
    resync_ports(agent, ns, svc).map_err(|e| e.to_string())?;
    Ok(written > 0)
}

/// At start: removes the service directories of first deploys that were stored and never
/// committed (no service.json), each under its service lock.
pub async fn remove_uncommitted_services(agent: &Agent, ns: &str) {
    let Ok(names) = agent.store.uncommitted_services(ns) else {
        return;
    };
    for name in names {
        let Ok(_lock) = agent.lock_service(ns, &name).await else {
            continue;
        };
        if !matches!(agent.store.service(ns, &name), Ok(None)) {
            continue;
        }
        match agent.store.remove_service(ns, &name) {
            Ok(()) => {
                tracing::info!("{ns}/{name}: removed a first deploy that was never committed")
            }
            Err(e) => {
                tracing::warn!("{ns}/{name}: cannot remove a deploy that was never committed: {e}")
            }
        }
    }
}
