//! The public input and output types of [`crate::place`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// CPU and memory, as requested by an instance or offered by a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

impl Resources {
    pub const ZERO: Resources = Resources {
        cpu_millis: 0,
        memory_bytes: 0,
    };

    pub fn saturating_add(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }

    pub fn saturating_sub(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
        }
    }

    pub fn is_zero(self) -> bool {
        self == Resources::ZERO
    }
}

/// One eligible live host as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub capacity: Resources,
    /// Resources already committed on the host by instances that are NOT part of this
    /// request (this includes the `fixed` instances of the request).
    pub committed: Resources,
    /// Instances already on the host that are NOT part of this request (for spread),
    /// like `committed` including the request's `fixed` instances.
    pub instances: u32,
}

/// A node instance: the node template's name and the instance's index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId {
    pub node: String,
    pub index: u32,
}

impl InstanceId {
    pub fn new(node: impl Into<String>, index: u32) -> Self {
        InstanceId {
            node: node.into(),
            index,
        }
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.node, self.index)
    }
}

/// An instance to place and what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRequest {
    pub id: InstanceId,
    #[serde(default)]
    pub resources: Resources,
}

/// What a policy demands of its target nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// Only on hosts whose name is in `hosts` (when not empty) and that carry every label
    /// in `labels`.
    Placement {
        #[serde(default)]
        hosts: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    /// Instances with the same index of the target nodes go to the same host (web-0 with
    /// cache-0, web-1 with cache-1; a node with fewer instances simply has none at that
    /// index).
    Colocation,
    /// All instances of all target nodes on pairwise different hosts (including instances
    /// of one node). strict: a placement that cannot honour it fails; not strict: minimise
    /// the number of violations.
    Separation { strict: bool },
}

/// A named rule over some node templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// Node names. Names without instances in the request are ignored.
    pub targets: Vec<String>,
    pub rule: Rule,
}

/// Everything to place in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The instances to place now.
    pub instances: Vec<InstanceRequest>,
    pub policies: Vec<Policy>,
    /// Instances of the same service that stay where they are (e.g. during failover only
    /// the lost ones are re-placed). They count for separation and colocation (an instance
    /// colocated with a fixed one must go to that host) and for spread, but are never
    /// moved. Their resources are already in the hosts' `committed`, and they are counted in
    /// the hosts' `instances`.
    #[serde(default)]
    pub fixed: Vec<(InstanceId, String)>,
}

/// Where one instance goes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: InstanceId,
    pub host: String,
    /// Why this host, in words, one line each.
    pub reasons: Vec<String>,
}

/// The result: one assignment per requested instance, in the order of
/// `Request::instances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub assignments: Vec<Assignment>,
}

/// Why nothing was placed. `message` is the whole sentence, meant for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementError {
    /// The policy that could not be met; several are joined by ", ". None for capacity and
    /// for malformed input.
    pub policy: Option<String>,
    /// The instance that could not be placed, when there is one.
    pub instance: Option<InstanceId>,
    pub message: String,
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PlacementError {}
