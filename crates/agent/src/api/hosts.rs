use super::error::ApiError;
use super::views::{DrainResult, HostView};
use crate::agent::Agent;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

/// Every host that has run an agent on this state directory, with its membership state.
#[utoipa::path(get, path = "/v1/hosts", responses((status = 200, body = Vec<HostView>)))]
pub async fn list(State(agent): State<Agent>) -> Result<Json<Vec<HostView>>, ApiError> {
    let reader = agent.clone();
    let (hosts, records, leases, drains) = super::read_state(&agent, move || {
        let store = &reader.store;
        let hosts = store.hosts()?;
        let records = crate::relocate::all_instances(&reader)?;
        let mut leases = std::collections::HashMap::new();
        let mut drains = std::collections::HashSet::new();
        for host in &hosts {
            if let Some(lease) = store.lease(&host.name)? {
                leases.insert(host.name.clone(), lease);
            }
            if store.drain(&host.name)?.is_some() {
                drains.insert(host.name.clone());
            }
        }
        Ok((hosts, records, leases, drains))
    })
    .await?;
    let mut counts = std::collections::HashMap::<String, (usize, usize)>::new();
    for record in records {
        let entry = counts.entry(record.host).or_default();
        entry.0 += 1;
        if matches!(
            record.state,
            khutulun_state::InstanceStatus::Running | khutulun_state::InstanceStatus::Starting
        ) {
            entry.1 += 1;
        }
    }
    let waiting = agent
        .failovers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let own = agent.lease.status();
    let views = hosts
        .into_iter()
        .map(|host| {
            let state = crate::hosts::host_state(&agent, &host.name);
            let draining = drains.contains(&host.name);
            let (count, running) = counts.get(&host.name).copied().unwrap_or((0, 0));
            let name = host.name.clone();
            let mut view = super::views::host_view(host, state, draining, count);
            if let Some(lease) = leases.get(&name) {
                view.lease_epoch = Some(lease.epoch);
                view.lease_renewed_at = Some(lease.renewed_at);
            }
            view.note = host_note(&agent, &name, state, running, waiting.get(&name), &own);
            view
        })
        .collect();
    Ok(Json(views))
}

/// What `hosts` must say beside the state: never a dead host with running instances
/// without saying what they wait for.
fn host_note(
    agent: &Agent,
    name: &str,
    state: &str,
    running: usize,
    waiting: Option<&crate::failover::Waiting>,
    own: &crate::lease::LeaseStatus,
) -> Option<String> {
    if name == agent.host.name {
        if !own.valid {
            return Some("fenced: its lease on the shared state lapsed, its workloads are stopped until it is renewed".into());
        }
        if let Some(since) = own.stalled_since {
            return Some(format!("the shared state does not answer since {since}"));
        }
        return None;
    }
    if state != "dead" || running == 0 {
        return None;
    }
    Some(match waiting {
        Some(w) => match w.until {
            Some(until) => format!(
                "{running} instance(s) recorded running wait for fencing (lease ends by {until}): {}",
                w.reason
            ),
            None => format!("{running} instance(s) recorded running wait for fencing"),
        },
        None => format!(
            "{running} instance(s) recorded running wait for fencing: this agent is not failing the host over (another may be)"
        ),
    })
}

/// Drains a host: it takes no new instances, and its instances move to other hosts
/// (stopped there, started elsewhere, dependants restarted with the new address). Answers
/// when every instance has moved or could not be.
#[utoipa::path(post, path = "/v1/hosts/{name}/drain",
    params(("name" = String, Path, description = "Host")),
    responses((status = 200, body = DrainResult), (status = 404, body = super::error::ErrorBody)))]
pub async fn drain(
    State(agent): State<Agent>,
    Path(name): Path<String>,
) -> Result<Json<DrainResult>, ApiError> {
    let drained = crate::drain::drain(&agent, &name).await?;
    Ok(Json(DrainResult {
        host: name,
        moved: drained.moved,
        problems: drained.problems,
    }))
}

/// Ends a drain: the host takes new instances again (nothing moves back by itself).
#[utoipa::path(delete, path = "/v1/hosts/{name}/drain",
    params(("name" = String, Path, description = "Host")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn undrain(
    State(agent): State<Agent>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    crate::drain::undrain(&agent, &name)?;
    Ok(StatusCode::NO_CONTENT)
}
