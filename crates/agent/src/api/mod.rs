//! The HTTP API under /v1: JSON in and out, bearer-token auth, OpenAPI at /v1/openapi.json.

mod body;
pub mod error;
mod events;
pub mod exec;
mod gossip;
mod hosts;
mod instances;
mod internal;
pub mod local_socket;
mod operations;
mod plugins;
pub mod rendered;
mod services;
mod upload;
pub mod views;

use crate::agent::Agent;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::{code, ApiError};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Khutulun agent API", description = "Every agent answers every request. Errors are JSON with a stable `code`."),
    paths(
        health,
        openapi_document,
        services::list,
        services::show,
        services::deploy,
        services::plan,
        services::delete,
        services::outputs,
        instances::list_namespace,
        instances::list_service,
        instances::logs,
        exec::exec,
        operations::run,
        plugins::list,
        plugins::add,
        plugins::remove,
        events::emit,
        hosts::list,
        hosts::drain,
        hosts::undrain,
        gossip::show,
        events::list,
    ),
    components(schemas(
        views::Health,
        views::DeployRequest,
        views::ServiceView,
        views::PlanView,
        views::PlanNode,
        views::ServiceDetail,
        views::InstanceView,
        views::HostView,
        views::DrainResult,
        views::GossipView,
        views::GossipMember,
        error::ErrorBody,
        khutulun_protocol::requests::RunRequest,
        views::PluginView,
        khutulun_protocol::requests::EmitRequest,
    )),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// User events: a burst of this many, then this many a second (per agent).
pub const USER_EVENT_BURST: u32 = 100;
pub const USER_EVENTS_PER_SECOND: u32 = 20;

/// The error answers every route can give besides its own, documented where they apply:
/// 401 behind the token (everything but health and this document), 400 for a name in the
/// path that is not a valid name, 400 and 415 for a body that does not fit or is not JSON.
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = path == "/v1/health" || path == "/v1/openapi.json";
            let names_in_path = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                let mut add = |code: &str, description: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                if !public {
                    add("401", "No token, or the wrong one (`unauthorized`)");
                }
                if names_in_path {
                    add("400", "A name in the path is not a valid name (`bad_name`)");
                }
                if op.request_body.is_some() {
                    add(
                        "400",
                        "The body does not fit its type (`bad_request`) or holds a bad value",
                    );
                    add(
                        "415",
                        "The body is not sent as application/json (`bad_request`)",
                    );
                }
            }
        }
    }
}

pub fn router(agent: Agent) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/hosts", get(hosts::list))
        .route("/gossip", get(gossip::show))
        .route("/events", get(events::list).post(events::emit))
        .route("/namespaces/{ns}/services", get(services::list))
        .route(
            "/namespaces/{ns}/services/{name}",
            get(services::show)
                .put(services::deploy)
                .delete(services::delete),
        )
        .route(
            "/namespaces/{ns}/services/{name}/outputs",
            get(services::outputs),
        )
        .route(
            "/namespaces/{ns}/services/{name}/plan",
            post(services::plan),
        )
        .route("/namespaces/{ns}/instances", get(instances::list_namespace))
        .route(
            "/namespaces/{ns}/services/{name}/instances",
            get(instances::list_service),
        )
        .route(
            "/namespaces/{ns}/services/{name}/instances/{node}/{index}/logs",
            get(instances::logs),
        )
        .route(
            "/namespaces/{ns}/services/{name}/instances/{node}/{index}/exec",
            get(exec::exec),
        )
        .route(
            "/namespaces/{ns}/services/{name}/instances/{node}/{index}/operations/{operation}",
            post(operations::run),
        )
        .route("/plugins", get(plugins::list))
        .route(
            "/plugins/{name}",
            axum::routing::put(plugins::add).delete(plugins::remove),
        )
        .route(
            "/hosts/{name}/drain",
            post(hosts::drain).delete(hosts::undrain),
        )
        .route("/internal/instances/start", post(internal::start))
        .route("/internal/instances/stop", post(internal::stop))
        .route("/internal/operations", post(operations::run_internal))
        .route_layer(middleware::from_fn_with_state(agent.clone(), require_token))
        // Health answers without a token so that clients can tell "no agent" from "wrong token".
        .route("/health", get(health))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::package::MAX_DEPLOY_BODY_BYTES,
        ));
    Router::new()
        .nest("/v1", v1)
        .fallback(|| async {
            ApiError::not_found("no such API path; the API lives under /v1 (see /v1/openapi.json)")
        })
        .with_state(agent)
}

async fn require_token(State(agent): State<Agent>, request: Request, next: Next) -> Response {
    if request
        .extensions()
        .get::<local_socket::LocalPeer>()
        .is_some()
    {
        return next.run(request).await;
    }
    let Some(expected) = agent.config.token.as_deref().filter(|t| !t.is_empty()) else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "missing or wrong bearer token; pass --token or set KHUTULUN_TOKEN",
        )
        .into_response()
    }
}

/// How long an API read waits for the shared state before it answers 503 `state_stalled`.
pub const STATE_READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Threads the API's reads of the shared state may use at once.
const READ_THREADS: usize = 16;

/// The API's reads run on threads of their own, not on the runtime's blocking pool: a mass
/// flow that keeps that pool busy must not make the API answer `state_stalled`, a
/// verdict on the filesystem. (A runtime that is never driven: only its blocking pool is
/// used; idle threads leave after 2 s.)
fn read_pool() -> &'static tokio::runtime::Handle {
    static POOL: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(READ_THREADS)
            .thread_keep_alive(std::time::Duration::from_secs(2))
            .thread_name("api-read")
            .build()
            .expect("a runtime without IO or timers always builds")
    })
    .handle()
}

/// Runs reads of the shared state off the async workers, with a deadline: a stalled
/// filesystem makes the request fail with 503 `state_stalled`, it never hangs the API.
pub async fn read_state<T: Send + 'static>(
    agent: &Agent,
    read: impl FnOnce() -> Result<T, khutulun_state::StateError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::time::timeout(STATE_READ_DEADLINE, read_pool().spawn_blocking(read)).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(ApiError::from_state(e)),
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(_) => Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code::STATE_STALLED,
            format!(
                "the shared state at {} did not answer within {} s (an NFS server down or cut off?); this agent keeps running its workloads and answers again once the state does",
                agent.store.layout().root().display(),
                STATE_READ_DEADLINE.as_secs()
            ),
        )),
    }
}

/// Checks the names of a service path and that the service exists.
pub fn existing_service(
    agent: &Agent,
    ns: &str,
    name: &str,
) -> Result<khutulun_state::ServiceRecord, ApiError> {
    crate::names::check_name("namespace", ns)?;
    crate::names::check_name("service", name)?;
    agent
        .store
        .require_service(ns, name)
        .map_err(ApiError::from_state)
}

/// A JSON body as it is.
pub fn json_bytes(body: Vec<u8>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Checks the names of a service path; the service with its instances from the index,
/// off the async workers.
pub async fn indexed_service(
    agent: &Agent,
    ns: &str,
    name: &str,
) -> Result<std::sync::Arc<khutulun_state::ServiceSnapshot>, ApiError> {
    crate::names::check_name("namespace", ns)?;
    crate::names::check_name("service", name)?;
    let (of, ns, name) = (agent.clone(), ns.to_owned(), name.to_owned());
    read_state(agent, move || of.index.require_service(&ns, &name)).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who answers: the host and version of this agent.
#[utoipa::path(get, path = "/v1/health", security(()), responses((status = 200, body = views::Health)))]
async fn health(State(agent): State<Agent>) -> Json<views::Health> {
    // Answers from memory only: health must answer while the shared state stalls.
    let lease = agent.lease.status();
    let state = if !lease.valid {
        "fenced"
    } else if lease.stalled_since.is_some() {
        "stalled"
    } else {
        "ok"
    };
    Json(views::Health {
        host: agent.host.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_url: agent.host.api_url.clone(),
        state: state.to_owned(),
        stalled_since: lease.stalled_since,
        lease_epoch: lease.epoch,
        lease_period_s: agent.lease.timing.period.as_secs(),
        state_filesystem: agent.state_fs.describe(),
    })
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "The OpenAPI document")))]
async fn openapi_document() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// The runtime's only blocking thread is taken (as by a mass flow): a read on the
    /// runtime's pool would wait for it, the API's own pool answers at once.
    #[test]
    fn api_reads_do_not_queue_behind_the_runtimes_blocking_threads() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (release, released) = std::sync::mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || released.recv().unwrap());
            let queued = tokio::task::spawn_blocking(|| "from the runtime's pool");
            let read = tokio::time::timeout(
                Duration::from_secs(30),
                super::read_pool().spawn_blocking(|| "from the API's pool"),
            )
            .await;
            assert_eq!(read.unwrap().unwrap(), "from the API's pool");
            assert!(!queued.is_finished(), "the runtime's pool was not taken");
            release.send(()).unwrap();
            busy.await.unwrap();
            assert_eq!(queued.await.unwrap(), "from the runtime's pool");
        });
    }
}
