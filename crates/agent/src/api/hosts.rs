use super::error::ApiError;
use super::views::HostView;
use crate::agent::Agent;
use axum::extract::State;
use axum::Json;

/// Every host that has run an agent on this state directory.
#[utoipa::path(get, path = "/v1/hosts", responses((status = 200, body = Vec<HostView>)))]
pub async fn list(State(agent): State<Agent>) -> Result<Json<Vec<HostView>>, ApiError> {
    let store = &agent.store;
    let hosts = store.hosts().map_err(ApiError::internal)?;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for ns in store.namespaces().map_err(ApiError::internal)? {
        for svc in store.services(&ns).map_err(ApiError::internal)? {
            for i in store
                .instances(&ns, &svc.name)
                .map_err(ApiError::internal)?
            {
                *counts.entry(i.host).or_default() += 1;
            }
        }
    }
    let mut views = Vec::new();
    for host in hosts {
        let alive =
            host.name == agent.host.name || store.host_is_alive(&host.name).unwrap_or(false);
        let count = counts.get(&host.name).copied().unwrap_or(0);
        views.push(HostView::new(host, alive, count));
    }
    Ok(Json(views))
}
