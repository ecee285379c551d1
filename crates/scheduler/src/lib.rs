//! Placement: which host each node instance goes to.
//!
//! [`place`] is a pure, deterministic function of a [`Request`] and the live hosts: no IO,
//! no randomness, and neither the order of `hosts` nor the order of `request.instances`
//! changes where anything goes (hosts are ranked by name, instances by id). Only the
//! order of the returned assignments follows `request.instances`.
//!
//! # Semantics
//!
//! - `hosts` are the eligible live hosts; the caller leaves out dead and draining ones.
//!   No hosts is an error ("no live host to place on"); so is a host name given twice.
//! - **Capacity**: on every host, `committed` + the requests placed on it ≤ `capacity`,
//!   per resource. A resource requested at 0 always fits, even on an over-committed host.
//! - **Placement** rules of all policies that target a node apply together (intersection).
//! - **Colocation** ties instances with the same index of its targets into one unit that
//!   goes to one host; a unit must satisfy the placement rules of all its members, and
//!   needs the sum of their resources. A unit with a fixed member must go to that member's
//!   host.
//! - **Separation**: strict separation is never violated. Preferred separation is
//!   minimised greedily, counting the pairs of target instances that end up on one host.
//! - **Spread**: among the hosts where a unit may go and fits, prefer, in order, fewer
//!   preferred-separation violations, fewer instances of the unit's nodes on the host,
//!   fewer instances in total (`HostState::instances` + those placed by this call), lower
//!   committed fraction (the larger of the CPU and memory shares), then the host name.
//! - **Fixed** instances are never moved. They count for separation, colocation and
//!   spread. Like everything else not being placed, they are already in their host's
//!   `committed` and `instances`; `place` only adds them to the per-node counts (which
//!   `HostState` does not carry). A fixed instance on a host that is not in `hosts`
//!   blocks nothing, but an instance colocated with it cannot be placed.
//! - Policy targets without instances in the request are ignored (the caller validates
//!   them).
//! - **Contradictions** are errors naming the policies: colocated members fixed on
//!   different hosts, colocation of two instances that a strict separation keeps apart.
//!   They are checked only for units that hold an instance to place, so an old
//!   inconsistency among fixed instances alone does not block a failover.
//! - An instance given twice (requested twice, or both requested and fixed) is an error.
//!
//! # Algorithm
//!
//! Colocation units by union-find; units ordered most constrained first (fewest eligible
//! hosts, then largest share of the cluster's capacity, then id); each unit goes greedily
//! to its best-scoring feasible host (no backtracking). Hosts that already hold instances
//! of a unit's nodes or separation sets are scored one by one; all others are ranked in an
//! ordered index, so a unit costs about O(log hosts + hosts it touches).
//!
//! # Errors
//!
//! A [`PlacementError`] names the policy that could not be met (`None` for capacity) and
//! the instance, and its message says what to do, e.g. `cannot place web-2: policy
//! "web-apart" (strict separation) needs a host without another instance of web; the 2
//! eligible hosts (a, b) already have one — add hosts or relax the policy`.

mod choose;
mod cluster;
mod error;
mod explain;
mod hostset;
mod instances;
mod load;
mod model;
mod place;
mod plan;
mod reasons;
mod rules;
mod text;
mod units;

pub use model::{
    Assignment, HostState, InstanceId, InstanceRequest, Placement, PlacementError, Policy, Request,
    Resources, Rule,
};
pub use place::place;
