use super::error::ApiError;
use super::views::{GossipMember, GossipView};
use crate::agent::Agent;
use axum::extract::State;
use axum::Json;

#[utoipa::path(get, path = "/v1/gossip", responses((status = 200, body = GossipView)))]
pub async fn show(State(agent): State<Agent>) -> Result<Json<GossipView>, ApiError> {
    let cluster = agent
        .cluster
        .get()
        .ok_or_else(|| ApiError::internal("gossip has not started yet"))?;
    let stats = cluster.stats();
    Ok(Json(GossipView {
        host: agent.host.name.clone(),
        gossip_addr: agent
            .store
            .host(&agent.host.name)
            .ok()
            .flatten()
            .and_then(|h| h.gossip_addr)
            .unwrap_or_else(|| cluster.local_addr().to_string()),
        encrypted: agent.config.gossip.key.is_some(),
        members: cluster
            .members()
            .into_iter()
            .map(|m| GossipMember {
                name: m.name,
                gossip_addr: m.gossip_addr.to_string(),
                state: m.state.to_string(),
            })
            .collect(),
        packets_in: stats.packets_in,
        packets_out: stats.packets_out,
        dropped_bad_key: stats.dropped_bad_key,
        dropped_malformed: stats.dropped_malformed,
    }))
}
