use super::error::ApiError;
use crate::agent::Agent;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use khutulun_state::Event;
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    let live = live.filter_map(move |item| {
        let query = query.clone();
        async move {
            let event = item.ok()?;
            if last_past.is_some_and(|t| event.time <= t) || !query.matches(&event) {
                return None;
            }
            Some(event)
        }
    });
    let stream = past.chain(live).map(|event| {
        Ok::<_, std::convert::Infallible>(
            SseEvent::default()
                .event(event.kind.name())
                .data(serde_json::to_string(&event).unwrap_or_default()),
        )
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
