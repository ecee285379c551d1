//! The internal API: what one agent asks of another about the instances of its host.
//! Same bearer token as the public API; not meant for users (not in the OpenAPI document).

use super::body::JsonBody;
use super::error::ApiError;
use crate::agent::Agent;
use crate::remote::InstanceCommand;
use axum::extract::State;
use axum::http::StatusCode;

/// Starts an instance placed on this host and answers once it runs (or failed).
pub async fn start(
    State(agent): State<Agent>,
    JsonBody(command): JsonBody<InstanceCommand>,
) -> Result<StatusCode, ApiError> {
    crate::local::start_here(&agent, &command.instance(), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops an instance of this host.
pub async fn stop(
    State(agent): State<Agent>,
    JsonBody(command): JsonBody<InstanceCommand>,
) -> StatusCode {
    crate::local::stop_here(
        &agent,
        &command.instance(),
        command.remove,
        crate::local::MarkSweep::Now,
    )
    .await;
    StatusCode::NO_CONTENT
}
