use super::error::ApiError;
use crate::agent::Agent;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// This agent's gossip: where it listens, whether packets are sealed, whom it knows, and its
/// packet counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GossipView {
    pub host: String,
    pub gossip_addr: String,
    /// Packets are encrypted and authenticated with a cluster key.
    pub encrypted: bool,
    pub members: Vec<GossipMember>,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Dropped because they were sealed with another key (or sealed/unsealed against this
    /// host's setting).
    pub dropped_bad_key: u64,
    /// Dropped because they were not Khutulun gossip.
    pub dropped_malformed: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GossipMember {
    pub name: String,
    pub gossip_addr: String,
    /// alive, suspect, dead or left.
    pub state: String,
}

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
