//! How this agent reaches another host's agent: its API address from the state, and this
//! agent's token on the request. Used by the flows' calls (`remote`), operations and the
//! API's relays (logs, exec) alike.

use crate::agent::Agent;

/// The API base URL of another host's agent.
pub fn api_url(agent: &Agent, host: &str) -> Result<String, String> {
    agent
        .store
        .host(host)
        .map_err(|e| e.to_string())?
        .map(|h| h.api_url)
        .ok_or_else(|| format!("host {host} is not known in the state (no host.json)"))
        .and_then(|url| {
            if url.starts_with("unix:") {
                Err(format!("the agent of host {host} serves its API only on its Unix socket (it has no token), so other agents cannot reach it: give every agent of a cluster the same token and an --api address"))
            } else {
                Ok(url)
            }
        })
}

/// Adds this agent's token to a request to another agent.
pub fn authorize(agent: &Agent, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match &agent.config.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}
