//! `/v1/plugins`: the registered Wasm plugins (`khutulun plugin add|list|remove`).

use super::error::{code, ApiError};
use crate::agent::Agent;
use crate::plugins::PluginView;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

/// Every registered plugin with its version, functions and handlers.
#[utoipa::path(get, path = "/v1/plugins", responses((status = 200, body = Vec<PluginView>)))]
pub async fn list(State(agent): State<Agent>) -> Result<Json<Vec<PluginView>>, ApiError> {
    let views = tokio::task::spawn_blocking(move || crate::plugins::registered(&agent))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(views.into_iter().map(|(view, _)| view).collect()))
}

/// Registers a plugin (the body is the component, `application/wasm`) under `name`; it must
/// load and answer its manifest, else nothing is stored. A new version replaces the
/// current one for new deploys.
#[utoipa::path(put, path = "/v1/plugins/{name}",
    params(("name" = String, Path, description = "The name to register it under")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PluginView), (status = 400, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)))]
pub async fn add(
    State(agent): State<Agent>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    crate::plugins::check_plugin_name(&name)
        .map_err(|m| ApiError::bad_request(code::INVALID_NAME, m))?;
    let view = tokio::task::spawn_blocking(move || crate::plugins::register(&agent, &name, &body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|m| ApiError::unprocessable(code::INVALID_PLUGIN, m))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Unregisters a plugin (every version). Deployed services that use it keep their computed
/// values; their handlers fail until it is registered again.
#[utoipa::path(delete, path = "/v1/plugins/{name}",
    params(("name" = String, Path, description = "Registered name")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn remove(
    State(agent): State<Agent>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match crate::plugins::unregister(&agent, &name) {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found(format!(
            "no plugin is registered as \"{name}\"; `khutulun plugin list` shows them"
        ))),
        Err(m) => Err(ApiError::bad_request(code::INVALID_NAME, m)),
    }
}
