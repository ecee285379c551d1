//! khutulun-profile: the Khutulun TOSCA profile, embedded at build time, and the names of its
//! types.
//!
//! Service templates import it with `imports: [ { profile: io.khutulun:0.1 } ]`. The graph
//! records, for every type, the profile that defined it, so the orchestrator recognises its
//! types with [`PROFILE_PREFIX`] and the type-name constants below however a template
//! namespaced the import.
//!
//! It also bundles the TOSCA Simple Profile ([`SIMPLE_PROFILE_NAME`]), so that templates
//! written against the community simple profile validate and compile with khutulun.

use khutulun_tosca::ProfileRegistry;

/// The profile's name, as its file declares it (`profile: io.khutulun:0.1`).
pub const PROFILE_NAME: &str = "io.khutulun:0.1";

/// The prefix every version of the Khutulun profile's name starts with.
pub const PROFILE_PREFIX: &str = "io.khutulun";

/// The profile's TOSCA file.
pub const PROFILE_YAML: &str = include_str!("../../../profiles/khutulun/profile.yaml");

/// The name of the built-in TOSCA Simple Profile (`profile: org.oasis-open.tosca.simple:2.0`):
/// the normative types of TOSCA 1.x (Compute, SoftwareComponent, HostedOn, Endpoint, ...),
/// which TOSCA 2.0 moved out of the standard into a community-maintained profile (§6.7.2).
pub const SIMPLE_PROFILE_NAME: &str = "org.oasis-open.tosca.simple:2.0";

/// The TOSCA Simple Profile's file: its types in TOSCA 2.0 grammar, with short names.
/// Khutulun validates and compiles templates that use them; it runs only nodes of its own
/// profile's types, so nodes of these types are pure model to it.
pub const SIMPLE_PROFILE_YAML: &str = include_str!("../../../profiles/tosca-simple/profile.yaml");

/// Node type: a bare process supervised by the agent.
pub const PROCESS: &str = "Process";
/// Node type: a directory on the host's local filesystem.
pub const DIRECTORY: &str = "Directory";
/// Capability type: a TCP port a workload serves.
pub const TCP_ENDPOINT: &str = "TcpEndpoint";
/// Capability type: a local directory other nodes can use.
pub const DIRECTORY_STORAGE: &str = "DirectoryStorage";
/// Relationship type: a connection to a TCP endpoint.
pub const CONNECTS_TO: &str = "ConnectsTo";
/// Relationship type: use of a local directory.
pub const USES_DIRECTORY: &str = "UsesDirectory";
/// Node type: an OCI container (podman by default, docker through a Delegation policy).
pub const CONTAINER: &str = "Container";
/// Node type: a podman pod whose members are the containers with a MemberOf relationship.
pub const POD: &str = "Pod";
/// Node type: a systemd-nspawn system container.
pub const SYSTEM_CONTAINER: &str = "SystemContainer";
/// Relationship type: a container's membership of a pod.
pub const MEMBER_OF: &str = "MemberOf";
/// Policy: run the target containers with another delegate.
pub const DELEGATION: &str = "Delegation";
/// The root type of each kind (node, capability, relationship) in the profile.
pub const ROOT: &str = "Root";
/// Policy: run the targets only on hosts with these names or labels.
pub const PLACEMENT: &str = "Placement";
/// Policy: the number of instances of each target.
pub const REDUNDANCY: &str = "Redundancy";
/// Policy: instances of the targets with the same index share a host.
pub const COLOCATION: &str = "Colocation";
/// Policy: the targets' instances on different hosts.
pub const SEPARATION: &str = "Separation";
/// Policy: CPU and memory each instance of the targets needs.
pub const RESOURCES: &str = "Resources";

/// A registry holding the Khutulun profile under [`PROFILE_NAME`] and the TOSCA Simple Profile
/// under [`SIMPLE_PROFILE_NAME`].
pub fn registry() -> ProfileRegistry {
    let mut registry = ProfileRegistry::new();
    register(&mut registry);
    registry
}

/// Adds the built-in profiles to an existing registry: the Khutulun profile, whose types
/// Khutulun deploys, and the TOSCA Simple Profile, so that templates written against the
/// community simple profile (`imports: [ { profile: org.oasis-open.tosca.simple:2.0 } ]`)
/// validate and compile with khutulun instead of failing on an unknown profile.
pub fn register(registry: &mut ProfileRegistry) {
    registry.register_file(PROFILE_NAME, PROFILE_YAML);
    registry.register_file(SIMPLE_PROFILE_NAME, SIMPLE_PROFILE_YAML);
}

#[cfg(test)]
mod tests;
