//! `GET .../instances/{node}/{index}/exec` as a WebSocket: a command run in or beside an
//! instance (see [`crate::exec::protocol`]). The instance's own host runs it; any other
//! agent passes the WebSocket on to that host's agent.

use super::error::{code, ApiError};
use crate::agent::Agent;
use crate::exec::protocol::{
    output_frame, websocket_base, ClientMessage, ExecRequest, ServerMessage, STDERR,
};
use crate::exec::session::{self, Ended, Input};
use crate::names::check_name;
use crate::workload::DelegateKind;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use khutulun_delegates::{ExecPlan, Running};
use khutulun_state::{InstanceRecord, InstanceStatus};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

/// How long a client may take to say what to run.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a command inside a container, pod or system container (the engine's exec,
/// nsenter), or beside a process (its user, environment and directory). Upgrade to a
/// WebSocket; the messages are described in docs/api.md.
#[utoipa::path(get, path = "/v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/exec",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Service"),
        ("node" = String, Path, description = "Node template"), ("index" = u32, Path, description = "Instance index")),
    responses((status = 101, description = "Switching to the exec WebSocket"), (status = 404, body = super::error::ErrorBody)))]
pub async fn exec(
    State(agent): State<Agent>,
    Path((ns, name, node, index)): Path<(String, String, String, u32)>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    super::existing_service(&agent, &ns, &name)?;
    check_name("node", &node)?;
    let record = agent
        .store
        .instance(&ns, &name, &node, index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "service \"{ns}/{name}\" has no instance {node}/{index}; `khutulun instances {name}` lists them"
            ))
        })?;
    Ok(upgrade.on_upgrade(move |socket| serve(agent, record, socket)))
}

async fn serve(agent: Agent, record: InstanceRecord, mut socket: WebSocket) {
    let request = match first_message(&mut socket).await {
        Ok(request) => request,
        Err(message) => return refuse(socket, code::BAD_REQUEST, message).await,
    };
    if record.host != agent.host.name {
        if let Err(message) = relay(&agent, &record, &request, socket).await {
            tracing::warn!("exec in {}/{}: {message}", record.node, record.index);
        }
        return;
    }
    match plan(&agent, &record, &request) {
        Ok(plan) => run_here(plan, request, socket).await,
        Err(message) => refuse(socket, code::CANNOT_EXEC, message).await,
    }
}

async fn first_message(socket: &mut WebSocket) -> Result<ExecRequest, String> {
    let message = tokio::time::timeout(START_TIMEOUT, socket.recv())
        .await
        .map_err(|_| "no start message within 30 s".to_string())?;
    match message {
        Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
            Ok(ClientMessage::Start(request)) if !request.command.is_empty() => Ok(request),
            Ok(ClientMessage::Start(_)) => Err("the start message names no command".into()),
            Ok(_) => Err("the first message must be {\"type\": \"start\", ...}".into()),
            Err(e) => Err(format!("the start message is not valid: {e}")),
        },
        _ => Err("the first message must be a text start message".into()),
    }
}

async fn refuse(mut socket: WebSocket, code: &str, message: String) {
    let error = ServerMessage::Error {
        code: code.into(),
        message,
    };
    let _ = socket.send(server_text(&error)).await;
    let _ = socket.close().await;
}

fn server_text(message: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(message).expect("serializable").into())
}

/// How this host's delegate runs a command for the instance.
fn plan(agent: &Agent, record: &InstanceRecord, request: &ExecRequest) -> Result<ExecPlan, String> {
    let instance = format!("{}/{}", record.node, record.index);
    if record.state != InstanceStatus::Running {
        let state = serde_json::to_value(record.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(format!(
            "{instance} is {state} on host {}, not running; `khutulun instances {}` shows why",
            record.host, record.service
        ));
    }
    let (kind, running) = match DelegateKind::from_name(&record.delegate) {
        DelegateKind::None => pod_member(agent, record)?,
        kind => (kind, crate::local::running_of(agent, record)),
    };
    let delegate = agent
        .delegate_for(kind)?
        .filter(|d| d.capabilities().exec)
        .ok_or_else(|| {
            format!(
                "{instance} is run by the {} delegate, which runs no program to execute commands in",
                kind.name()
            )
        })?;
    delegate
        .exec_plan(&running, &request.command, request.tty)
        .map_err(|e| format!("{instance}: {e}"))
}

/// A pod's member is a container of its pod's instance: exec there, in that container.
fn pod_member(agent: &Agent, record: &InstanceRecord) -> Result<(DelegateKind, Running), String> {
    let name = crate::containers::engine_name(
        &record.namespace,
        &record.service,
        &record.node,
        record.index,
    );
    let instances = agent
        .store
        .instances(&record.namespace, &record.service)
        .map_err(|e| e.to_string())?;
    let in_a_pod = instances.iter().any(|pod| {
        pod.delegate == DelegateKind::Podman.name()
            && pod
                .delegate_handle()
                .get("container_names")
                .and_then(Value::as_array)
                .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(name.as_str())))
    });
    if !in_a_pod {
        return Err(format!(
            "{}/{} runs nothing of its own to execute commands in",
            record.node, record.index
        ));
    }
    let handle = [("container_id".to_string(), Value::String(name))].into();
    Ok((
        DelegateKind::Podman,
        Running {
            handle,
            ..Default::default()
        },
    ))
}

/// Runs the plan on this host, relaying the socket to the session and back.
async fn run_here(plan: ExecPlan, request: ExecRequest, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (input_tx, input_rx) = mpsc::channel(16);
    let (output_tx, mut output_rx) = mpsc::channel(16);
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let input = match message {
                Message::Binary(data) => Input::Data(data.to_vec()),
                Message::Text(text) => match serde_json::from_str(&text) {
                    Ok(ClientMessage::Resize(size)) => Input::Resize(size),
                    Ok(ClientMessage::Eof) => Input::Eof,
                    _ => continue,
                },
                Message::Close(_) => break,
                _ => continue,
            };
            if input_tx.send(input).await.is_err() {
                break;
            }
        }
    });
    let stdin = request.stdin || request.tty;
    let session = tokio::spawn(async move {
        session::run(&plan, request.tty, stdin, request.size, input_rx, output_tx).await
    });
    while let Some((stream, data)) = output_rx.recv().await {
        let frame = Message::Binary(output_frame(stream, &data).into());
        if sink.send(frame).await.is_err() {
            break;
        }
    }
    let ended = session.await;
    reader.abort();
    let last = match ended {
        Ok(Ok(Ended::Exited(code))) => ServerMessage::Exit { code },
        Ok(Ok(Ended::Abandoned)) => return,
        Ok(Err(error)) => {
            let text = format!("khutulun exec: {}\n", error.message);
            let frame = output_frame(STDERR, text.as_bytes());
            let _ = sink.send(Message::Binary(frame.into())).await;
            ServerMessage::Exit { code: error.code }
        }
        Err(panic) => ServerMessage::Error {
            code: code::INTERNAL.into(),
            message: format!("the exec session failed: {panic}"),
        },
    };
    let _ = sink.send(server_text(&last)).await;
    let _ = sink.close().await;
}

/// Passes the session on to the agent of the instance's host, frame for frame.
async fn relay(
    agent: &Agent,
    record: &InstanceRecord,
    request: &ExecRequest,
    client: WebSocket,
) -> Result<(), String> {
    let base = crate::peers::api_url(agent, &record.host)?;
    let url = format!(
        "{}/v1/namespaces/{}/services/{}/instances/{}/{}/exec",
        websocket_base(&base),
        record.namespace,
        record.service,
        record.node,
        record.index
    );
    let mut upstream_request = tungstenite::client::IntoClientRequest::into_client_request(&url)
        .map_err(|e| format!("bad exec URL {url}: {e}"))?;
    if let Some(token) = &agent.config.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token is not a valid header value".to_string())?;
        upstream_request
            .headers_mut()
            .insert(axum::http::header::AUTHORIZATION, value);
    }
    let (upstream, _) = match tokio_tungstenite::connect_async(upstream_request).await {
        Ok(connected) => connected,
        Err(e) => {
            let message = format!(
                "{}/{} runs on host {}, whose agent does not answer at {base}: {e}",
                record.node, record.index, record.host
            );
            refuse(client, code::HOST_UNREACHABLE, message.clone()).await;
            return Err(message);
        }
    };
    let (mut up_sink, mut up_stream) = upstream.split();
    let start =
        serde_json::to_string(&ClientMessage::Start(request.clone())).expect("serializable");
    up_sink
        .send(tungstenite::Message::Text(start.into()))
        .await
        .map_err(|e| e.to_string())?;
    let (mut client_sink, mut client_stream) = client.split();
    let to_host = async {
        while let Some(Ok(message)) = client_stream.next().await {
            let message = match message {
                Message::Binary(data) => tungstenite::Message::Binary(data),
                Message::Text(text) => tungstenite::Message::Text(text.as_str().into()),
                Message::Close(_) => break,
                _ => continue,
            };
            if up_sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = up_sink.close().await;
    };
    let to_client = async {
        while let Some(Ok(message)) = up_stream.next().await {
            let message = match message {
                tungstenite::Message::Binary(data) => Message::Binary(data),
                tungstenite::Message::Text(text) => Message::Text(text.as_str().into()),
                tungstenite::Message::Close(_) => break,
                _ => continue,
            };
            if client_sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = client_sink.close().await;
    };
    // Either side ending ends the session; dropping the other closes it.
    tokio::select! {
        _ = to_host => {}
        _ = to_client => {}
    }
    Ok(())
}
