//! This agent's host lease (the rules are `khutulun_state::lease`): taken at start under a
//! new epoch, renewed by one timer, and, when renewals stop succeeding, self-fencing: the
//! host's workloads are stopped before any other host may start them. When the state
//! answers again the agent either still holds its epoch (it starts again what it stopped)
//! or was fenced meanwhile (it takes a new epoch and adopts what the state now gives it).

use crate::agent::Agent;
use chrono::Utc;
use khutulun_state::lease::{self, LeaseRecord, LeaseState, LeaseTiming, Ownership};
use khutulun_state::{DirStore, EventKind, InstanceRef, LeaseFile, StateResult};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tokio::time::sleep_until;

pub struct HostLease {
    pub timing: LeaseTiming,
    epoch: AtomicU64,
    /// False while self-fenced: the agent writes no instance record and starts nothing.
    valid: tokio::sync::watch::Sender<bool>,
    stalled_since: Mutex<Option<chrono::DateTime<Utc>>>,
    /// What self-fencing stopped, started again when the lease comes back.
    fenced: Mutex<BTreeSet<InstanceRef>>,
    /// Who fenced this host, between learning it and taking the host again.
    fenced_by: Mutex<Option<String>>,
}

/// What the agent reports of its lease (health, hosts).
#[derive(Debug, Clone)]
pub struct LeaseStatus {
    pub epoch: u64,
    pub valid: bool,
    pub stalled_since: Option<chrono::DateTime<Utc>>,
}

impl HostLease {
    /// Takes the host's lease under a new epoch. The caller holds the host's alive.lock.
    pub fn take(store: &DirStore, host: &str, timing: LeaseTiming) -> Result<HostLease, String> {
        let record = take_record(store, host, &timing)
            .map_err(|e| format!("cannot take the lease of host {host}: {e}"))?;
        Ok(HostLease {
            timing,
            epoch: AtomicU64::new(record.epoch),
            valid: tokio::sync::watch::Sender::new(true),
            stalled_since: Mutex::new(None),
            fenced: Mutex::new(BTreeSet::new()),
            fenced_by: Mutex::new(None),
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The agent may act for its host: it holds an epoch and is not fenced.
    pub fn is_valid(&self) -> bool {
        *self.valid.borrow()
    }

    fn set_valid(&self, valid: bool) -> bool {
        self.valid.send_replace(valid)
    }

    /// Waits until the host is not fenced, for `limit` at most: a start that meets a short
    /// stall of the shared state waits it out instead of failing.
    pub async fn wait_valid(&self, limit: std::time::Duration) -> bool {
        let mut valid = self.valid.subscribe();
        let became = tokio::time::timeout(limit, valid.wait_for(|v| *v)).await;
        matches!(became, Ok(Ok(_)))
    }

    pub fn status(&self) -> LeaseStatus {
        LeaseStatus {
            epoch: self.epoch(),
            valid: self.is_valid(),
            stalled_since: *self.stalled_since.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

fn take_record(store: &DirStore, host: &str, timing: &LeaseTiming) -> StateResult<LeaseRecord> {
    let written = store.update_lease(host, |current| {
        Some(LeaseRecord {
            host: host.to_owned(),
            epoch: lease::next_epoch(current.as_ref()),
            renewals: 0,
            renewed_at: Utc::now(),
            period_ms: timing.period.as_millis() as u64,
            state: LeaseState::Held,
            agent_pid: std::process::id(),
        })
    })?;
    Ok(written.expect("taking a lease always writes"))
}

/// One renewal: under the lease file's lock (the file is kept open between renewals in
/// `held`, and opened again after an error: e.g. a lock the NFS server gave away while this
/// host was cut off makes the write fail instead of landing over the fence), renew if the
/// record is still this agent's epoch.
fn renew(
    store: &DirStore,
    held: &Mutex<Option<LeaseFile>>,
    host: &str,
    epoch: u64,
    period_ms: u64,
) -> StateResult<Ownership> {
    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
    if held.is_none() {
        *held = Some(store.lease_file(host)?);
    }
    let file = held.as_ref().expect("opened above");
    let mut seen = Ownership::Ours;
    let result = file.update(|current| {
        seen = lease::ownership(current.as_ref(), epoch);
        match (&seen, current) {
            (Ownership::Ours, Some(mut record)) => {
                record.renewals += 1;
                record.renewed_at = Utc::now();
                record.period_ms = period_ms;
                record.agent_pid = std::process::id();
                Some(record)
            }
            _ => None,
        }
    });
    if result.is_err() {
        *held = None;
    }
    result?;
    Ok(seen)
}

/// Starts the renewal timer: the one timer the lease adds.
pub fn spawn(agent: &Agent) {
    let agent = agent.clone();
    tokio::spawn(async move { renew_forever(agent).await });
}

/// What the one state call in flight is.
enum Call {
    /// Renew under the epoch this agent holds.
    Renew,
    /// Take the host again under a new epoch (after another agent fenced it).
    Retake,
}

/// What that call found.
enum Found {
    Renewed(Ownership),
    Retaken(LeaseRecord),
}

/// The lease timer. Every state call it makes is the one in flight, raced against the
/// self-fencing deadline: nothing in this loop ever waits on the state otherwise, so a
/// stalled filesystem cannot keep it from fencing.
async fn renew_forever(agent: Agent) {
    let timing = agent.lease.timing;
    let mut last_ok = Instant::now();
    let mut next = Instant::now() + timing.renew_every();
    let mut call = Call::Renew;
    let lease_file: std::sync::Arc<Mutex<Option<LeaseFile>>> = Default::default();
    let mut inflight: Option<(Instant, tokio::task::JoinHandle<StateResult<Found>>)> = None;
    loop {
        let fence_at = last_ok + timing.self_fence_after();
        let stall_at = inflight
            .as_ref()
            .map(|(started, _)| *started + timing.stalled_after());
        let stalled = agent.lease.status().stalled_since.is_some();
        tokio::select! {
            result = async { (&mut inflight.as_mut().expect("guarded").1).await }, if inflight.is_some() => {
                let (started, _) = inflight.take().expect("guarded");
                next = started + timing.renew_every();
                state_answers(&agent);
                match result {
                    Ok(Ok(Found::Renewed(Ownership::Ours))) => {
                        last_ok = started;
                        if !agent.lease.is_valid() {
                            agent.lease.set_valid(true);
                            tracing::warn!(
                                "the host lease is renewed again (epoch {}): starting what was stopped",
                                agent.lease.epoch()
                            );
                            emit_later(&agent, EventKind::HostLeaseRecovered {
                                name: agent.host.name.clone(),
                                epoch: agent.lease.epoch(),
                            });
                            readopt(&agent);
                        }
                    }
                    Ok(Ok(Found::Renewed(Ownership::Lost { epoch, by }))) => {
                        if agent.lease.is_valid() {
                            let reason = match &by {
                                Some(by) => format!("host {by} fenced this host (epoch {epoch})"),
                                None => format!("the host was taken under epoch {epoch}"),
                            };
                            self_fence(&agent, &reason).await;
                        }
                        *agent.lease.fenced_by.lock().unwrap_or_else(|e| e.into_inner()) = by;
                        call = Call::Retake;
                        next = Instant::now();
                    }
                    Ok(Ok(Found::Retaken(record))) => {
                        let old_epoch = agent.lease.epoch.swap(record.epoch, Ordering::SeqCst);
                        last_ok = started;
                        call = Call::Renew;
                        agent.lease.set_valid(true);
                        tracing::warn!(
                            "this host was fenced while cut off; it serves again under epoch {}",
                            record.epoch
                        );
                        let fenced_by = agent.lease.fenced_by.lock().unwrap_or_else(|e| e.into_inner()).take();
                        emit_later(&agent, EventKind::HostRejoined {
                            name: agent.host.name.clone(),
                            old_epoch,
                            epoch: record.epoch,
                            fenced_by,
                        });
                        readopt(&agent);
                    }
                    Ok(Err(e)) => tracing::warn!("cannot renew the host lease: {e}"),
                    Err(e) => tracing::error!("the lease renewal failed: {e}"),
                }
            }
            () = sleep_until(next.into()), if inflight.is_none() => {
                let store = agent.store.clone();
                let host = agent.host.name.clone();
                let epoch = agent.lease.epoch();
                let work: Box<dyn FnOnce() -> StateResult<Found> + Send> = match call {
                    Call::Renew => {
                        let period_ms = timing.period.as_millis() as u64;
                        let held = lease_file.clone();
                        Box::new(move || renew(&store, &held, &host, epoch, period_ms).map(Found::Renewed))
                    }
                    Call::Retake => Box::new(move || take_record(&store, &host, &timing).map(Found::Retaken)),
                };
                inflight = Some((Instant::now(), tokio::task::spawn_blocking(work)));
            }
            () = sleep_until(fence_at.into()), if agent.lease.is_valid() => {
                let reason = format!(
                    "the lease on the shared state could not be renewed for {} s (of its {} s period)",
                    timing.self_fence_after().as_secs(),
                    timing.period.as_secs()
                );
                self_fence(&agent, &reason).await;
            }
            () = sleep_until(stall_at.unwrap_or(fence_at).into()), if stall_at.is_some() && !stalled => {
                state_stalled(&agent);
            }
        }
    }
}

/// A state call came back: if the state had stalled, say it answers again.
fn state_answers(agent: &Agent) {
    let stalled = agent
        .lease
        .stalled_since
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(since) = stalled {
        let stalled_ms = (Utc::now() - since).num_milliseconds().max(0) as u64;
        tracing::warn!("the shared state answers again after {stalled_ms} ms");
        emit_later(
            agent,
            EventKind::StateRecovered {
                path: agent.store.layout().root().display().to_string(),
                stalled_ms,
            },
        );
    }
}

/// The adoption pass again, in a task of its own (it reads the state): stale copies
/// stopped, this host's instances adopted, what the fence stopped started again.
fn readopt(agent: &Agent) {
    let fenced = std::mem::take(&mut *agent.lease.fenced.lock().unwrap_or_else(|e| e.into_inner()));
    let agent = agent.clone();
    tokio::spawn(async move { crate::adopt::adopt_all(&agent, &fenced).await });
}

fn state_stalled(agent: &Agent) {
    let mut since = agent
        .lease
        .stalled_since
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if since.is_some() {
        return;
    }
    *since = Some(Utc::now());
    let path = agent.store.layout().root().display().to_string();
    tracing::error!("the shared state at {path} does not answer: a lease renewal is still waiting");
    emit_later(agent, EventKind::StateStalled { path });
}

/// Emits from a task of its own: appending to the event log waits for the state, and the
/// lease timer must not. These events are written once the state answers again, even when
/// the first tries fail (an NFS client recovering its expired lease answers some calls
/// with errors).
fn emit_later(agent: &Agent, kind: EventKind) {
    let agent = agent.clone();
    tokio::spawn(async move { agent.bus.emit_until_logged(kind).await });
}

/// Stops every workload of this host now, without touching the state: from this moment the
/// agent writes nothing and starts nothing until it renews its lease again. The workloads
/// are killed directly (whatever their supervisors are busy with, a supervisor may be
/// waiting on the stalled state), then the supervisors are told to end.
pub async fn self_fence(agent: &Agent, reason: &str) {
    if !agent.lease.set_valid(false) {
        return;
    }
    let live: Vec<(
        InstanceRef,
        (crate::workload::DelegateKind, khutulun_delegates::Running),
    )> = agent
        .live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    let supervisors: Vec<(InstanceRef, crate::supervisor::Supervisor)> = agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    tracing::error!(
        "self-fencing: {reason}; stopping {} workload(s) so that other hosts may run them",
        live.len()
    );
    let budget = agent.lease.timing.stop_budget();
    let kills = live.iter().map(|(instance, (kind, running))| async move {
        if let Some(delegate) = agent.delegate(*kind) {
            if let Err(e) = delegate.stop(running, budget).await {
                tracing::warn!("fencing {instance}: {e}");
            }
        }
    });
    // At the same time, everything that holds the host's lifeline: what the list cannot
    // know (a daemon that left its workload's session, a start still under way).
    let listed = live.iter().filter_map(|(_, (_, r))| r.pid).collect();
    let sweep = sweep_lifeline(agent, budget, listed);
    let _ = tokio::time::timeout(
        budget * 2,
        futures_util::future::join(futures_util::future::join_all(kills), sweep),
    )
    .await;
    for (_, supervisor) in &supervisors {
        // Ends each supervisor once it gets to it; nothing waits for that.
        let ended = supervisor.fence(budget);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(1), ended).await;
    }
    let mut fenced = agent.lease.fenced.lock().unwrap_or_else(|e| e.into_inner());
    fenced.extend(live.iter().map(|(instance, _)| instance.clone()));
    fenced.extend(supervisors.iter().map(|(instance, _)| instance.clone()));
    let count = fenced.len();
    drop(fenced);
    emit_later(
        agent,
        EventKind::HostSelfFenced {
            name: agent.host.name.clone(),
            reason: reason.to_owned(),
            instances: count,
        },
    );
}

/// Ends every process that holds the host's lifeline (SIGTERM, SIGKILL after `budget`);
/// says so when some were not on the list of live workloads.
async fn sweep_lifeline(agent: &Agent, budget: std::time::Duration, listed: BTreeSet<u32>) {
    let lifeline = match agent.lifeline_handle() {
        Ok(lifeline) => lifeline,
        Err(e) => {
            tracing::error!("self-fencing: cannot sweep the host's lifeline: {e}");
            return;
        }
    };
    let found = tokio::task::spawn_blocking(move || {
        use std::os::fd::AsFd;
        khutulun_delegates::lifeline::end_holders(lifeline.as_fd(), budget)
    })
    .await
    .unwrap_or_default();
    // A workload is a session of its own (its pid); its children share it.
    let unlisted: Vec<u32> = found
        .into_iter()
        .filter(|h| !h.session.is_some_and(|s| listed.contains(&s)))
        .map(|h| h.pid)
        .collect();
    if !unlisted.is_empty() {
        tracing::warn!(
            "self-fencing: also ended {} process(es) that held this host's lifeline but were not listed as its workloads (daemons that left their session, or starts under way): {unlisted:?}",
            unlisted.len()
        );
    }
}

/// A workload whose start finished while the host was fenced: stop it too.
pub async fn fence_stragglers(agent: &Agent, instance: &InstanceRef) {
    let supervisor = agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(instance);
    if let Some(supervisor) = supervisor {
        supervisor.fence(agent.lease.timing.stop_budget()).await;
        agent
            .lease
            .fenced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(instance.clone());
    }
}
