use super::error::{code, ApiError};
use crate::agent::Agent;
use crate::names::check_name;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use khutulun_state::Event;
use serde::Deserialize;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Stream new events as server-sent events instead of returning the log.
    #[serde(default)]
    follow: bool,
    /// Only events of this namespace.
    namespace: Option<String>,
    /// Only events of this service.
    service: Option<String>,
}

impl EventQuery {
    fn matches(&self, event: &Event) -> bool {
        match event.service() {
            Some((ns, svc)) => {
                self.namespace.as_deref().is_none_or(|n| n == ns)
                    && self.service.as_deref().is_none_or(|s| s == svc)
            }
            None => self.service.is_none(),
        }
    }
}

/// The event log as a JSON array, or with `follow=true` a stream of server-sent events
/// (each `data:` is one event as JSON) that starts with the logged events since `since`.
#[utoipa::path(get, path = "/v1/events", params(EventQuery),
    responses((status = 200, description = "JSON array of events, or text/event-stream when following", body = Vec<Object>)))]
pub async fn list(
    State(agent): State<Agent>,
    Query(query): Query<EventQuery>,
) -> Result<Response, ApiError> {
    if !query.follow {
        let events: Vec<Event> = agent
            .store
            .events(query.since)
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|e| query.matches(e))
            .collect();
        return Ok(Json(events).into_response());
    }
    // Subscribe first so nothing falls between the log and the live stream.
    let live = BroadcastStream::new(agent.bus.subscribe());
    let past: Vec<Event> = match query.since {
        Some(since) => agent
            .store
            .events(Some(since))
            .map_err(ApiError::internal)?,
        None => Vec::new(),
    };
    let last_past = past.last().map(|e| e.time);
    let query = std::sync::Arc::new(query);
    let q = query.clone();
    let past = futures_util::stream::iter(past.into_iter().filter(move |e| q.matches(e)));
    let past = past.map(|event| Ok::<_, std::convert::Infallible>(sse_of(&event)));
    let live = live.filter_map(move |item| {
        let query = query.clone();
        async move {
            match item {
                Ok(event) => {
                    if last_past.is_some_and(|t| event.time <= t) || !query.matches(&event) {
                        return None;
                    }
                    Some(Ok(sse_of(&event)))
                }
                // Fell behind the bus: the client is told, and looks at the state again.
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Ok(SseEvent::default()
                    .event(EVENTS_MISSED)
                    .data(serde_json::json!({ "missed": missed }).to_string()))),
            }
        }
    });
    let stream = past.chain(live);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The server-sent event that replaces events a following client fell too far behind to
/// get (`data`: `{"missed": n}`); they are in the log.
pub const EVENTS_MISSED: &str = "events_missed";

fn sse_of(event: &Event) -> SseEvent {
    SseEvent::default()
        .event(event.kind.name())
        .data(serde_json::to_string(event).unwrap_or_default())
}

pub use khutulun_protocol::requests::EmitRequest;

/// The largest `data` of a user event, serialized.
pub const MAX_USER_EVENT_DATA: usize = 16 << 10;

/// Publishes a user event on this agent's bus and in the log; policy triggers on it run on
/// this host. Answers the event as recorded.
#[utoipa::path(post, path = "/v1/events", request_body = EmitRequest,
    responses((status = 201, description = "The event as recorded", body = Object),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 429, description = "More user events than the agent takes (`too_many_events`)", body = super::error::ErrorBody)))]
pub async fn emit(
    State(agent): State<Agent>,
    super::body::JsonBody(request): super::body::JsonBody<EmitRequest>,
) -> Result<(axum::http::StatusCode, Json<Event>), ApiError> {
    let valid_name = !request.name.is_empty()
        && request.name.len() <= 128
        && request
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
    if !valid_name {
        return Err(ApiError::bad_request(
            code::INVALID_EVENT,
            format!(
                "\"{}\" is not a usable event name: use 1 to 128 letters, digits, '_', '.', ':' or '-'",
                request.name
            ),
        ));
    }
    let data_bytes = serde_json::to_vec(&request.data).map_or(0, |d| d.len());
    if data_bytes > MAX_USER_EVENT_DATA {
        return Err(ApiError::bad_request(
            code::INVALID_EVENT,
            format!(
                "the event's data is {data_bytes} bytes; events go to the permanent log, so data is limited to {} KiB: store larger things elsewhere and refer to them",
                MAX_USER_EVENT_DATA >> 10
            ),
        ));
    }
    if let Some(node) = &request.node {
        check_name("node", node)?;
    }
    let allowed = agent
        .user_events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(std::time::Instant::now());
    if let Err(wait) = allowed {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            code::TOO_MANY_EVENTS,
            format!(
                "this agent takes at most {} user events a second (bursts of {}); try again in {} ms",
                super::USER_EVENTS_PER_SECOND,
                super::USER_EVENT_BURST,
                wait.as_millis().max(1)
            ),
        ));
    }
    if request.node.is_some() && request.service.is_none() {
        return Err(ApiError::bad_request(
            code::INVALID_EVENT,
            "an event about a node must name its service too (--service)",
        ));
    }
    let namespace = request.service.as_ref().map(|_| {
        request
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    });
    if let (Some(ns), Some(svc)) = (&namespace, &request.service) {
        super::existing_service(&agent, ns, svc)?;
        if let Some(node) = &request.node {
            let index = request.index.unwrap_or(0);
            if agent
                .store
                .instance(ns, svc, node, index)
                .map_err(ApiError::internal)?
                .is_none()
            {
                return Err(ApiError::not_found(format!(
                    "service \"{ns}/{svc}\" has no instance {node}/{index}"
                )));
            }
        }
    }
    let event = agent.bus.emit(khutulun_state::EventKind::User {
        name: request.name,
        namespace,
        service: request.service,
        index: request.node.as_ref().map(|_| request.index.unwrap_or(0)),
        node: request.node,
        data: request.data,
    });
    Ok((axum::http::StatusCode::CREATED, Json(event)))
}
