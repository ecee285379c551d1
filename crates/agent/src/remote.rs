//! Work for an instance wherever it is placed: on this host directly, on another through
//! that host's internal API (`/v1/internal/...`, same bearer token as the public API).

use crate::agent::Agent;
use crate::instance_error::InstanceError;
use crate::local;
use khutulun_state::{InstanceRef, Name};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Long enough for a start that waits for readiness (60 s) and then some.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceCommand {
    /// Names are validated as the body is read: a request naming `..` or `a/b` is refused
    /// before anything is done for it.
    #[schema(value_type = String)]
    pub namespace: Name,
    #[schema(value_type = String)]
    pub service: Name,
    #[schema(value_type = String)]
    pub node: Name,
    pub index: u32,
    /// For stop: also remove what the instance leaves behind (used by delete).
    #[serde(default)]
    pub remove: bool,
}

impl InstanceCommand {
    pub fn instance(&self) -> InstanceRef {
        InstanceRef {
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            node: self.node.clone(),
            index: self.index,
        }
    }

    fn new(instance: &InstanceRef, remove: bool) -> InstanceCommand {
        InstanceCommand {
            namespace: instance.namespace.clone(),
            service: instance.service.clone(),
            node: instance.node.clone(),
            index: instance.index,
            remove,
        }
    }
}

/// Starts an instance on `host` and waits until it runs.
/// `known`: the service's records as the caller read them, used when the host is this one.
pub async fn start_on(
    agent: &Agent,
    host: &str,
    instance: &InstanceRef,
    known: Option<&[khutulun_state::InstanceRecord]>,
) -> Result<(), InstanceError> {
    if host == agent.host.name {
        return local::start_here(agent, instance, known).await;
    }
    call(
        agent,
        host,
        "start",
        &InstanceCommand::new(instance, false),
        START_TIMEOUT,
    )
    .await
}

/// Stops an instance on `host`. A host whose agent is gone runs nothing that could be
/// stopped: that is not an error.
/// `sweep` applies on this host; another host's agent sweeps each instance it stops.
pub async fn stop_on(
    agent: &Agent,
    host: &str,
    instance: &InstanceRef,
    remove: bool,
    sweep: local::MarkSweep,
) -> Result<(), InstanceError> {
    if host == agent.host.name {
        local::stop_here(agent, instance, remove, sweep).await;
        return Ok(());
    }
    if !agent.store.host_is_alive(host).unwrap_or(false) {
        tracing::debug!("not stopping {instance}: no agent serves host {host}");
        return Ok(());
    }
    call(
        agent,
        host,
        "stop",
        &InstanceCommand::new(instance, remove),
        STOP_TIMEOUT,
    )
    .await
}

/// Asks `host`'s agent to `action` the instance; its error answer is read back into an
/// [`InstanceError`].
async fn call(
    agent: &Agent,
    host: &str,
    action: &str,
    command: &InstanceCommand,
    timeout: Duration,
) -> Result<(), InstanceError> {
    let instance = command.instance().to_string();
    let unreachable = |cause: String| InstanceError::Unreachable {
        instance: instance.clone(),
        host: host.to_owned(),
        cause,
    };
    let url = format!(
        "{}/v1/internal/instances/{action}",
        crate::peers::api_url(agent, host).map_err(unreachable)?
    );
    let response = crate::peers::authorize(agent, agent.http.post(&url))
        .json(command)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| unreachable(format!("cannot reach its agent at {url}: {e}")))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status();
    let (code, message) = match response.json::<khutulun_protocol::ErrorBody>().await {
        Ok(body) => (body.code, body.message),
        Err(_) => (
            khutulun_protocol::code::INTERNAL.to_owned(),
            format!("its agent answered {status}"),
        ),
    };
    Err(InstanceError::Remote {
        instance,
        host: host.to_owned(),
        code,
        message,
    })
}
