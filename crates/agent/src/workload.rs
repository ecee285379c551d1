//! Turning a node of the graph into something a delegate can run: which delegate, and the
//! concrete spec (command, environment with the relationships' data, directories).

use crate::restart::RestartPolicy;
use khutulun_delegates::{Capabilities, DirectorySpec, ProcessSpec, WorkloadSpec};
use khutulun_graph::{Expr, Node, ServiceGraph};
use khutulun_profile as profile;
use khutulun_state::InstanceRecord;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtime::InstanceAttributes;

/// Which delegate runs a node, chosen by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DelegateKind {
    Process,
    Directory,
    Podman,
    Docker,
    Nspawn,
    /// A node of a type Khutulun does not run (pure model); it is "running" at once.
    None,
}

/// Every kind that runs workloads: its name in records, and what its delegate declares
/// it can do (known here even for delegates this host cannot run, for placement).
const KINDS: [(DelegateKind, &str, Capabilities); 5] = [
    (
        DelegateKind::Process,
        "process",
        khutulun_delegates::ProcessDelegate::CAPABILITIES,
    ),
    (
        DelegateKind::Directory,
        "directory",
        khutulun_delegates::DirectoryDelegate::CAPABILITIES,
    ),
    (
        DelegateKind::Podman,
        "podman",
        khutulun_delegates::podman::PodmanDelegate::CAPABILITIES,
    ),
    (
        DelegateKind::Docker,
        "docker",
        khutulun_delegates::docker::DockerDelegate::CAPABILITIES,
    ),
    (
        DelegateKind::Nspawn,
        "nspawn",
        khutulun_delegates::nspawn::NspawnDelegate::CAPABILITIES,
    ),
];

impl DelegateKind {
    /// The kinds that run workloads (every kind but `None`).
    pub fn runnable() -> impl Iterator<Item = DelegateKind> {
        KINDS.iter().map(|(kind, _, _)| *kind)
    }

    /// What the delegate of this kind declares it can do; `None` for nodes nothing runs.
    pub fn capabilities(self) -> Option<Capabilities> {
        KINDS
            .iter()
            .find(|(kind, _, _)| *kind == self)
            .map(|(_, _, capabilities)| *capabilities)
    }

    /// True for delegates some hosts cannot run (their tool or engine may be missing):
    /// placement sends their instances only to hosts that publish them.
    pub fn needs_a_capable_host(self) -> bool {
        self.capabilities().is_some_and(|c| c.needs_host_support)
    }

    /// The delegate that runs `node`: by its type, a Delegation policy choosing the
    /// container engine, and none for a pod's member (its pod runs it).
    pub fn of(graph: &ServiceGraph, node: &Node) -> DelegateKind {
        let p = profile::PROFILE_PREFIX;
        if node.is_a(p, profile::PROCESS) {
            DelegateKind::Process
        } else if node.is_a(p, profile::DIRECTORY) {
            DelegateKind::Directory
        } else if node.is_a(p, profile::POD) {
            DelegateKind::Podman
        } else if node.is_a(p, profile::SYSTEM_CONTAINER) {
            DelegateKind::Nspawn
        } else if node.is_a(p, profile::CONTAINER) {
            if crate::containers::pod_of(graph, &node.name).is_some() {
                return DelegateKind::None;
            }
            match crate::containers::delegation(graph, &node.name).as_deref() {
                Some("docker") => DelegateKind::Docker,
                _ => DelegateKind::Podman,
            }
        } else {
            DelegateKind::None
        }
    }

    pub fn from_name(name: &str) -> DelegateKind {
        KINDS
            .iter()
            .find(|(_, known, _)| *known == name)
            .map_or(DelegateKind::None, |(kind, _, _)| *kind)
    }

    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(kind, _, _)| *kind == self)
            .map_or("none", |(_, name, _)| name)
    }
}

/// Where things of one instance live on this host.
pub struct InstancePaths {
    /// `<data>/instances/<ns>/<svc>/<node>-<index>`: logs and scratch space.
    pub instance_dir: PathBuf,
    /// The deployed package of the current revision.
    pub package_dir: PathBuf,
    /// The default place for directories: `<data>/volumes/<ns>/<svc>/<node>-<index>`.
    pub default_volume: PathBuf,
    /// The systemd user scope to run a process in, when the agent uses them.
    pub systemd_scope: Option<String>,
    /// The instance's cgroup (`cgroup_name`), for processes.
    pub cgroup: String,
}

/// The part of an agent's instance cgroups' names that is its own: the host's name and a
/// short hash of its data directory, so that agents sharing a kernel (tests, labs) never
/// share a cgroup, and a sysadmin still reads which host's they are.
pub fn cgroup_prefix(host: &str, data_dir: &Path) -> String {
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_owned());
    // FNV-1a: stable across runs and builds (the std hasher is not).
    let hash = data_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    format!("{host}-{hash:08x}")
}

/// An instance's cgroup, below `khutulun/` in each hierarchy:
/// `<prefix>/<ns>/<svc>/<node>-<index>`.
pub fn cgroup_name(prefix: &str, ns: &str, svc: &str, node: &str, index: u32) -> String {
    format!("{prefix}/{ns}/{svc}/{node}-{index}")
}

/// Everything needed to run one instance.
pub struct Workload {
    /// The delegate that runs it.
    pub kind: DelegateKind,
    pub spec: WorkloadSpec,
    pub restart: RestartPolicy,
    pub stop_timeout: Duration,
    /// Endpoints whose reserved ports are opened in the host firewall while it runs.
    pub exposed: Vec<String>,
}

/// Builds the workload of `node`/`index` from the graph and the current instance records
/// (which hold the ports and addresses of what it connects to).
pub fn build(
    graph: &ServiceGraph,
    node: &Node,
    index: u32,
    instances: &[InstanceRecord],
    paths: &InstancePaths,
    identity: &BTreeMap<String, String>,
) -> Result<Option<Workload>, String> {
    let runtime = InstanceAttributes { instances };
    let property = |name: &str| -> Result<Option<Value>, String> {
        match node.properties.get(name) {
            None => Ok(None),
            Some(expr) => evaluate(graph, expr, &node.name, index, &runtime).map(Some),
        }
    };
    let workload = match DelegateKind::of(graph, node) {
        DelegateKind::None => Ok(None),
        kind @ (DelegateKind::Podman | DelegateKind::Docker | DelegateKind::Nspawn) => {
            crate::containers::build(graph, node, index, instances, paths, identity, kind).map(Some)
        }
        DelegateKind::Directory => {
            let path = match property("path")? {
                Some(Value::String(p)) => PathBuf::from(p),
                _ => paths.default_volume.clone(),
            };
            let mode_text = string(property("mode")?).unwrap_or_else(|| "0755".into());
            let mode =
                u32::from_str_radix(mode_text.trim_start_matches("0o"), 8).map_err(|_| {
                    format!(
                        "node \"{}\": mode \"{mode_text}\" is not an octal permission like 0755",
                        node.name
                    )
                })?;
            Ok(Some(Workload {
                kind: DelegateKind::Directory,
                spec: WorkloadSpec::Directory(DirectorySpec {
                    path,
                    mode,
                    owner: string(property("owner")?),
                    keep: property("keep")?.and_then(|v| v.as_bool()).unwrap_or(true),
                }),
                restart: RestartPolicy::Never,
                stop_timeout: Duration::ZERO,
                exposed: Vec::new(),
            }))
        }
        DelegateKind::Process => {
            let command = string(property("command")?)
                .ok_or_else(|| format!("node \"{}\" has no command", node.name))?;
            let arguments = match property("arguments")? {
                Some(Value::Array(items)) => items.iter().map(text).collect(),
                _ => Vec::new(),
            };
            let working_directory = match string(property("working_directory")?) {
                Some(dir) => paths.package_dir.join(dir),
                None => paths.package_dir.clone(),
            };
            let restart = RestartPolicy::parse(
                &string(property("restart")?).unwrap_or_else(|| "on-failure".into()),
            )
            .map_err(|e| format!("node \"{}\": {e}", node.name))?;
            // The Resources policy's cpu and memory, enforced by the instance's cgroup.
            let resources = crate::placement::resources(graph, &node.name);
            let stop_timeout = Duration::from_secs(
                property("stop_timeout")?
                    .and_then(|v| v.as_u64())
                    .unwrap_or(10),
            );
            let mut environment = base_environment();
            environment.extend(identity.clone());
            environment.insert(
                "KHUTULUN_INSTANCE_DIR".into(),
                paths.instance_dir.display().to_string(),
            );
            environment.insert(
                "KHUTULUN_PACKAGE_DIR".into(),
                paths.package_dir.display().to_string(),
            );
            environment.extend(relationship_environment(
                graph, node, index, instances, None,
            )?);
            if let Some(Value::Object(map)) = property("environment")? {
                for (key, value) in map {
                    environment.insert(key, text(&value));
                }
            }
            Ok(Some(Workload {
                kind: DelegateKind::Process,
                spec: WorkloadSpec::Process(ProcessSpec {
                    command,
                    arguments,
                    environment,
                    working_directory,
                    user: string(property("user")?),
                    log_directory: paths.instance_dir.clone(),
                    systemd_scope: paths.systemd_scope.clone(),
                    lifeline_fd: None,
                    cgroup: Some(khutulun_delegates::cgroup::CgroupRequest {
                        name: paths.cgroup.clone(),
                        cpu_millis: resources.cpu_millis,
                        memory_bytes: resources.memory_bytes,
                    }),
                }),
                restart,
                stop_timeout,
                exposed: Vec::new(),
            }))
        }
    }?;
    Ok(workload.map(|mut workload| {
        workload.exposed = crate::exposure::exposed_endpoints(graph, node);
        workload
    }))
}

/// How a container sees the outside: the name its engine gives the host (for targets on
/// a loopback address, which a bridged container cannot reach as such), and where each
/// directory it uses is mounted, by target node.
#[derive(Default)]
pub struct ContainerView {
    pub host_alias: Option<&'static str>,
    pub mount_paths: BTreeMap<String, String>,
}

/// The variables a workload gets from its own endpoints and from its relationships; with a
/// container view, addresses and directory paths as the container sees them.
pub fn relationship_environment(
    graph: &ServiceGraph,
    node: &Node,
    index: u32,
    instances: &[InstanceRecord],
    view: Option<&ContainerView>,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    if let Some(me) = instances
        .iter()
        .find(|i| i.node == node.name && i.index == index)
    {
        for (endpoint, port) in &me.ports {
            env.insert(format!("{}_PORT", env_name(endpoint)), port.to_string());
            if endpoint == "endpoint" {
                env.insert("PORT".into(), port.to_string());
            }
        }
    }
    let runtime = InstanceAttributes { instances };
    for relationship in graph.requirements_of(&node.name) {
        let explicit = match relationship.properties.get("env_prefix") {
            Some(expr) => string(Some(evaluate(graph, expr, &node.name, index, &runtime)?)),
            None => None,
        };
        let generic =
            relationship.requirement == "connection" || relationship.requirement == "directory";
        let prefix = env_name(&explicit.unwrap_or_else(|| {
            if generic {
                relationship.target.clone()
            } else {
                relationship.requirement.clone()
            }
        }));
        // Several instances of the target: the first one (placement across hosts and
        // balancing come with the cluster).
        let Some(target) = instances
            .iter()
            .filter(|i| i.node == relationship.target)
            .min_by_key(|i| i.index)
        else {
            continue;
        };
        if relationship.is_a(
            khutulun_profile::PROFILE_PREFIX,
            khutulun_profile::CONNECTS_TO,
        ) {
            let port = target.ports.get(&relationship.capability).ok_or_else(|| {
                format!(
                    "node \"{}\" connects to endpoint \"{}\" of \"{}\", which has no reserved port",
                    node.name, relationship.capability, relationship.target
                )
            })?;
            let address = match view.and_then(|v| v.host_alias) {
                Some(alias) if is_loopback(&target.address) => alias.to_owned(),
                _ => target.address.clone(),
            };
            env.insert(format!("{prefix}_HOST"), address.clone());
            env.insert(format!("{prefix}_PORT"), port.to_string());
            env.insert(format!("{prefix}_ADDRESS"), format!("{address}:{port}"));
        } else if relationship.is_a(
            khutulun_profile::PROFILE_PREFIX,
            khutulun_profile::USES_DIRECTORY,
        ) {
            let mounted = view.and_then(|v| v.mount_paths.get(&relationship.target));
            let path = target
                .delegate_handle()
                .get("path")
                .and_then(|p| p.as_str());
            if let Some(path) = mounted.map(String::as_str).or(path) {
                env.insert(format!("{prefix}_DIR"), path.to_owned());
            }
        }
    }
    Ok(env)
}

fn is_loopback(address: &str) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
        || address == "localhost"
}

/// The few variables of the agent's own environment that a process should see.
pub fn base_environment() -> BTreeMap<String, String> {
    ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// `backend-db` → `BACKEND_DB`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

pub fn evaluate(
    graph: &ServiceGraph,
    expr: &Expr,
    node: &str,
    index: u32,
    runtime: &InstanceAttributes,
) -> Result<Value, String> {
    let context = khutulun_graph::EvalContext::node(node, index);
    khutulun_graph::evaluate(graph, expr, &context, runtime).map_err(|e| e.to_string())
}

pub fn string(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Endpoints of a node that need a reserved port, with the fixed port if one was asked for:
/// those that set `port` (0 = any), those a connection targets and those exposed.
pub fn endpoints_needing_ports(graph: &ServiceGraph, node: &Node) -> Vec<(String, Option<u16>)> {
    let mut wanted = Vec::new();
    for (name, capability) in &node.capabilities {
        if !capability.is_a(
            khutulun_profile::PROFILE_PREFIX,
            khutulun_profile::TCP_ENDPOINT,
        ) {
            continue;
        }
        let fixed = match capability.properties.get("port") {
            Some(Expr::Value(Value::Number(n))) => Some(n.as_u64().unwrap_or(0) as u16),
            _ => None,
        };
        let targeted = graph
            .dependants_of(&node.name)
            .any(|r| &r.capability == name);
        match fixed {
            Some(0) => wanted.push((name.clone(), None)),
            Some(port) => wanted.push((name.clone(), Some(port))),
            None if targeted || crate::exposure::is_exposed(graph, node, name) => {
                wanted.push((name.clone(), None))
            }
            None => {}
        }
    }
    wanted
}

pub fn instance_dir(data_dir: &Path, ns: &str, svc: &str, node: &str, index: u32) -> PathBuf {
    data_dir
        .join("instances")
        .join(ns)
        .join(svc)
        .join(format!("{node}-{index}"))
}

pub fn volume_dir(data_dir: &Path, ns: &str, svc: &str, node: &str, index: u32) -> PathBuf {
    data_dir
        .join("volumes")
        .join(ns)
        .join(svc)
        .join(format!("{node}-{index}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_names() {
        assert_eq!(super::env_name("backend-db.1"), "BACKEND_DB_1");
    }
}
