//! What the API answers: views of the state records, documented for OpenAPI. The field
//! names are the API's (docs/api.md); the agent fills them from its records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub host: String,
    pub version: String,
    pub api_url: String,
    /// `ok`, `stalled` (the shared state does not answer: a lease renewal is overdue) or
    /// `fenced` (this host stopped its workloads because its lease lapsed).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_since: Option<DateTime<Utc>>,
    /// The epoch of this host's lease.
    pub lease_epoch: u64,
    /// The lease period, in seconds.
    pub lease_period_s: u64,
    /// What the state directory is on, e.g. `nfs4 server:/export on /mnt/state`.
    pub state_filesystem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub revision: u64,
    /// deploying, deployed, failed or deleting.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub entry: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: BTreeMap<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Number of instances, and of those running.
    pub instances: usize,
    pub running: usize,
}

/// What a deploy of a package would change, node by node (`deploy --plan`); nothing is
/// changed to answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanView {
    pub namespace: String,
    pub service: String,
    /// The service's current revision; none for a service that does not exist yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u64>,
    /// False when the package and inputs give the current revision again.
    pub changes: bool,
    /// The new revision's nodes in its order, then the nodes it no longer has.
    pub nodes: Vec<PlanNode>,
    /// Package files added, removed or changed that no node names (TOSCA files, data a
    /// program reads): the nodes that read them see the new content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_files_changed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanNode {
    pub node: String,
    /// create, remove, change or unchanged.
    pub action: String,
    pub count_before: u32,
    pub count_after: u32,
    /// What differs, one line each (for `change`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub service: ServiceView,
    pub instance_list: Vec<InstanceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceView {
    pub namespace: String,
    pub service: String,
    pub node: String,
    pub index: u32,
    pub revision: u64,
    pub host: String,
    /// process, directory or none.
    pub delegate: String,
    /// pending, starting, running, exited, failed, stopping or stopped.
    pub state: String,
    pub address: String,
    pub pid: Option<u32>,
    /// Reserved ports by endpoint name.
    pub ports: BTreeMap<String, u16>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The delegate's own handle on the workload (container ids, machine name, leader
    /// pid); not a TOSCA attribute.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub handle: BTreeMap<String, serde_json::Value>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub message: Option<String>,
    /// Why the instance is on its host (the scheduler's reasons, and moves).
    pub placement: Vec<String>,
    /// CPU (thousandths of a core) and memory the instance asks of its host.
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostView {
    pub name: String,
    pub address: String,
    pub api_url: String,
    /// As this agent sees it: alive, suspect, dead or left (SWIM gossip); `unreachable` when
    /// the host's agent holds its lock on the state but gossip has not reached it.
    pub state: String,
    /// Being drained: takes no new instances.
    pub draining: bool,
    pub labels: BTreeMap<String, String>,
    pub cpus: u32,
    pub memory_bytes: u64,
    /// Instances placed on the host.
    pub instances: usize,
    /// Process id of the host's agent.
    pub agent_pid: u32,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_addr: Option<String>,
    /// The delegates its agent can run (`process`, `podman`, `docker`, ...); placement
    /// sends an instance only to a host that runs its delegate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
    /// The epoch of its lease, and when it was last renewed (from `lease.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_renewed_at: Option<DateTime<Utc>>,
    /// Set when something about the host needs saying: a dead host whose instances still wait
    /// for fencing, a fenced host, a stalled state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a drain did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrainResult {
    pub host: String,
    /// Instances now running elsewhere.
    pub moved: usize,
    /// Instances that could not be moved, and why.
    pub problems: Vec<String>,
}

/// This agent's gossip: where it listens, whether packets are sealed, whom it knows, and its
/// packet counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GossipView {
    pub host: String,
    pub gossip_addr: String,
    /// Packets are encrypted and authenticated with a cluster key.
    pub encrypted: bool,
    pub members: Vec<GossipMember>,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Dropped because they were sealed with another key (or sealed/unsealed against this
    /// host's setting).
    pub dropped_bad_key: u64,
    /// Dropped because they were not Khutulun gossip.
    pub dropped_malformed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GossipMember {
    pub name: String,
    pub gossip_addr: String,
    /// alive, suspect, dead or left.
    pub state: String,
}

/// A registered plugin as `khutulun plugin list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginView {
    /// The name it is registered under.
    pub name: String,
    /// The version its manifest gives.
    pub version: String,
    /// The name the plugin gives itself.
    pub plugin: String,
    pub functions: Vec<String>,
    pub handlers: Vec<String>,
    /// SHA-256 of the component.
    pub sha256: String,
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    fn time(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Serializes `view`, checks its JSON has exactly `fields` (in that order), and that it
    /// reads back as it was.
    fn round_trip<T>(view: &T, fields: &[&str]) -> Value
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let value = serde_json::to_value(view).unwrap();
        let names: Vec<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, fields);
        let text = serde_json::to_string(view).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), view);
        value
    }

    fn instance() -> InstanceView {
        InstanceView {
            namespace: "default".into(),
            service: "shop".into(),
            node: "web".into(),
            index: 1,
            revision: 3,
            host: "h1".into(),
            delegate: "process".into(),
            state: "running".into(),
            address: "10.0.0.1".into(),
            pid: Some(4242),
            ports: BTreeMap::from([("http".into(), 20001)]),
            attributes: BTreeMap::from([("path".into(), json!("/srv"))]),
            handle: BTreeMap::from([("container_id".into(), json!("0123abcd"))]),
            restarts: 2,
            exit_code: None,
            exit_signal: Some(9),
            message: None,
            placement: vec!["fits on h1".into()],
            cpu_millis: 500,
            memory_bytes: 64 << 20,
            updated_at: time("2025-05-01T10:00:00.123456789Z"),
        }
    }

    fn service() -> ServiceView {
        ServiceView {
            namespace: "default".into(),
            name: "shop".into(),
            revision: 3,
            status: "deployed".into(),
            message: None,
            entry: "service.yaml".into(),
            inputs: BTreeMap::from([("port".into(), json!(8080))]),
            created_at: time("2025-05-01T09:00:00Z"),
            updated_at: time("2025-05-01T10:00:00.5Z"),
            instances: 2,
            running: 1,
        }
    }

    const INSTANCE_FIELDS: &[&str] = &[
        "namespace",
        "service",
        "node",
        "index",
        "revision",
        "host",
        "delegate",
        "state",
        "address",
        "pid",
        "ports",
        "attributes",
        "handle",
        "restarts",
        "exit_code",
        "exit_signal",
        "message",
        "placement",
        "cpu_millis",
        "memory_bytes",
        "updated_at",
    ];

    const SERVICE_FIELDS: &[&str] = &[
        "namespace",
        "name",
        "revision",
        "status",
        "entry",
        "inputs",
        "created_at",
        "updated_at",
        "instances",
        "running",
    ];

    #[test]
    fn health_round_trips() {
        let mut health = Health {
            host: "h1".into(),
            version: "0.1.0".into(),
            api_url: "http://10.0.0.1:8181".into(),
            state: "ok".into(),
            stalled_since: None,
            lease_epoch: 7,
            lease_period_s: 30,
            state_filesystem: "nfs4 server:/export on /mnt/state".into(),
        };
        let fields = [
            "host",
            "version",
            "api_url",
            "state",
            "lease_epoch",
            "lease_period_s",
            "state_filesystem",
        ];
        round_trip(&health, &fields);
        health.state = "stalled".into();
        health.stalled_since = Some(time("2025-05-01T10:00:00Z"));
        let value = round_trip(
            &health,
            &[
                "host",
                "version",
                "api_url",
                "state",
                "stalled_since",
                "lease_epoch",
                "lease_period_s",
                "state_filesystem",
            ],
        );
        assert_eq!(value["stalled_since"], "2025-05-01T10:00:00Z");
    }

    #[test]
    fn services_round_trip() {
        let mut view = service();
        round_trip(&view, SERVICE_FIELDS);
        view.status = "failed".into();
        view.message = Some("web/0 exited".into());
        let value = round_trip(
            &view,
            &[
                "namespace",
                "name",
                "revision",
                "status",
                "message",
                "entry",
                "inputs",
                "created_at",
                "updated_at",
                "instances",
                "running",
            ],
        );
        assert_eq!(value["updated_at"], "2025-05-01T10:00:00.500Z");
    }

    #[test]
    fn a_service_detail_is_its_view_and_the_instance_list() {
        let detail = ServiceDetail {
            service: service(),
            instance_list: vec![instance()],
        };
        let mut fields = SERVICE_FIELDS.to_vec();
        fields.push("instance_list");
        let value = round_trip(&detail, &fields);
        let listed: Vec<&str> = value["instance_list"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(listed, INSTANCE_FIELDS);
    }

    #[test]
    fn instances_round_trip() {
        // Absent values are null, not left out.
        let value = round_trip(&instance(), INSTANCE_FIELDS);
        assert_eq!(value["exit_code"], Value::Null);
        assert_eq!(value["ports"], json!({"http": 20001}));
        assert_eq!(value["updated_at"], "2025-05-01T10:00:00.123456789Z");
    }

    #[test]
    fn hosts_round_trip() {
        let mut host = HostView {
            name: "h1".into(),
            address: "10.0.0.1".into(),
            api_url: "http://10.0.0.1:8181".into(),
            state: "alive".into(),
            draining: false,
            labels: BTreeMap::from([("zone".into(), "a".into())]),
            cpus: 4,
            memory_bytes: 8 << 30,
            instances: 3,
            agent_pid: 100,
            started_at: time("2025-05-01T08:00:00Z"),
            gossip_addr: None,
            delegates: Vec::new(),
            lease_epoch: None,
            lease_renewed_at: None,
            note: None,
        };
        let always = [
            "name",
            "address",
            "api_url",
            "state",
            "draining",
            "labels",
            "cpus",
            "memory_bytes",
            "instances",
            "agent_pid",
            "started_at",
        ];
        round_trip(&host, &always);
        host.gossip_addr = Some("10.0.0.1:8183".into());
        host.delegates = vec!["process".into(), "podman".into()];
        host.lease_epoch = Some(4);
        host.lease_renewed_at = Some(time("2025-05-01T10:00:00Z"));
        host.note = Some("fenced".into());
        let mut all = always.to_vec();
        all.extend([
            "gossip_addr",
            "delegates",
            "lease_epoch",
            "lease_renewed_at",
            "note",
        ]);
        round_trip(&host, &all);
    }

    #[test]
    fn a_drain_result_round_trips() {
        let result = DrainResult {
            host: "h2".into(),
            moved: 2,
            problems: vec!["web/1: no host fits".into()],
        };
        round_trip(&result, &["host", "moved", "problems"]);
    }

    #[test]
    fn gossip_round_trips() {
        let view = GossipView {
            host: "h1".into(),
            gossip_addr: "10.0.0.1:8183".into(),
            encrypted: true,
            members: vec![GossipMember {
                name: "h2".into(),
                gossip_addr: "10.0.0.2:8183".into(),
                state: "alive".into(),
            }],
            packets_in: 10,
            packets_out: 11,
            dropped_bad_key: 1,
            dropped_malformed: 0,
        };
        let value = round_trip(
            &view,
            &[
                "host",
                "gossip_addr",
                "encrypted",
                "members",
                "packets_in",
                "packets_out",
                "dropped_bad_key",
                "dropped_malformed",
            ],
        );
        assert_eq!(
            value["members"][0],
            json!({"name": "h2", "gossip_addr": "10.0.0.2:8183", "state": "alive"})
        );
    }

    #[test]
    fn plugins_round_trip() {
        let view = PluginView {
            name: "text".into(),
            version: "1.0.0".into(),
            plugin: "text-functions".into(),
            functions: vec!["upper".into()],
            handlers: vec![],
            sha256: "ab".repeat(32),
            path: "/state/plugins/text/1.0.0.wasm".into(),
        };
        round_trip(
            &view,
            &[
                "name",
                "version",
                "plugin",
                "functions",
                "handlers",
                "sha256",
                "path",
            ],
        );
    }
}
