//! Failover, on SWIM's word that a host is dead. Every agent that hears it watches the host's
//! lease and lock (`khutulun_state::lease::judge`) until it may fence it: at once when the
//! lock is free and the lease fresh (the agent's process ended), else once the lease has
//! gone unrenewed for its period plus the clock margin (the host's agent, if alive, stopped
//! its workloads at half the period). Fencing writes a new epoch into the host's lease,
//! only if nobody renewed it meanwhile; the agent that does so moves the host's instances
//! and takes over its flows. The watch ends early when the host comes back, when another
//! live agent fenced it, or when its agent keeps renewing (only gossip lost it:
//! `failover_skipped`). While it waits it says so (`failover_waiting`, and `hosts`).

use crate::agent::Agent;
use crate::relocate::{relocate_host, Why};
use khutulun_state::lease::{self, FenceReason, LeaseRecord, LeaseState, Verdict, Watch};
use khutulun_state::{EventKind, FileLock, ServiceStatus};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

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
    {
        let mut watching = agent.failovers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(watch) = watching.get_mut(host) {
            // Declared dead again while still watched: it was alive in between, so what the
            // watch saw is old news. It starts over.
            watch.generation += 1;
            watch.wake.notify_one();
            return;
        }
        watching.insert(host.to_owned(), Waiting::default());
    }
    let fenced = watch_until_fenced(agent, host).await;
    if let Some((lock, reason)) = fenced {
        fail_over(agent, host, lock, reason).await;
    }
    agent
        .failovers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(host);
}

/// What this agent's failover of a host is waiting for (`hosts` shows it).
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    /// When the lease may have expired at the latest.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
    /// Grows when the host is declared dead again during the watch.
    generation: u64,
    wake: std::sync::Arc<tokio::sync::Notify>,
}

/// Watches a dead host's lease and lock until it may be fenced (then fences it: a new epoch
/// in its lease record, written only if nobody renewed meanwhile), or until it comes back,
/// or until it is clear that only gossip lost it (its agent keeps renewing).
async fn watch_until_fenced(agent: &Agent, host: &str) -> Option<(Option<FileLock>, FenceReason)> {
    let timing = agent.lease.timing;
    let mut said_skipped = false;
    let mut seen: Option<(u64, u64)> = None;
    let mut first = true;
    let mut since = Instant::now();
    let mut renewed_while_watched = false;
    let mut last_said: Option<Instant> = None;
    let mut generation = 0;
    let wake = agent
        .failovers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(host)
        .map(|w| w.wake.clone())
        .unwrap_or_default();
    loop {
        let now_generation = agent
            .failovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .map_or(0, |w| w.generation);
        if now_generation != generation {
            generation = now_generation;
            (said_skipped, seen, first, renewed_while_watched) = (false, None, true, false);
            since = Instant::now();
        }
        match crate::hosts::host_state(agent, host) {
            "dead" | "unreachable" => {}
            state => {
                tracing::info!("host {host} is {state} again: no failover");
                return None;
            }
        }
        let (lock, record, workloads_held) = {
            let store = agent.store.clone();
            let h = host.to_owned();
            match tokio::task::spawn_blocking(move || {
                let lock = store.try_fence_host(&h)?;
                let record = store.lease(&h)?;
                let workloads_held = store.host_workloads_held(&h)?;
                Ok::<_, khutulun_state::StateError>((lock, record, workloads_held))
            })
            .await
            {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::warn!("failover of {host}: cannot read its lease or lock: {e}");
                    tokio::time::sleep(timing.renew_every()).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!("failover of {host}: {e}");
                    return None;
                }
            }
        };
        let now_seen = record.as_ref().map(|r| (r.epoch, r.renewals));
        if now_seen != seen {
            if !first {
                renewed_while_watched = true;
            }
            seen = now_seen;
            since = Instant::now();
        }
        first = false;
        if let Some(LeaseState::Fenced { by, .. }) = record.as_ref().map(|r| &r.state) {
            if by != &agent.host.name && crate::hosts::host_state(agent, by) == "alive" {
                tracing::info!("host {host} is being failed over by {by}");
                return None;
            }
        }
        let watch = Watch {
            lock_free: lock.is_some(),
            workloads_held,
            unchanged_for: since.elapsed(),
            renewed_while_watched,
            renewal_age: record
                .as_ref()
                .map(|r| {
                    (chrono::Utc::now() - r.renewed_at)
                        .to_std()
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        };
        match lease::judge(record.as_ref(), watch, &timing) {
            Verdict::Fence(reason) => {
                let store = agent.store.clone();
                let (h, me) = (host.to_owned(), agent.host.name.clone());
                let fenced = tokio::task::spawn_blocking(move || {
                    store.update_lease(&h, |current| {
                        let unchanged = current.as_ref().map(|r| (r.epoch, r.renewals)) == seen;
                        unchanged.then(|| LeaseRecord {
                            host: h.clone(),
                            epoch: lease::next_epoch(current.as_ref()),
                            renewals: 0,
                            renewed_at: chrono::Utc::now(),
                            period_ms: current.as_ref().map_or(0, |r| r.period_ms),
                            state: LeaseState::Fenced {
                                by: me.clone(),
                                at: chrono::Utc::now(),
                            },
                            agent_pid: 0,
                        })
                    })
                })
                .await;
                match fenced {
                    Ok(Ok(Some(_))) => return Some((lock, reason)),
                    // Renewed or fenced by another at the last moment: look again.
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => tracing::warn!("failover of {host}: cannot fence its lease: {e}"),
                    Err(e) => tracing::error!("failover of {host}: {e}"),
                }
            }
            Verdict::Wait {
                remaining,
                renewing,
            } => {
                drop(lock);
                if renewing && !said_skipped {
                    // Alive behind a partition: nothing moves. The watch goes on (slowly) in
                    // case the host dies before gossip reaches it again.
                    said_skipped = true;
                    agent.emit(EventKind::FailoverSkipped {
                        name: host.to_owned(),
                        reason: "its agent renews its lease on the shared state: it runs but gossip cannot reach it (a network partition?); its instances stay where they are".into(),
                    });
                }
                let reason = if watch.workloads_held && watch.lock_free {
                    "its agent is gone but its workloads still run (they hold the host's workloads lock): nothing moves until they end or its agent is started again".to_owned()
                } else if renewing {
                    "its agent renewed its lease while gossip called it dead: it may be alive behind a partition".to_owned()
                } else if watch.lock_free {
                    "its lock is free but its lease is not fresh: it may be alive and cut off from the shared state, so its lease must expire first".to_owned()
                } else {
                    "its lock is still held (a crashed NFS client keeps its locks until the server's lease ends): waiting for its lease to expire".to_owned()
                };
                let until =
                    chrono::Utc::now() + chrono::Duration::from_std(remaining).unwrap_or_default();
                if let Some(w) = agent
                    .failovers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(host)
                {
                    w.until = Some(until);
                    w.reason = reason.clone();
                }
                if !renewing && last_said.is_none_or(|t| t.elapsed() >= timing.period / 2) {
                    last_said = Some(Instant::now());
                    tracing::info!(
                        "failover of {host}: waiting up to {} ms: {reason}",
                        remaining.as_millis()
                    );
                    agent.emit(EventKind::FailoverWaiting {
                        name: host.to_owned(),
                        remaining_ms: remaining.as_millis() as u64,
                        reason,
                    });
                }
                let pause = if renewing {
                    timing.renew_every()
                } else {
                    remaining.min(timing.renew_every() / 2)
                };
                tokio::select! {
                    () = tokio::time::sleep(pause.max(Duration::from_millis(200))) => {}
                    () = wake.notified() => {}
                }
            }
        }
    }
}

/// The host is fenced: move its instances and take over its flows.
async fn fail_over(agent: &Agent, host: &str, lock: Option<FileLock>, reason: FenceReason) {
    let note_path = fence_note_path(agent, host);
    // The note shows whoever reads the state who fails the host over, while it does;
    // nothing depends on it, so a note that cannot be written loses only that.
    if let Err(e) = khutulun_state::write_json(
        &note_path,
        &FenceNote {
            by: agent.host.name.clone(),
            since: chrono::Utc::now(),
        },
    ) {
        tracing::warn!("cannot note that this host fences host {host}: {e}");
    }
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
            reason: reason.describe().to_owned(),
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
    let _ = khutulun_state::blocking(|| std::fs::remove_file(&note_path));
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
            if let Err(e) = agent.store.write_service(&record) {
                // The flow still runs here; the record names the dead coordinator, so the
                // next agent start (or failover) takes it over again.
                tracing::error!("{ns}/{svc}: cannot record this host as the coordinator: {e}");
            }
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
