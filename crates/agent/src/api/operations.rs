//! `POST .../instances/{node}/{index}/operations/{operation}`: runs an interface operation
//! on the instance's host and streams its output (`khutulun run`); the internal twin runs
//! one on this host for another agent.

use super::error::ApiError;
use crate::agent::Agent;
use crate::names::{check_name, instance_ref};
use crate::operations::protocol::{OperationMessage, OperationRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures_util::StreamExt;
pub use khutulun_protocol::requests::RunRequest;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Runs `<interface>.<operation>` of one instance on its host. The response is
/// `application/x-ndjson`: `{"type":"output","stream":"stdout|stderr","line":...}` per line
/// of output, then one `{"type":"finished","code":N,"outputs":{...}}` or
/// `{"type":"failed","message":...}`.
#[utoipa::path(post, path = "/v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/operations/{operation}",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service"),
        ("node" = String, Path, description = "Node template"), ("index" = u32, Path, description = "Instance index"),
        ("operation" = String, Path, description = "<interface>.<operation>, e.g. Standard.configure")),
    request_body = RunRequest,
    responses((status = 200, description = "Output and outcome, one JSON object per line", content_type = "application/x-ndjson"),
        (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn run(
    State(agent): State<Agent>,
    Path((ns, name, node, index, operation)): Path<(String, String, String, u32, String)>,
    body: Option<super::body::JsonBody<RunRequest>>,
) -> Result<Response, ApiError> {
    super::existing_service(&agent, &ns, &name)?;
    check_name("node", &node)?;
    let request = OperationRequest {
        instance: instance_ref(&ns, &name, &node, index),
        operation,
        inputs: body.map(|b| b.0.inputs).unwrap_or_default(),
        relationship: None,
        event: None,
        cause: Some("user".into()),
    };
    if agent
        .store
        .instance(&ns, &name, &node, index)
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "service \"{ns}/{name}\" has no instance {node}/{index}; `khutulun instances {name}` lists them"
        )));
    }
    let resolved = crate::operations::resolve(&agent, &request, true)?;
    let host = resolved.record.host.clone();
    let messages = crate::operations::spawn_streaming(&agent, host, request);
    Ok(ndjson(messages))
}

/// Runs an operation of an instance of this host for another agent.
pub async fn run_internal(
    State(agent): State<Agent>,
    super::body::JsonBody(request): super::body::JsonBody<OperationRequest>,
) -> Response {
    let host = agent.host.name.clone();
    ndjson(crate::operations::spawn_streaming(&agent, host, request))
}

fn ndjson(messages: tokio::sync::mpsc::UnboundedReceiver<OperationMessage>) -> Response {
    let lines = UnboundedReceiverStream::new(messages).map(|message| {
        let mut line = serde_json::to_vec(&message).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Response::builder()
        .header(CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .expect("a valid response")
}
