//! Events: what happened, where and when. Appended to `events/<day>.jsonl` and streamed.

use crate::name::Name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Names one node instance of one service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceRef {
    pub namespace: Name,
    pub service: Name,
    pub node: Name,
    pub index: u32,
}

impl InstanceRef {
    /// Validates the three names (see [`Name`]).
    pub fn new(
        namespace: &str,
        service: &str,
        node: &str,
        index: u32,
    ) -> Result<InstanceRef, crate::name::BadName> {
        Ok(InstanceRef {
            namespace: Name::parse("namespace", namespace)?,
            service: Name::parse("service", service)?,
            node: Name::parse("node", node)?,
            index,
        })
    }
}

impl std::fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} {}/{}",
            self.namespace, self.service, self.node, self.index
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    /// The host whose agent saw it happen.
    pub host: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    AgentStarted {
        api_url: String,
    },
    AgentStopping,
    ServiceDeploying {
        namespace: String,
        service: String,
        revision: u64,
    },
    ServiceDeployed {
        namespace: String,
        service: String,
        revision: u64,
    },
    ServiceFailed {
        namespace: String,
        service: String,
        message: String,
    },
    ServiceDeleting {
        namespace: String,
        service: String,
    },
    ServiceDeleted {
        namespace: String,
        service: String,
    },
    InstancePlaced {
        #[serde(flatten)]
        instance: InstanceRef,
        on_host: String,
    },
    InstanceStarting {
        #[serde(flatten)]
        instance: InstanceRef,
    },
    InstanceRunning {
        #[serde(flatten)]
        instance: InstanceRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    InstanceAdopted {
        #[serde(flatten)]
        instance: InstanceRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    InstanceExited {
        #[serde(flatten)]
        instance: InstanceRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    InstanceRestarting {
        #[serde(flatten)]
        instance: InstanceRef,
        attempt: u32,
        delay_ms: u64,
    },
    InstanceFailed {
        #[serde(flatten)]
        instance: InstanceRef,
        message: String,
    },
    InstanceStopping {
        #[serde(flatten)]
        instance: InstanceRef,
    },
    InstanceStopped {
        #[serde(flatten)]
        instance: InstanceRef,
    },
    /// The instance was re-placed: from a dead host (failover) or a draining one.
    InstanceMoved {
        #[serde(flatten)]
        instance: InstanceRef,
        from_host: String,
        to_host: String,
        reason: String,
    },
    /// A dependant restarts so that it gets the new address of what it connects to.
    InstanceReconnecting {
        #[serde(flatten)]
        instance: InstanceRef,
        because_of: String,
    },
    /// The port of an exposed endpoint was opened in the host firewall (firewalld, runtime
    /// configuration of the default zone). `already_open`: firewalld had it open before, so
    /// it is left open when the instance goes.
    PortOpened {
        #[serde(flatten)]
        instance: InstanceRef,
        endpoint: String,
        port: u16,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        already_open: bool,
    },
    /// The port was closed again: its instance was stopped for good on this host (delete,
    /// redeploy, move).
    PortClosed {
        #[serde(flatten)]
        instance: InstanceRef,
        endpoint: String,
        port: u16,
    },
    /// The port of an exposed endpoint was not opened (firewalld is not running, firewall-cmd
    /// is missing or failed); the instance runs all the same. `message` says why.
    PortNotOpened {
        #[serde(flatten)]
        instance: InstanceRef,
        endpoint: String,
        port: u16,
        message: String,
    },
    /// Membership: a host joined, came back, or recovered from suspicion.
    HostAlive {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gossip_addr: Option<String>,
    },
    HostSuspect {
        name: String,
    },
    /// SWIM declared the host dead.
    HostDead {
        name: String,
    },
    /// The host's agent left the cluster on purpose.
    HostLeft {
        name: String,
    },
    /// This agent fenced the dead host (took its alive.lock) and moves its instances.
    FailoverStarted {
        name: String,
        instances: usize,
        /// Why fencing was allowed.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    FailoverFinished {
        name: String,
        moved: usize,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        problems: Vec<String>,
    },
    /// The dead host's alive.lock is still held: its agent runs but is cut off from gossip, so
    /// nothing is moved (moving would run its instances twice).
    FailoverSkipped {
        name: String,
        reason: String,
    },
    /// This agent watches a dead host's lease before it may fence it: `remaining_ms` at
    /// most, unless the host comes back.
    FailoverWaiting {
        name: String,
        remaining_ms: u64,
        reason: String,
    },
    /// This agent could not renew its host lease in time and stopped its workloads so that
    /// other hosts may run them (self-fencing).
    HostSelfFenced {
        name: String,
        reason: String,
        instances: usize,
    },
    /// This agent renewed its lease again before anyone fenced the host: what it stopped
    /// is started again.
    HostLeaseRecovered {
        name: String,
        epoch: u64,
    },
    /// Another agent fenced this host while it was cut off; this agent took the host again
    /// under a new epoch and adopts what the state now gives it.
    HostRejoined {
        name: String,
        old_epoch: u64,
        epoch: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fenced_by: Option<String>,
    },
    /// The shared state stopped answering this agent (a renewal took longer than expected).
    StateStalled {
        path: String,
    },
    StateRecovered {
        path: String,
        stalled_ms: u64,
    },
    HostDraining {
        name: String,
    },
    HostDrained {
        name: String,
        moved: usize,
    },
    HostUndrained {
        name: String,
    },
    /// An interface operation (or notification, or trigger action) ran on the instance's
    /// host: a script that exited with `code`, or a plugin handler (code 0). `outputs` are what
    /// it reported; those mapped onto attributes were set.
    OperationFinished {
        #[serde(flatten)]
        instance: InstanceRef,
        /// `<interface>.<operation>`.
        operation: String,
        code: i32,
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        outputs: serde_json::Map<String, serde_json::Value>,
        /// The policy trigger (`<policy>.<trigger>`) or event that ran it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// The operation could not run or did not succeed: `message` says why (exit code, time
    /// limit, plugin trap, memory limit, ...).
    OperationFailed {
        #[serde(flatten)]
        instance: InstanceRef,
        operation: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// A custom TOSCA function (a plugin) failed while a value was computed.
    FunctionFailed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        function: String,
        message: String,
    },
    /// A user event: from `khutulun event emit`, a plugin, or a notification
    /// (`<interface>.<notification>`). Policy triggers name it by `name`.
    User {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        data: serde_json::Value,
    },
}

impl EventKind {
    /// The `type` tag as it appears in JSON.
    pub fn name(&self) -> String {
        serde_json::to_value(self).expect("events serialize")["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Event {
    /// The instance a Khutulun event (not a user event) is about.
    fn instance_ref(&self) -> Option<&InstanceRef> {
        use EventKind::*;
        match &self.kind {
            InstancePlaced { instance, .. }
            | InstanceStarting { instance }
            | InstanceRunning { instance, .. }
            | InstanceAdopted { instance, .. }
            | InstanceExited { instance, .. }
            | InstanceRestarting { instance, .. }
            | InstanceFailed { instance, .. }
            | InstanceStopping { instance }
            | InstanceStopped { instance }
            | InstanceMoved { instance, .. }
            | InstanceReconnecting { instance, .. }
            | PortOpened { instance, .. }
            | PortClosed { instance, .. }
            | PortNotOpened { instance, .. }
            | OperationFinished { instance, .. }
            | OperationFailed { instance, .. } => Some(instance),
            _ => None,
        }
    }

    /// The node instance this event is about, if any: `(node, index)` within its service.
    pub fn instance(&self) -> Option<(&str, u32)> {
        match &self.kind {
            EventKind::User {
                node: Some(node),
                index,
                ..
            } => Some((node, index.unwrap_or(0))),
            _ => self
                .instance_ref()
                .map(|instance| (instance.node.as_str(), instance.index)),
        }
    }

    /// The name policy triggers match: the `type` tag, or a user event's own name.
    pub fn trigger_name(&self) -> String {
        match &self.kind {
            EventKind::User { name, .. } => name.clone(),
            other => other.name(),
        }
    }

    pub fn now(host: &str, kind: EventKind) -> Event {
        Event {
            time: Utc::now(),
            host: host.to_owned(),
            kind,
        }
    }

    /// The service this event is about, if any.
    pub fn service(&self) -> Option<(&str, &str)> {
        use EventKind::*;
        if let Some(instance) = self.instance_ref() {
            return Some((&instance.namespace, &instance.service));
        }
        match &self.kind {
            ServiceDeploying {
                namespace, service, ..
            }
            | ServiceDeployed {
                namespace, service, ..
            }
            | ServiceFailed {
                namespace, service, ..
            }
            | ServiceDeleting { namespace, service }
            | ServiceDeleted { namespace, service }
            | FunctionFailed {
                namespace: Some(namespace),
                service: Some(service),
                ..
            }
            | User {
                namespace: Some(namespace),
                service: Some(service),
                ..
            } => Some((namespace, service)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_events_are_flat_json_with_a_type_tag() {
        let e = Event::now(
            "h1",
            EventKind::InstanceExited {
                instance: InstanceRef::new("default", "s", "n", 0).unwrap(),
                pid: Some(42),
                code: None,
                signal: Some(9),
            },
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "instance_exited");
        assert_eq!(v["node"], "n");
        assert_eq!(v["signal"], 9);
        assert_eq!(v["host"], "h1");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.kind.name(), "instance_exited");
    }
}
