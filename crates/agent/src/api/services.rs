use super::error::{code, ApiError};
use super::views::{DeployRequest, PlanView, ServiceDetail, ServiceView};
use crate::agent::Agent;
use crate::deploy::DeployInput;
use crate::names::check_name;
use crate::runtime::InstanceAttributes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::BTreeMap;

/// The services of a namespace.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services",
    params(("ns" = String, Path, description = "Namespace")),
    responses((status = 200, body = Vec<ServiceView>)))]
pub async fn list(
    State(agent): State<Agent>,
    Path(ns): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    check_name("namespace", &ns)?;
    let of = agent.clone();
    let body = super::read_state(&agent, move || {
        let services = of.index.services(&ns)?;
        Ok(of.rendered.services(&services))
    })
    .await?;
    Ok(super::json_bytes(body))
}

/// One service with its instances.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services/{name}",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service")),
    responses((status = 200, body = ServiceDetail), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<ServiceDetail>, ApiError> {
    let service = super::indexed_service(&agent, &ns, &name).await?;
    Ok(Json(ServiceDetail {
        service: super::views::service_view(&service.record, &service.instances),
        instance_list: service
            .instances
            .iter()
            .map(super::views::instance_view)
            .collect(),
    }))
}

/// Deploys a package as a service (a new revision if the service exists). Returns once the
/// revision is stored; instances start in the background (watch the service or the events).
#[utoipa::path(put, path = "/v1/namespaces/{ns}/services/{name}",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service"),
        super::upload::DeployQuery),
    request_body(content(
        (DeployRequest = "application/json"),
        (Vec<u8> = "application/gzip", example = "the package as a tar.gz, with ?entry= and ?inputs="))),
    responses((status = 202, body = ServiceView),
        (status = 413, description = "The package is larger than the limit (`package_too_large`)", body = super::error::ErrorBody),
        (status = 507, description = "The package cannot be stored (`cannot_store`, with the OS's reason)", body = super::error::ErrorBody),
        (status = 422, description = "The template does not compile (`invalid_template`, with diagnostics) or cannot run", body = super::error::ErrorBody),
        (status = 409, description = "Ports unavailable, the service is being deleted, or it is not at `check_revision` (`revision_changed`)", body = super::error::ErrorBody)))]
pub async fn deploy(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<super::upload::DeployQuery>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    let input = received(&agent, &ns, &name, query, request).await?;
    let record = crate::deploy::deploy(&agent, input).await?;
    let instances = agent
        .store
        .instances(&ns, &name)
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(super::views::service_view(&record, &instances)),
    ))
}

/// What a deploy of the package would change, node by node, against the service's current
/// revision; nothing is stored, started or stopped.
#[utoipa::path(post, path = "/v1/namespaces/{ns}/services/{name}/plan",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service"),
        super::upload::DeployQuery),
    request_body(content(
        (DeployRequest = "application/json"),
        (Vec<u8> = "application/gzip", example = "the package as a tar.gz, with ?entry= and ?inputs="))),
    responses((status = 200, body = PlanView),
        (status = 413, description = "The package is larger than the limit (`package_too_large`)", body = super::error::ErrorBody),
        (status = 422, description = "The template does not compile (`invalid_template`, with diagnostics) or cannot run", body = super::error::ErrorBody)))]
pub async fn plan(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<super::upload::DeployQuery>,
    request: axum::extract::Request,
) -> Result<Json<PlanView>, ApiError> {
    let input = received(&agent, &ns, &name, query, request).await?;
    let plan = crate::deploy::plan(&agent, input).await?;
    Ok(Json(super::views::plan_view(&ns, &name, &plan)))
}

/// The names checked, then the package received: what a deploy or a plan is given. A bad
/// name is refused before the package is received.
async fn received(
    agent: &Agent,
    ns: &str,
    name: &str,
    query: super::upload::DeployQuery,
    request: axum::extract::Request,
) -> Result<DeployInput, ApiError> {
    check_name("namespace", ns)?;
    check_name("service", name)?;
    let check_revision = query.check_revision;
    let upload = super::upload::receive(agent, query, request).await?;
    Ok(DeployInput {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        entry: upload.entry,
        inputs: upload.inputs,
        staging: upload.staging,
        check_revision,
    })
}

/// Deletes a service: stops its instances in reverse dependency order, then removes it.
#[utoipa::path(delete, path = "/v1/namespaces/{ns}/services/{name}",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service")),
    responses((status = 202, body = ServiceView), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    check_name("namespace", &ns)?;
    check_name("service", &name)?;
    let record = crate::delete::delete(&agent, &ns, &name).await?;
    let instances = agent
        .store
        .instances(&ns, &name)
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(super::views::service_view(&record, &instances)),
    ))
}

/// The service's outputs, evaluated now against the runtime state.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services/{name}/outputs",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service")),
    responses((status = 200, description = "Output name to value", body = Object), (status = 404, body = super::error::ErrorBody)))]
pub async fn outputs(
    State(agent): State<Agent>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<BTreeMap<String, serde_json::Value>>, ApiError> {
    let record = super::existing_service(&agent, &ns, &name)?;
    let graph = agent
        .store
        .read_graph::<khutulun_graph::ServiceGraph>(&ns, &name, record.revision)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "revision {} of {ns}/{name} has no graph",
                record.revision
            ))
        })?;
    let instances = agent
        .store
        .instances(&ns, &name)
        .map_err(ApiError::internal)?;
    let runtime = InstanceAttributes {
        instances: &instances,
    };
    let mut values = BTreeMap::new();
    for (output, definition) in &graph.outputs {
        let value = khutulun_graph::evaluate(
            &graph,
            &definition.value,
            &khutulun_graph::EvalContext::None,
            &runtime,
        )
        .map_err(|e| {
            ApiError::unprocessable(
                code::OUTPUT_UNAVAILABLE,
                format!("output \"{output}\": {e}"),
            )
        })?;
        values.insert(output.clone(), value);
    }
    Ok(Json(values))
}
