use super::error::ApiError;
use super::views::{DrainResult, HostView};
use crate::agent::Agent;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use khutulun_state::{DrainRecord, EventKind};

/// Every host that has run an agent on this state directory, with its membership state.
#[utoipa::path(get, path = "/v1/hosts", responses((status = 200, body = Vec<HostView>)))]
pub async fn list(State(agent): State<Agent>) -> Result<Json<Vec<HostView>>, ApiError> {
    let store = &agent.store;
    let hosts = store.hosts().map_err(ApiError::internal)?;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for record in crate::relocate::all_instances(&agent).map_err(ApiError::internal)? {
        *counts.entry(record.host).or_default() += 1;
    }
    let views = hosts
        .into_iter()
        .map(|host| {
            let state = crate::membership::host_state(&agent, &host.name);
            let draining = matches!(store.drain(&host.name), Ok(Some(_)));
            let count = counts.get(&host.name).copied().unwrap_or(0);
            HostView::new(host, state, draining, count)
        })
        .collect();
    Ok(Json(views))
}

/// Drains a host: it takes no new instances, and its instances move to other hosts
/// (stopped there, started elsewhere, dependants restarted with the new address). Answers
/// when every instance has moved or could not be.
#[utoipa::path(post, path = "/v1/hosts/{name}/drain", responses((status = 200, body = DrainResult)))]
pub async fn drain(
    State(agent): State<Agent>,
    Path(name): Path<String>,
) -> Result<Json<DrainResult>, ApiError> {
    known_host(&agent, &name)?;
    let record = DrainRecord {
        since: chrono::Utc::now(),
        by: agent.host.name.clone(),
    };
    agent
        .store
        .set_drain(&name, Some(&record))
        .map_err(ApiError::internal)?;
    agent.emit(EventKind::HostDraining { name: name.clone() });
    // A task of its own: a client that goes away must not cut a drain in half.
    let task_agent = agent.clone();
    let host = name.clone();
    let (moved, problems) = tokio::spawn(async move {
        crate::relocate::relocate_host(&task_agent, &host, crate::relocate::Why::Drain).await
    })
    .await
    .map_err(ApiError::internal)?;
    agent.emit(EventKind::HostDrained {
        name: name.clone(),
        moved,
    });
    Ok(Json(DrainResult {
        host: name,
        moved,
        problems,
    }))
}

/// Ends a drain: the host takes new instances again (nothing moves back by itself).
#[utoipa::path(delete, path = "/v1/hosts/{name}/drain", responses((status = 204)))]
pub async fn undrain(
    State(agent): State<Agent>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    known_host(&agent, &name)?;
    agent
        .store
        .set_drain(&name, None)
        .map_err(ApiError::internal)?;
    agent.emit(EventKind::HostUndrained { name });
    Ok(StatusCode::NO_CONTENT)
}

fn known_host(agent: &Agent, name: &str) -> Result<(), ApiError> {
    crate::deploy::check_name("host", name)?;
    match agent.store.host(name).map_err(ApiError::internal)? {
        Some(_) => Ok(()),
        None => {
            let known: Vec<String> = agent
                .store
                .hosts()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.name)
                .collect();
            Err(ApiError::not_found(format!(
                "no host \"{name}\"; hosts: {}",
                known.join(", ")
            )))
        }
    }
}
