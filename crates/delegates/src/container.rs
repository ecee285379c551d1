//! What the container delegates (podman, docker, systemd-nspawn) are asked to run. The agent
//! builds these from the graph; each delegate turns them into its tool's calls.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The label every container Khutulun creates carries, valued with its instance id
/// (`namespace/service/node/index`): how a restarted agent finds its containers again and
/// how `podman ps --filter label=...` tells them apart from anyone else's.
pub const INSTANCE_LABEL: &str = "io.khutulun.instance";

/// The name a bridged container reaches its host by: podman provides it, and the docker
/// delegate maps it to the bridge's gateway (`host-gateway`).
pub const HOST_ALIAS: &str = "host.containers.internal";

/// How a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The engine's default bridge; reserved host ports are published to container ports.
    #[default]
    Bridge,
    /// The host's network namespace: the workload listens on its reserved ports itself.
    Host,
}

/// A reserved host port published to a port inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The endpoint's name (for messages).
    pub endpoint: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// A host directory bind-mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// Where a container image comes from when it is not in the engine's local store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Only the local store (no registry is ever contacted).
    Local,
    /// An OCI or docker archive tarball (e.g. a CSAR artifact), loaded when the image is
    /// missing.
    Archive(PathBuf),
}

/// An OCI container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The container's name in the engine: unique per instance.
    pub name: String,
    /// The image reference, e.g. `localhost/web:1`.
    pub image: String,
    pub image_source: ImageSource,
    /// Replaces the image's entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command when non-empty.
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub network: Network,
    pub ports: Vec<PortMapping>,
    pub mounts: Vec<Mount>,
    /// Labels, [`INSTANCE_LABEL`] among them.
    pub labels: BTreeMap<String, String>,
    /// Where the container's output is written, as `stdout.log` and `stderr.log`.
    pub log_directory: PathBuf,
    /// The pod this container joins (podman only): set for the members of a [`PodSpec`].
    pub pod: Option<String>,
}

/// A podman pod: one network namespace, ports published once for all its containers.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSpec {
    /// The pod's name in podman: unique per instance.
    pub name: String,
    pub ports: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    /// The containers, started in order; their `pod` is this pod's name.
    pub containers: Vec<ContainerSpec>,
    pub log_directory: PathBuf,
}

/// A systemd-nspawn system container.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemContainerSpec {
    /// The machine name (`--machine`): unique per instance.
    pub name: String,
    /// Where the root filesystem comes from.
    pub root: RootSource,
    /// What to run inside: with an empty command the container boots its init (`--boot`).
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Host directories bound into the container (`--bind` / `--bind-ro`).
    pub mounts: Vec<Mount>,
    /// A private copy of a tarball's root is unpacked here (and removed on delete).
    pub state_directory: PathBuf,
    pub log_directory: PathBuf,
}

/// The root filesystem of a system container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// An existing directory, used in place (nspawn's `--directory`).
    Directory(PathBuf),
    /// A tarball unpacked into the instance's state directory on first start.
    Tarball(PathBuf),
}
