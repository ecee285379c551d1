//! Interface operations (§11): scripts (and plugin handlers) that run on the host of the
//! instance they belong to, with their inputs in the environment and their outputs mapped
//! back onto attributes. Used by the lifecycle (`lifecycle`), by `khutulun run` (the API)
//! and by policy triggers and notifications (`crate::handlers`).

mod error;
pub mod lifecycle;
pub mod protocol;
pub mod script;

use crate::agent::Agent;
use crate::instance::{identity, load_current, paths_for};
use crate::runtime::InstanceAttributes;
pub use error::OperationError;
use khutulun_graph::{EvalContext, Implementation, Operation, ServiceGraph};
use khutulun_state::{EventKind, InstanceRecord};
use protocol::{OperationMessage, OperationRequest};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How long an operation may run when its implementation gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The end of a run that started: the exit code (0 is success) and the outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationEnd {
    pub code: i32,
    pub outputs: Map<String, Value>,
    /// The last lines the script wrote to stderr.
    pub stderr_tail: Vec<String>,
}

impl OperationEnd {
    /// `exited with code 3: <its last line on stderr>`.
    pub fn failure(&self) -> String {
        match self.stderr_tail.last() {
            Some(line) => format!("exited with code {}: {line}", self.code),
            None => format!("exited with code {}", self.code),
        }
    }
}

/// An operation found in the graph, with what running it needs.
pub struct Resolved {
    pub graph: std::sync::Arc<ServiceGraph>,
    pub package: PathBuf,
    pub operation: Operation,
    pub implementation: Implementation,
    pub instances: Vec<InstanceRecord>,
    /// The record of the instance it runs for.
    pub record: InstanceRecord,
}

/// Finds the operation a request names and checks it can run here: the service, the
/// instance (placed on this host, or `any_host`), the operation and its implementation.
pub fn resolve(
    agent: &Agent,
    request: &OperationRequest,
    any_host: bool,
) -> Result<Resolved, OperationError> {
    use OperationError::{NoSuchOperation, NotFound};
    let instance = &request.instance;
    let (ns, svc) = (&instance.namespace, &instance.service);
    let (service, graph) = load_current(agent, ns, svc).map_err(NotFound)?;
    let instances = agent
        .store
        .instances(ns, svc)
        .map_err(|e| OperationError::State(e.to_string()))?;
    let record = instances
        .iter()
        .find(|r| r.node == instance.node && r.index == instance.index)
        .cloned()
        .ok_or_else(|| {
            NotFound(format!(
                "service {ns}/{svc} has no instance {}/{}",
                instance.node, instance.index
            ))
        })?;
    if !any_host && record.host != agent.host.name {
        return Err(OperationError::NotHere(format!(
            "{instance} is on host {}, not on {}",
            record.host, agent.host.name
        )));
    }
    let (interface, name) = split_name(&request.operation).map_err(NoSuchOperation)?;
    let (operation, owner) = match &request.relationship {
        Some(ends) => {
            let relationship = graph
                .relationships
                .iter()
                .find(|r| r.source == ends.source && r.requirement == ends.requirement)
                .ok_or_else(|| {
                    NoSuchOperation(format!(
                        "node \"{}\" has no requirement \"{}\"",
                        ends.source, ends.requirement
                    ))
                })?;
            (
                relationship.operation(interface, name).cloned(),
                format!(
                    "the relationship of requirement \"{}\" of node \"{}\"",
                    ends.requirement, ends.source
                ),
            )
        }
        None => {
            let node = graph.node(&instance.node).ok_or_else(|| {
                NotFound(format!(
                    "service {ns}/{svc} has no node \"{}\"",
                    instance.node
                ))
            })?;
            let known: Vec<String> = node
                .interfaces
                .iter()
                .flat_map(|(i, interface)| {
                    interface.operations.keys().map(move |o| format!("{i}.{o}"))
                })
                .collect();
            let operation = node
                .operation(interface, name)
                .or_else(|| {
                    node.interfaces
                        .get(interface)
                        .and_then(|i| i.notifications.get(name))
                })
                .cloned();
            if operation.is_none() {
                let known = if known.is_empty() {
                    "it has none with an implementation".to_owned()
                } else {
                    format!("its operations are: {}", known.join(", "))
                };
                return Err(NoSuchOperation(format!(
                    "node \"{}\" has no operation \"{}\"; {known}",
                    instance.node, request.operation
                )));
            }
            (operation, format!("node \"{}\"", instance.node))
        }
    };
    let operation = operation.ok_or_else(|| {
        NoSuchOperation(format!(
            "{owner} has no operation \"{}\"",
            request.operation
        ))
    })?;
    let implementation = operation.implementation.clone().ok_or_else(|| {
        NoSuchOperation(format!(
            "operation \"{}\" of {owner} has no implementation to run",
            request.operation
        ))
    })?;
    let package = agent
        .store
        .layout()
        .revision_package(ns, svc, service.revision);
    Ok(Resolved {
        graph,
        package,
        operation,
        implementation,
        instances,
        record,
    })
}

pub use khutulun_protocol::operations::split_name;

/// Runs an operation of an instance of this host, relaying its output to `sink`, and
/// announces how it ended (`operation_finished` / `operation_failed`). Outputs mapped onto
/// attributes are written to the instance record.
pub async fn run_here(
    agent: &Agent,
    request: &OperationRequest,
    sink: Option<&UnboundedSender<OperationMessage>>,
) -> Result<OperationEnd, OperationError> {
    let result = run_resolved(agent, request, sink).await;
    let instance = request.instance.clone();
    match &result {
        Ok(end) if end.code == 0 => agent.emit(EventKind::OperationFinished {
            instance,
            operation: request.operation.clone(),
            code: 0,
            outputs: end.outputs.clone(),
            cause: request.cause.clone(),
        }),
        Ok(end) => agent.emit(EventKind::OperationFailed {
            instance,
            operation: request.operation.clone(),
            message: end.failure(),
            code: Some(end.code),
            cause: request.cause.clone(),
        }),
        Err(error) => agent.emit(EventKind::OperationFailed {
            instance,
            operation: request.operation.clone(),
            message: error.to_string(),
            code: None,
            cause: request.cause.clone(),
        }),
    }
    result
}

async fn run_resolved(
    agent: &Agent,
    request: &OperationRequest,
    sink: Option<&UnboundedSender<OperationMessage>>,
) -> Result<OperationEnd, OperationError> {
    use OperationError::CannotRun;
    let resolved = resolve(agent, request, false)?;
    let instance = &request.instance;
    let (ns, svc) = (&instance.namespace, &instance.service);
    let inputs = input_values(&resolved, request).map_err(CannotRun)?;
    let paths = paths_for(
        agent,
        ns,
        svc,
        &instance.node,
        instance.index,
        &resolved.package,
    );
    let primary = &resolved.implementation.primary;
    if crate::plugins::is_plugin(primary) {
        return run_plugin(agent, request, &resolved, inputs)
            .await
            .map_err(CannotRun);
    }
    let file = artifact_path(&resolved.package, &primary.file);
    let mut environment =
        environment(agent, &resolved, request, &paths.instance_dir).map_err(CannotRun)?;
    for (name, value) in &inputs {
        environment.insert(name.clone(), crate::workload::text(value));
    }
    let safe_name = request.operation.replace(['/', '\\'], "_");
    let script = script::Script {
        file,
        types: primary.types.iter().map(|t| t.name.clone()).collect(),
        working_directory: resolved.package.clone(),
        environment,
        outputs_file: paths
            .instance_dir
            .join("operations")
            .join(format!("{safe_name}.outputs")),
        log_file: paths.instance_dir.join("operations.log"),
        operation: request.operation.clone(),
        timeout: resolved
            .operation
            .timeout
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT),
    };
    let end = script::run(&script, sink).await.map_err(CannotRun)?;
    if end.code == 0 {
        map_outputs(agent, request, &resolved.operation, &end.outputs);
    }
    Ok(OperationEnd {
        code: end.code,
        outputs: end.outputs,
        stderr_tail: end.stderr_tail,
    })
}

/// Runs a plugin's handler: the one named after the operation (`Recovery.count_failures`
/// calls `count_failures`), with the event (or, run on demand, a `run` event) and the inputs
/// under `inputs`. What it returns are its outputs: an object as is, anything else as
/// `result`.
async fn run_plugin(
    agent: &Agent,
    request: &OperationRequest,
    resolved: &Resolved,
    inputs: BTreeMap<String, Value>,
) -> Result<OperationEnd, String> {
    let instance = &request.instance;
    let (_, handler) = split_name(&request.operation)?;
    let handler = handler.to_owned();
    let mut event = request.event.clone().unwrap_or_else(|| {
        serde_json::json!({
            "kind": "run",
            "host": agent.host.name,
            "namespace": instance.namespace,
            "service": instance.service,
            "node": instance.node,
            "index": instance.index,
        })
    });
    event["inputs"] = Value::Object(inputs.into_iter().collect());
    let api = std::sync::Arc::new(crate::plugins::AgentHostApi {
        agent: agent.clone(),
        namespace: instance.namespace.to_string(),
        service: instance.service.to_string(),
        graph: resolved.graph.clone(),
        operation: request.operation.clone(),
    });
    let host = agent.plugin_host()?;
    let (agent_for_load, package, file) = (
        agent.clone(),
        resolved.package.clone(),
        resolved.implementation.primary.file.clone(),
    );
    let result = tokio::task::spawn_blocking(move || {
        let plugin = crate::plugins::load_artifact(&agent_for_load, &package, &file)?;
        host.handle_event(&plugin, &handler, &event, api)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the plugin call was lost: {e}"))??;
    let outputs = match result {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("result".to_owned(), other)]),
    };
    map_outputs(agent, request, &resolved.operation, &outputs);
    Ok(OperationEnd {
        code: 0,
        outputs,
        stderr_tail: Vec::new(),
    })
}

/// The operation's inputs evaluated in its context (SELF the node or the relationship),
/// then the request's overrides.
fn input_values(
    resolved: &Resolved,
    request: &OperationRequest,
) -> Result<BTreeMap<String, Value>, String> {
    let runtime = InstanceAttributes {
        instances: &resolved.instances,
    };
    let context = match &request.relationship {
        Some(ends) => {
            EvalContext::relationship(&ends.source, ends.source_index, &ends.requirement, 0)
        }
        None => EvalContext::node(request.instance.node.as_str(), request.instance.index),
    };
    let mut values = BTreeMap::new();
    for (name, expr) in &resolved.operation.inputs {
        let value = khutulun_graph::evaluate(&resolved.graph, expr, &context, &runtime)
            .map_err(|e| format!("input \"{name}\" of {}: {e}", request.operation))?;
        values.insert(name.clone(), value);
    }
    for (name, value) in &request.inputs {
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

/// Where the script of an artifact is: relative paths are in the deployed package.
pub fn artifact_path(package: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_owned()
    } else {
        package.join(path)
    }
}

/// What every operation sees: the agent's few variables, the instance's identity, its
/// relationships' addresses and directories, and where to write outputs.
fn environment(
    agent: &Agent,
    resolved: &Resolved,
    request: &OperationRequest,
    instance_dir: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let instance = &request.instance;
    let mut env = crate::workload::base_environment();
    env.entry("PATH".into())
        .or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    env.extend(identity(
        agent,
        &instance.namespace,
        &instance.service,
        &instance.node,
        instance.index,
    ));
    if let Some(node) = resolved.graph.node(&instance.node) {
        env.extend(crate::workload::relationship_environment(
            &resolved.graph,
            node,
            instance.index,
            &resolved.instances,
            None,
        )?);
    }
    std::fs::create_dir_all(instance_dir)
        .map_err(|e| format!("cannot create {}: {e}", instance_dir.display()))?;
    env.insert(
        "KHUTULUN_INSTANCE_DIR".into(),
        instance_dir.display().to_string(),
    );
    env.insert(
        "KHUTULUN_PACKAGE_DIR".into(),
        resolved.package.display().to_string(),
    );
    env.insert("KHUTULUN_OPERATION".into(), request.operation.clone());
    if let Some(ends) = &request.relationship {
        env.insert("KHUTULUN_SOURCE_NODE".into(), ends.source.clone());
        env.insert(
            "KHUTULUN_SOURCE_INDEX".into(),
            ends.source_index.to_string(),
        );
        env.insert("KHUTULUN_REQUIREMENT".into(), ends.requirement.clone());
        env.insert("KHUTULUN_TARGET_NODE".into(), ends.target.clone());
        env.insert(
            "KHUTULUN_TARGET_INDEX".into(),
            ends.target_index.to_string(),
        );
    }
    if let Some(event) = &request.event {
        env.insert("KHUTULUN_EVENT".into(), event.to_string());
    }
    if let Some(cause) = &request.cause {
        env.insert("KHUTULUN_CAUSE".into(), cause.clone());
    }
    Ok(env)
}

/// Outputs mapped onto attributes of SELF (a node instance) are written to its record.
fn map_outputs(
    agent: &Agent,
    request: &OperationRequest,
    operation: &Operation,
    outputs: &Map<String, Value>,
) {
    if request.relationship.is_some() {
        // Relationships have no runtime record to hold attributes.
        return;
    }
    let mapped: Vec<(String, Value)> = operation
        .outputs
        .iter()
        .filter_map(|(output, attribute)| {
            outputs
                .get(output)
                .map(|value| (attribute.clone(), value.clone()))
        })
        .collect();
    if mapped.is_empty() {
        return;
    }
    agent.update_instance(&request.instance, |record| {
        for (attribute, value) in mapped {
            record.attributes.insert(attribute, value);
        }
    });
}

/// Runs an operation on `host` (this one directly, another through its agent's internal
/// API), relaying its output to `sink`.
pub async fn run_on(
    agent: &Agent,
    host: &str,
    request: &OperationRequest,
    sink: Option<&UnboundedSender<OperationMessage>>,
) -> Result<OperationEnd, OperationError> {
    use OperationError::CannotRun;
    if host == agent.host.name {
        return run_here(agent, request, sink).await;
    }
    let url = format!(
        "{}/v1/internal/operations",
        crate::peers::api_url(agent, host).map_err(CannotRun)?
    );
    let response = crate::peers::authorize(agent, agent.http.post(&url))
        .json(request)
        .send()
        .await
        .map_err(|e| {
            CannotRun(format!(
                "cannot reach the agent of host {host} at {url}: {e}"
            ))
        })?;
    if !response.status().is_success() {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        return Err(CannotRun(
            body["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the agent of host {host} answered {status}")),
        ));
    }
    relay_stream(response, sink)
        .await
        .map_err(|e| CannotRun(format!("on host {host}: {e}")))
}

/// Reads a stream of operation messages (one JSON object per line), forwarding output.
pub async fn relay_stream(
    response: reqwest::Response,
    sink: Option<&UnboundedSender<OperationMessage>>,
) -> Result<OperationEnd, String> {
    use futures_util::StreamExt;
    let mut stream = response.bytes_stream();
    let mut pending = Vec::new();
    let mut stderr_tail = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the operation's stream broke: {e}"))?;
        pending.extend_from_slice(&chunk);
        while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=newline).collect();
            let message: OperationMessage = serde_json::from_slice(&line)
                .map_err(|e| format!("a message of the operation's stream is not valid: {e}"))?;
            match message {
                OperationMessage::Finished { code, outputs } => {
                    return Ok(OperationEnd {
                        code,
                        outputs,
                        stderr_tail,
                    })
                }
                OperationMessage::Failed { message } => return Err(message),
                OperationMessage::Output { stream, line } => {
                    if stream == protocol::OutputStream::Stderr {
                        stderr_tail.push(line.clone());
                        if stderr_tail.len() > 5 {
                            stderr_tail.remove(0);
                        }
                    }
                    if let Some(sink) = sink {
                        let _ = sink.send(OperationMessage::Output { stream, line });
                    }
                }
            }
        }
    }
    Err("the stream ended before the operation did (did its agent stop?)".into())
}

/// Runs the request on `host` in the background and gives its messages as they come, the
/// last one `finished` or `failed`.
pub fn spawn_streaming(
    agent: &Agent,
    host: String,
    request: OperationRequest,
) -> tokio::sync::mpsc::UnboundedReceiver<OperationMessage> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let agent = agent.clone();
    tokio::spawn(async move {
        let last = match run_on(&agent, &host, &request, Some(&sender)).await {
            Ok(end) => OperationMessage::Finished {
                code: end.code,
                outputs: end.outputs,
            },
            Err(error) => OperationMessage::Failed {
                message: error.to_string(),
            },
        };
        let _ = sender.send(last);
    });
    receiver
}
