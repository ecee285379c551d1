//! khutulun-profile: the Khutulun TOSCA profile, embedded at build time, and the names of its
//! types.
//!
//! Service templates import it with `imports: [ { profile: io.khutulun:0.1 } ]`. The graph
//! records, for every type, the profile that defined it, so the orchestrator recognises its
//! types with [`PROFILE_PREFIX`] and the type-name constants below however a template
//! namespaced the import.

use khutulun_tosca::ProfileRegistry;

/// The profile's name, as its file declares it (`profile: io.khutulun:0.1`).
pub const PROFILE_NAME: &str = "io.khutulun:0.1";

/// The prefix every version of the Khutulun profile's name starts with.
pub const PROFILE_PREFIX: &str = "io.khutulun";

/// The profile's TOSCA file.
pub const PROFILE_YAML: &str = include_str!("../../../profiles/khutulun/profile.yaml");

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

/// A registry holding the Khutulun profile under [`PROFILE_NAME`].
pub fn registry() -> ProfileRegistry {
    let mut registry = ProfileRegistry::new();
    register(&mut registry);
    registry
}

/// Adds the Khutulun profile to an existing registry.
pub fn register(registry: &mut ProfileRegistry) {
    registry.register_file(PROFILE_NAME, PROFILE_YAML);
}

#[cfg(test)]
mod tests;
