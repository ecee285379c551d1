//! Failover, on SWIM's word that a host is dead. Every agent that hears it tries to take the
//! host's alive.lock without waiting (fencing, DESIGN.md). The one that gets it moves the
//! host's instances and takes over the flows the host was running; the lock proves the old
//! agent is gone (or cut off from the shared state, so it cannot write it). An agent that
//! cannot get the lock does nothing: either another agent is failing the host over (it says
//! so in `fence.json`), or the host's agent still runs and only gossip lost it.

use crate::agent::Agent;
use crate::relocate::{relocate_host, Why};
use khutulun_state::{EventKind, FileLock, ServiceStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `hosts/<host>/fence.json`: who is failing the host over, while they are.
#[derive(Debug, Serialize, Deserialize)]
struct FenceNote {
    by: String,
    since: chrono::DateTime<chrono::Utc>,
}

pub async fn on_host_dead(agent: &Agent, host: &str) {
    if host == agent.host.name {
        return;
    }
    let Some(lock) = fence(agent, host).await else {
        return;
    };
    let note_path = fence_note_path(agent, host);
    let _ = khutulun_state::write_json(
        &note_path,
        &FenceNote {
            by: agent.host.name.clone(),
            since: chrono::Utc::now(),
        },
    );
    let lost = crate::relocate::all_instances(agent)
        .unwrap_or_default()
        .iter()
        .filter(|r| r.host == host)
        .count();
    let flows = orphaned_flows(agent, host);
    if lost > 0 || !flows.is_empty() {
        agent.emit(EventKind::FailoverStarted {
            name: host.to_owned(),
            instances: lost,
        });
        let (moved, problems) = relocate_host(agent, host, Why::Failover).await;
        for (ns, svc, status) in flows {
            take_over_flow(agent, &ns, &svc, status).await;
        }
        agent.emit(EventKind::FailoverFinished {
            name: host.to_owned(),
            moved,
            problems,
        });
    }
    // Release before the note goes, so that the note covers every moment the lock is held.
    drop(lock);
    let _ = std::fs::remove_file(&note_path);
}

/// Takes the dead host's alive.lock, or decides it must not.
async fn fence(agent: &Agent, host: &str) -> Option<FileLock> {
    for attempt in 0..3 {
        match agent.store.try_fence_host(host) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) => {}
            Err(e) => {
                tracing::error!("cannot try the alive.lock of host {host}: {e}");
                return None;
            }
        }
        // Held: by another agent failing it over (it leaves a note), or by the host's own
        // agent. Give a racing agent a moment to write its note.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if fence_note_path(agent, host).exists() {
            tracing::info!("host {host} is being failed over by another agent");
            return None;
        }
        tracing::debug!("alive.lock of host {host} held (attempt {attempt})");
    }
    agent.emit(EventKind::FailoverSkipped {
        name: host.to_owned(),
        reason: format!(
            "its agent still holds {}: it runs but gossip cannot reach it (a network partition?); its instances stay where they are",
            agent.store.layout().host_alive_lock(host).display()
        ),
    });
    None
}

fn fence_note_path(agent: &Agent, host: &str) -> std::path::PathBuf {
    fence_note(&agent.store, host)
}

fn fence_note(store: &khutulun_state::DirStore, host: &str) -> std::path::PathBuf {
    store.layout().host(host).join("fence.json")
}

/// Deploys and deletes the dead host's agent was running.
fn orphaned_flows(agent: &Agent, host: &str) -> Vec<(String, String, ServiceStatus)> {
    let mut flows = Vec::new();
    for ns in agent.store.namespaces().unwrap_or_default() {
        for svc in agent.store.services(&ns).unwrap_or_default() {
            let running = matches!(
                svc.status,
                ServiceStatus::Deploying | ServiceStatus::Deleting
            );
            if running && svc.coordinator.as_deref() == Some(host) {
                flows.push((ns.clone(), svc.name.clone(), svc.status));
            }
        }
    }
    flows
}

async fn take_over_flow(agent: &Agent, ns: &str, svc: &str, status: ServiceStatus) {
    if let Ok(_lock) = agent.lock_service(ns, svc).await {
        if let Ok(Some(mut record)) = agent.store.service(ns, svc) {
            record.coordinator = Some(agent.host.name.clone());
            let _ = agent.store.write_service(&record);
        }
    }
    match status {
        ServiceStatus::Deleting => {
            crate::delete::spawn_delete(agent, ns.to_owned(), svc.to_owned())
        }
        _ => crate::deploy::spawn_start(agent, ns.to_owned(), svc.to_owned()),
    }
}

/// How long a starting agent waits for its own alive.lock while another agent fails its
/// host over.
pub const WAIT_FOR_FAILOVER: Duration = Duration::from_secs(60);

/// True while another agent is failing `host` over.
pub fn being_failed_over(store: &khutulun_state::DirStore, host: &str) -> bool {
    fence_note(store, host).exists()
}
