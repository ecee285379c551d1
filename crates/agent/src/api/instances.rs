use super::error::{code, ApiError};
use super::views::InstanceView;
use crate::agent::Agent;
use crate::names::check_name;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Every instance of every service of a namespace.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/instances",
    params(("ns" = String, Path, description = "Namespace")),
    responses((status = 200, body = Vec<InstanceView>)))]
pub async fn list_namespace(
    State(agent): State<Agent>,
    Path(ns): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    check_name("namespace", &ns)?;
    let of = agent.clone();
    let body = super::read_state(&agent, move || {
        let services = of.index.services(&ns)?;
        Ok(of.rendered.instances(&services))
    })
    .await?;
    Ok(super::json_bytes(body))
}

/// The instances of one service.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services/{name}/instances",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service")),
    responses((status = 200, body = Vec<InstanceView>), (status = 404, body = super::error::ErrorBody)))]
pub async fn list_service(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    let service = super::indexed_service(&agent, &ns, &name).await?;
    Ok(super::json_bytes(
        agent.rendered.instances(std::slice::from_ref(&service)),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// stdout, stderr or both (default).
    #[serde(default)]
    stream: Option<String>,
    /// Keep the response open and send new output as it is written.
    #[serde(default)]
    follow: bool,
}

/// The output of an instance's process: stdout.log and stderr.log from its host.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/logs",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service"),
        ("node" = String, Path, description = "Node template"), ("index" = u32, Path, description = "Instance index"), LogQuery),
    responses((status = 200, description = "Plain text", content_type = "text/plain"), (status = 404, body = super::error::ErrorBody)))]
pub async fn logs(
    State(agent): State<Agent>,
    Path((ns, name, node, index)): Path<(String, String, String, u32)>,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    super::existing_service(&agent, &ns, &name)?;
    check_name("node", &node)?;

    let record = agent
        .store
        .instance(&ns, &name, &node, index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("service \"{ns}/{name}\" has no instance {node}/{index}; `khutulun instances {name}` lists them")))?;
    if record.host != agent.host.name {
        return forward_logs(&agent, &record.host, &ns, &name, &node, index, &query).await;
    }
    let files: Vec<&str> = match query.stream.as_deref().unwrap_or("both") {
        "stdout" => vec!["stdout.log"],
        "stderr" => vec!["stderr.log"],
        "both" => vec!["stdout.log", "stderr.log"],
        other => {
            return Err(ApiError::bad_request(
                code::BAD_STREAM,
                format!("stream \"{other}\" is not stdout, stderr or both"),
            ))
        }
    };
    let dir = crate::workload::instance_dir(&agent.config.data_dir, &ns, &name, &node, index);
    let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    let follow = query.follow;
    let stream = async_stream(paths, follow);
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from_stream(stream))
        .expect("valid response"))
}

/// Reads the files to their end, then (when following) sends what is appended.
fn async_stream(
    paths: Vec<std::path::PathBuf>,
    follow: bool,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut files = Vec::new();
        for path in &paths {
            match tokio::fs::File::open(path).await {
                Ok(f) => files.push(Some(f)),
                Err(_) => files.push(None),
            }
        }
        loop {
            let mut any = false;
            for (i, slot) in files.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = tokio::fs::File::open(&paths[i]).await.ok();
                }
                let Some(file) = slot else { continue };
                let mut buf = Vec::new();
                if file.read_to_end(&mut buf).await.is_ok() && !buf.is_empty() {
                    any = true;
                    if tx.send(Ok(buf)).await.is_err() {
                        return;
                    }
                }
            }
            if !follow {
                return;
            }
            if !any {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Logs live on the instance's host: pass the request on to its agent and stream the answer
/// back, so the client never needs to know where an instance runs.
async fn forward_logs(
    agent: &Agent,
    host: &str,
    ns: &str,
    name: &str,
    node: &str,
    index: u32,
    query: &LogQuery,
) -> Result<Response, ApiError> {
    let base = crate::peers::api_url(agent, host).map_err(ApiError::internal)?;
    let url = format!("{base}/v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/logs");
    let mut params = vec![("follow", query.follow.to_string())];
    if let Some(stream) = &query.stream {
        params.push(("stream", stream.clone()));
    }
    let response = crate::peers::authorize(agent, agent.http.get(&url))
        .query(&params)
        .send()
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                code::HOST_UNREACHABLE,
                format!("{node}/{index} runs on host {host}, whose agent does not answer at {base}: {e}"),
            )
        })?;
    let status = axum::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain; charset=utf-8")
        .to_owned();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from_stream(response.bytes_stream()))
        .map_err(ApiError::internal)
}
