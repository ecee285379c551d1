//! Turning Container, Pod and SystemContainer nodes into what the podman, docker and nspawn
//! delegates run: image, ports published from the host's reservations, directories mounted
//! from storage relationships, and the relationships' data in the environment.

use crate::restart::RestartPolicy;
use crate::runtime::InstanceAttributes;
use crate::workload::{
    evaluate, relationship_environment, string, text, ContainerView, DelegateKind, InstancePaths,
    Workload,
};
use khutulun_delegates::{
    ContainerSpec, ImageSource, Mount, Network, PodSpec, PortMapping, RootSource,
    SystemContainerSpec, WorkloadSpec, HOST_ALIAS, INSTANCE_LABEL,
};
use khutulun_graph::{Expr, Node, ServiceGraph};
use khutulun_profile as profile;
use khutulun_state::InstanceRecord;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The name of an instance's container (or pod) in its engine.
pub fn engine_name(namespace: &str, service: &str, node: &str, index: u32) -> String {
    format!("khutulun-{namespace}-{service}-{node}-{index}")
}

/// The pod a container is a member of: the target of its MemberOf relationship.
pub fn pod_of(graph: &ServiceGraph, node: &str) -> Option<String> {
    graph
        .requirements_of(node)
        .find(|r| r.is_a(profile::PROFILE_PREFIX, profile::MEMBER_OF))
        .map(|r| r.target.clone())
}

/// The delegate a Delegation policy picks for `node`, if one targets it.
pub fn delegation(graph: &ServiceGraph, node: &str) -> Option<String> {
    graph
        .policies
        .iter()
        .filter(|p| {
            p.types
                .iter()
                .any(|t| t.is(profile::PROFILE_PREFIX, profile::DELEGATION))
        })
        .filter(|p| p.targets.iter().any(|t| t == node))
        .find_map(|p| match p.properties.get("delegate") {
            Some(Expr::Value(Value::String(delegate))) => Some(delegate.clone()),
            _ => None,
        })
}

/// One node instance's view of the graph, for reading its properties and relationships.
struct Subject<'a> {
    graph: &'a ServiceGraph,
    node: &'a Node,
    index: u32,
    instances: &'a [InstanceRecord],
    paths: &'a InstancePaths,
    identity: &'a BTreeMap<String, String>,
}

impl Subject<'_> {
    fn property(&self, name: &str) -> Result<Option<Value>, String> {
        let runtime = InstanceAttributes {
            instances: self.instances,
        };
        match self.node.properties.get(name) {
            None => Ok(None),
            Some(expr) => {
                evaluate(self.graph, expr, &self.node.name, self.index, &runtime).map(Some)
            }
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, String> {
        Ok(string(self.property(name)?))
    }

    fn list(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        Ok(match self.property(name)? {
            Some(Value::Array(items)) => Some(items.iter().map(text).collect()),
            _ => None,
        })
    }

    fn map(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
        Ok(match self.property(name)? {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            _ => BTreeMap::new(),
        })
    }

    fn required(&self, name: &str) -> Result<String, String> {
        self.string(name)?
            .ok_or_else(|| format!("node \"{}\" has no {name}", self.node.name))
    }

    fn restart(&self) -> Result<RestartPolicy, String> {
        RestartPolicy::parse(
            &self
                .string("restart")?
                .unwrap_or_else(|| "on-failure".into()),
        )
        .map_err(|e| format!("node \"{}\": {e}", self.node.name))
    }

    fn stop_timeout(&self) -> Result<Duration, String> {
        Ok(Duration::from_secs(
            self.property("stop_timeout")?
                .and_then(|v| v.as_u64())
                .unwrap_or(10),
        ))
    }

    /// `khutulun-<namespace>-<service>-<node>-<index>`: the engine's name for it.
    fn engine_name(&self) -> String {
        let part = |key: &str| self.identity.get(key).cloned().unwrap_or_default();
        engine_name(
            &part("KHUTULUN_NAMESPACE"),
            &part("KHUTULUN_SERVICE"),
            &self.node.name,
            self.index,
        )
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let part = |key: &str| self.identity.get(key).cloned().unwrap_or_default();
        BTreeMap::from([(
            INSTANCE_LABEL.to_owned(),
            format!(
                "{}/{}/{}/{}",
                part("KHUTULUN_NAMESPACE"),
                part("KHUTULUN_SERVICE"),
                self.node.name,
                self.index
            ),
        )])
    }

    /// This instance's reserved ports, by endpoint.
    fn reserved_ports(&self) -> BTreeMap<String, u16> {
        self.instances
            .iter()
            .find(|i| i.node == self.node.name && i.index == self.index)
            .map(|me| me.ports.clone().into_iter().collect())
            .unwrap_or_default()
    }

    /// Reserved host ports and the ports inside that they are published to.
    fn port_mappings(&self) -> Result<Vec<PortMapping>, String> {
        let runtime = InstanceAttributes {
            instances: self.instances,
        };
        let mut mappings = Vec::new();
        for (endpoint, host_port) in self.reserved_ports() {
            let inside = match self
                .node
                .capabilities
                .get(&endpoint)
                .and_then(|c| c.properties.get("container_port"))
            {
                Some(expr) => {
                    evaluate(self.graph, expr, &self.node.name, self.index, &runtime)?.as_u64()
                }
                None => None,
            };
            let container_port = match inside {
                Some(port) => u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                    format!(
                        "node \"{}\": container_port {port} of endpoint \"{endpoint}\" is not a port",
                        self.node.name
                    )
                })?,
                None => host_port,
            };
            mappings.push(PortMapping {
                endpoint,
                host_port,
                container_port,
            });
        }
        Ok(mappings)
    }

    /// The directories this node uses, mounted where its relationships say.
    fn mounts(&self) -> Result<Vec<Mount>, String> {
        let runtime = InstanceAttributes {
            instances: self.instances,
        };
        let mut mounts = Vec::new();
        for relationship in self.graph.requirements_of(&self.node.name) {
            if !relationship.is_a(profile::PROFILE_PREFIX, profile::USES_DIRECTORY) {
                continue;
            }
            let value = |name: &str| -> Result<Option<Value>, String> {
                match relationship.properties.get(name) {
                    Some(expr) => {
                        evaluate(self.graph, expr, &self.node.name, self.index, &runtime).map(Some)
                    }
                    None => Ok(None),
                }
            };
            let Some(source) = self
                .instances
                .iter()
                .filter(|i| i.node == relationship.target)
                .min_by_key(|i| i.index)
                .and_then(|i| i.delegate_handle().get("path"))
                .and_then(|p| p.as_str())
            else {
                if self.instances.is_empty() {
                    // A check before deploying: no directory exists yet.
                    continue;
                }
                return Err(format!(
                    "node \"{}\" uses directory \"{}\", which does not exist yet",
                    self.node.name, relationship.target
                ));
            };
            let target = string(value("mount_path")?)
                .unwrap_or_else(|| format!("/data/{}", relationship.target));
            if !target.starts_with('/') {
                return Err(format!(
                    "node \"{}\": mount_path \"{target}\" of its use of \"{}\" must be absolute",
                    self.node.name, relationship.target
                ));
            }
            mounts.push(Mount {
                source: source.into(),
                target,
                read_only: value("read_only")?
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            });
        }
        Ok(mounts)
    }

    /// Identity, relationships as the container sees them, its own ports, then the
    /// template's `environment`.
    fn environment(
        &self,
        host_alias: Option<&'static str>,
        mounts: &[Mount],
        ports: &[PortMapping],
        inside_ports: bool,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut view = ContainerView {
            host_alias,
            ..Default::default()
        };
        for relationship in self.graph.requirements_of(&self.node.name) {
            if let Some(mount) = mounts.iter().find(|m| {
                relationship.is_a(profile::PROFILE_PREFIX, profile::USES_DIRECTORY)
                    && self.instances.iter().any(|i| {
                        i.node == relationship.target
                            && i.delegate_handle().get("path").and_then(|p| p.as_str())
                                == m.source.to_str()
                    })
            }) {
                view.mount_paths
                    .insert(relationship.target.clone(), mount.target.clone());
            }
        }
        let mut env = self.identity.clone();
        env.extend(relationship_environment(
            self.graph,
            self.node,
            self.index,
            self.instances,
            Some(&view),
        )?);
        if inside_ports {
            // The workload listens on the port inside, not on the host's reservation.
            insert_inside_ports(&mut env, ports);
        }
        env.extend(self.map("environment")?);
        Ok(env)
    }

    fn container(&self, pod: Option<String>) -> Result<ContainerSpec, String> {
        let image_source = match self.string("image_archive")? {
            Some(archive) => ImageSource::Archive(self.paths.package_dir.join(archive)),
            None => ImageSource::Local,
        };
        let network = match self.string("network")?.as_deref() {
            Some("host") => Network::Host,
            _ => Network::Bridge,
        };
        let ports = match (network, &pod) {
            (Network::Bridge, None) => self.port_mappings()?,
            _ => Vec::new(),
        };
        let mounts = self.mounts()?;
        let host_alias = (network == Network::Bridge).then_some(HOST_ALIAS);
        let environment = self.environment(host_alias, &mounts, &ports, !ports.is_empty())?;
        Ok(ContainerSpec {
            name: self.engine_name(),
            image: self.required("image")?,
            image_source,
            entrypoint: self.list("entrypoint")?,
            command: self.list("command")?.unwrap_or_default(),
            environment,
            network,
            ports,
            mounts,
            labels: self.labels(),
            log_directory: self.paths.instance_dir.clone(),
            pod,
        })
    }
}

/// The workload of a Container, Pod or SystemContainer node instance.
pub fn build(
    graph: &ServiceGraph,
    node: &Node,
    index: u32,
    instances: &[InstanceRecord],
    paths: &InstancePaths,
    identity: &BTreeMap<String, String>,
    kind: DelegateKind,
) -> Result<Workload, String> {
    let subject = Subject {
        graph,
        node,
        index,
        instances,
        paths,
        identity,
    };
    let spec = if node.is_a(profile::PROFILE_PREFIX, profile::POD) {
        pod(&subject)?
    } else if node.is_a(profile::PROFILE_PREFIX, profile::SYSTEM_CONTAINER) {
        system_container(&subject)?
    } else {
        WorkloadSpec::Container(subject.container(None)?)
    };
    Ok(Workload {
        kind,
        spec,
        restart: subject.restart()?,
        stop_timeout: subject.stop_timeout()?,
        exposed: Vec::new(),
    })
}

fn pod(subject: &Subject) -> Result<WorkloadSpec, String> {
    let name = subject.engine_name();
    let ports = subject.port_mappings()?;
    let mut containers = Vec::new();
    for member in subject.graph.dependants_of(&subject.node.name) {
        if !member.is_a(profile::PROFILE_PREFIX, profile::MEMBER_OF) {
            continue;
        }
        let Some(node) = subject.graph.node(&member.source) else {
            continue;
        };
        let member_subject = Subject { node, ..*subject };
        let mut spec = member_subject.container(Some(name.clone()))?;
        // Members listen on the pod's ports.
        insert_inside_ports(&mut spec.environment, &ports);
        containers.push(spec);
    }
    if containers.is_empty() {
        return Err(format!(
            "pod \"{}\" has no members: give containers a `pod: {}` requirement",
            subject.node.name, subject.node.name
        ));
    }
    Ok(WorkloadSpec::Pod(PodSpec {
        name,
        ports,
        labels: subject.labels(),
        containers,
        log_directory: subject.paths.instance_dir.clone(),
    }))
}

/// `PORT` (for the endpoint named `endpoint`) and `<ENDPOINT>_PORT`: the ports inside.
fn insert_inside_ports(env: &mut BTreeMap<String, String>, ports: &[PortMapping]) {
    for port in ports {
        let name = crate::workload::env_name(&port.endpoint);
        env.insert(format!("{name}_PORT"), port.container_port.to_string());
        if port.endpoint == "endpoint" {
            env.insert("PORT".into(), port.container_port.to_string());
        }
    }
}

fn system_container(subject: &Subject) -> Result<WorkloadSpec, String> {
    let root_text = subject.required("root")?;
    let root_path = subject.paths.package_dir.join(&root_text);
    let is_tarball = [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|ext| root_text.ends_with(ext));
    let root = if is_tarball {
        RootSource::Tarball(root_path)
    } else {
        RootSource::Directory(root_path)
    };
    let mounts = subject.mounts()?;
    let mut environment = subject.environment(None, &mounts, &[], false)?;
    environment
        .entry("PATH".into())
        .or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    Ok(WorkloadSpec::SystemContainer(SystemContainerSpec {
        name: machine_name(&subject.engine_name()),
        root,
        command: subject.list("command")?.unwrap_or_default(),
        environment,
        mounts,
        state_directory: subject.paths.instance_dir.join("machine"),
        log_directory: subject.paths.instance_dir.clone(),
    }))
}

/// nspawn machine names are host names: at most 64 characters of letters, digits, `-`
/// and `.`.
fn machine_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_state::InstanceStatus;
    use std::path::PathBuf;

    const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    data: { type: Directory }
    app:
      type: Process
      properties: { command: app }
      capabilities:
        endpoint: { properties: { port: 0 } }
    web:
      type: Container
      properties:
        image: localhost/web:1
        image_archive: images/web.tar
        environment: { MODE: test }
      capabilities:
        endpoint: { properties: { port: 0, container_port: 8080 } }
      requirements:
        - connection: app
        - directory:
            node: data
            relationship: { type: UsesDirectory, properties: { mount_path: /srv, read_only: true } }
    db:
      type: Container
      properties: { image: localhost/db:1, network: host }
    pod: { type: Pod }
    member:
      type: Container
      properties: { image: localhost/m:1 }
      requirements:
        - pod: pod
    machine:
      type: SystemContainer
      properties: { root: rootfs.tar.gz, command: [ /bin/sh ] }
  policies:
    - docker: { type: Delegation, properties: { delegate: docker }, targets: [ db ] }
"#;

    fn graph() -> ServiceGraph {
        let template =
            khutulun_tosca::compile_text("s.yaml", TEMPLATE, &khutulun_profile::registry())
                .unwrap_or_else(|e| panic!("{e:?}"));
        khutulun_graph::instantiate(&template, &BTreeMap::new()).unwrap()
    }

    fn record(node: &str, ports: &[(&str, u16)], path: Option<&str>) -> InstanceRecord {
        InstanceRecord {
            namespace: "ns".into(),
            service: "svc".into(),
            node: node.into(),
            index: 0,
            revision: 1,
            host: "h".into(),
            epoch: 1,
            delegate: String::new(),
            state: InstanceStatus::Running,
            address: "127.0.0.1".into(),
            pid: None,
            pid_start_time: None,
            ports: ports.iter().map(|(e, p)| (e.to_string(), *p)).collect(),
            attributes: path
                .map(|p| BTreeMap::from([("path".to_owned(), Value::String(p.into()))]))
                .unwrap_or_default(),
            handle: BTreeMap::new(),
            exit_code: None,
            exit_signal: None,
            restarts: 0,
            message: None,
            cpu_millis: 0,
            memory_bytes: 0,
            placement: Vec::new(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn workload(graph: &ServiceGraph, node: &str, instances: &[InstanceRecord]) -> Workload {
        let node = graph.node(node).unwrap();
        let kind = DelegateKind::of(graph, node);
        let paths = InstancePaths {
            instance_dir: PathBuf::from("/var/lib/k/instances/ns/svc/x-0"),
            package_dir: PathBuf::from("/pkg"),
            default_volume: PathBuf::from("/v"),
            systemd_scope: None,
            cgroup: "h-0/ns/svc/x-0".into(),
        };
        let identity = BTreeMap::from([
            ("KHUTULUN_NAMESPACE".to_owned(), "ns".to_owned()),
            ("KHUTULUN_SERVICE".to_owned(), "svc".to_owned()),
        ]);
        build(graph, node, 0, instances, &paths, &identity, kind).unwrap()
    }

    #[test]
    fn a_bridged_container_publishes_its_reservation_and_mounts_its_directory() {
        let graph = graph();
        let instances = [
            record("data", &[], Some("/volumes/data")),
            record("app", &[("endpoint", 20001)], None),
            record("web", &[("endpoint", 20002)], None),
        ];
        let w = workload(&graph, "web", &instances);
        assert_eq!(w.kind, DelegateKind::Podman);
        let WorkloadSpec::Container(c) = w.spec else {
            panic!("{:?}", w.spec)
        };
        assert_eq!(c.name, "khutulun-ns-svc-web-0");
        assert_eq!(c.labels[INSTANCE_LABEL], "ns/svc/web/0");
        assert_eq!(
            c.image_source,
            ImageSource::Archive("/pkg/images/web.tar".into())
        );
        assert_eq!(
            c.ports,
            vec![PortMapping {
                endpoint: "endpoint".into(),
                host_port: 20002,
                container_port: 8080
            }]
        );
        assert_eq!(
            c.mounts,
            vec![Mount {
                source: "/volumes/data".into(),
                target: "/srv".into(),
                read_only: true
            }]
        );
        // The app listens on the host's loopback: podman's name for the host replaces it.
        assert_eq!(c.environment["APP_HOST"], "host.containers.internal");
        assert_eq!(c.environment["APP_PORT"], "20001");
        assert_eq!(c.environment["DATA_DIR"], "/srv");
        assert_eq!(c.environment["PORT"], "8080");
        assert_eq!(c.environment["MODE"], "test");
        assert!(
            !c.environment.contains_key("PATH"),
            "the host's PATH stays outside"
        );
    }

    #[test]
    fn delegation_members_and_system_containers() {
        let graph = graph();
        let db = workload(&graph, "db", &[record("db", &[("endpoint", 20003)], None)]);
        assert_eq!(db.kind, DelegateKind::Docker);
        let WorkloadSpec::Container(c) = db.spec else {
            panic!()
        };
        assert_eq!(c.network, Network::Host);
        assert!(c.ports.is_empty(), "host network publishes nothing");

        // The member is run by its pod, not on its own.
        assert_eq!(
            DelegateKind::of(&graph, graph.node("member").unwrap()),
            DelegateKind::None
        );
        let pod = workload(&graph, "pod", &[]);
        let WorkloadSpec::Pod(p) = pod.spec else {
            panic!()
        };
        assert_eq!(p.containers.len(), 1);
        assert_eq!(
            p.containers[0].pod.as_deref(),
            Some("khutulun-ns-svc-pod-0")
        );
        assert_eq!(p.containers[0].image, "localhost/m:1");

        let machine = workload(&graph, "machine", &[]);
        assert_eq!(machine.kind, DelegateKind::Nspawn);
        let WorkloadSpec::SystemContainer(m) = machine.spec else {
            panic!()
        };
        assert_eq!(m.root, RootSource::Tarball("/pkg/rootfs.tar.gz".into()));
        assert_eq!(m.command, vec!["/bin/sh".to_string()]);
    }

    #[test]
    fn machine_names_are_host_names() {
        assert_eq!(super::machine_name("khutulun-a_b-c"), "khutulun-a-b-c");
        assert_eq!(super::machine_name(&"x".repeat(80)).len(), 64);
    }
}
