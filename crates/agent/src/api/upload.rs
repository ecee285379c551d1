//! Receiving a deploy's package. Two forms of the same request:
//!
//! - `Content-Type: application/gzip` (or `application/x-gzip`, `application/octet-stream`):
//!   the body is the tar.gz itself, streamed to a file in a staging directory as it arrives
//!   (memory stays small whatever its size); `?entry=` names the entry file and `?inputs=`
//!   carries the inputs as a JSON object. The CLI sends this.
//! - `Content-Type: application/json`: `{"entry", "inputs", "package": "<base64>"}`, held in
//!   memory while it is decoded; simple for small packages and scripts.
//!
//! Either way the package ends up as `package.tar.gz` in a fresh staging directory, which
//! the deploy takes over (and removes), and the one limit is the package's.

use super::body::JsonBody;
use super::error::{code, ApiError};
use super::views::DeployRequest;
use crate::agent::Agent;
use crate::package::MAX_PACKAGE_BYTES;
use axum::extract::{FromRequest, Request};
use axum::http::{header::CONTENT_TYPE, StatusCode};
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The query of a streamed deploy.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeployQuery {
    /// The entry TOSCA file, relative to the package root (streamed form).
    pub entry: Option<String>,
    /// The inputs as a JSON object (streamed form).
    pub inputs: Option<String>,
    /// Deploy only while the service is at this revision (0: while it does not exist);
    /// else 409 `revision_changed` and nothing changes.
    pub check_revision: Option<u64>,
}

/// A received package, staged.
pub struct Upload {
    pub entry: String,
    pub inputs: BTreeMap<String, Value>,
    pub staging: PathBuf,
}

pub async fn receive(
    agent: &Agent,
    query: DeployQuery,
    request: Request,
) -> Result<Upload, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let streamed = match content_type.as_str() {
        "application/json" => false,
        "application/gzip" | "application/x-gzip" | "application/octet-stream" => true,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::BAD_REQUEST,
                format!("a deploy is sent as application/gzip (the tar.gz, with ?entry= and ?inputs=) or as application/json, not \"{other}\""),
            ))
        }
    };
    let store = agent.store.clone();
    let staging = tokio::task::spawn_blocking(move || store.staging_dir())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let archive = staging.join(crate::deploy::ARCHIVE);
    let received = if streamed {
        streamed_upload(query, request, &archive).await
    } else {
        json_upload(request, &archive).await
    };
    match received {
        Ok((entry, inputs)) => Ok(Upload {
            entry,
            inputs,
            staging,
        }),
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            Err(e)
        }
    }
}

type Received = (String, BTreeMap<String, Value>);

async fn streamed_upload(
    query: DeployQuery,
    request: Request,
    archive: &Path,
) -> Result<Received, ApiError> {
    let entry = query.entry.ok_or_else(|| {
        ApiError::bad_request(
            code::BAD_ENTRY,
            "a streamed deploy names its entry file: ?entry=service.yaml",
        )
    })?;
    let inputs = match query.inputs.as_deref() {
        None | Some("") => BTreeMap::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(
                code::BAD_REQUEST,
                format!("?inputs= must be a JSON object of input values: {e}"),
            )
        })?,
    };
    let file = tokio::fs::File::create(archive)
        .await
        .map_err(ApiError::internal)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut stream = request.into_body().into_data_stream();
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(code::BAD_PACKAGE, format!("the upload broke off: {e}"))
        })?;
        received += chunk.len() as u64;
        if received > MAX_PACKAGE_BYTES {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(disk_error)?;
    }
    file.flush().await.map_err(disk_error)?;
    file.into_inner().sync_all().await.map_err(disk_error)?;
    Ok((entry, inputs))
}

async fn json_upload(request: Request, archive: &Path) -> Result<Received, ApiError> {
    let JsonBody(request) = JsonBody::<DeployRequest>::from_request(request, &()).await?;
    let package = base64::engine::general_purpose::STANDARD
        .decode(request.package.as_bytes())
        .map_err(|e| {
            ApiError::bad_request(
                code::BAD_PACKAGE,
                format!("package is not valid base64: {e}"),
            )
        })?;
    if package.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(too_large());
    }
    tokio::fs::write(archive, &package)
        .await
        .map_err(disk_error)?;
    Ok((request.entry, request.inputs))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::PACKAGE_TOO_LARGE,
        format!(
            "the package is larger than {} MiB; leave big files out of it (fetch them as artifacts)",
            MAX_PACKAGE_BYTES >> 20
        ),
    )
}

/// Writing the upload failed: the disk's own words (e.g. "No space left on device").
fn disk_error(e: std::io::Error) -> ApiError {
    ApiError::cannot_store(format!(
        "cannot store the uploaded package on the shared state: {e}"
    ))
}
